"""Land an external export (a "drop") as the batch of one data interval, instead of the generator.

A drop is a folder (local or ``s3://``) holding, per source, ``<source>.csv`` (a CSV export, read as
text), ``<source>.parquet``, or for node metrics ``node_metrics.prom.json`` (a saved Prometheus
``query_range`` answer). Rows land as the source sent them, untyped and unfiltered, under the interval's
date and hour: judging them is the quality gate's and the row-level validation's job, and the batch id
makes a re-run overwrite its own files.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import TYPE_CHECKING

from opslake.config import Settings
from opslake.exceptions import SourceFileError
from opslake.jobs.common import JobResult

if TYPE_CHECKING:
    import pandas as pd

PROMETHEUS_SUFFIX = ".prom.json"
SUFFIXES = (".csv", ".parquet", PROMETHEUS_SUFFIX)  # per source, the first one found is the export


def _read(data: bytes, name: str, source: str) -> pd.DataFrame:
    import pandas as pd
    import pyarrow.parquet as pq

    from opslake.telemetry.loaders import parse_prometheus_range

    try:
        if name.endswith(".csv"):
            return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
        if name.endswith(".parquet"):
            frame: pd.DataFrame = pq.read_table(io.BytesIO(data)).to_pandas()
            return frame
        return parse_prometheus_range(json.loads(data), source=name)
    except (ValueError, OSError) as exc:  # pandas, pyarrow and json errors are ValueErrors
        raise SourceFileError(name, f"cannot read the {source} export: {exc}") from exc


def land_drop(settings: Settings, start: dt.datetime, end: dt.datetime, drop: str) -> JobResult:
    """Land every source file found in the folder ``drop`` as the batch of ``[start, end)``.

    Raises:
        SourceFileError: the drop holds no known source file, or a file cannot be parsed.
    """
    import pandas as pd
    import pyarrow.fs as pafs

    from opslake.lake.landing import write_landing
    from opslake.lake.storage import StorageOptions, join, open_uri
    from opslake.orchestration.landing import batch_id
    from opslake.telemetry.schemas import SOURCES

    options = StorageOptions.from_settings(settings)
    fs, _ = open_uri(drop, options)
    start = start.astimezone(dt.UTC)
    batch, day = batch_id(start, end), start.date().isoformat()
    result = JobResult(job="land")
    for source in SOURCES:
        for suffix in SUFFIXES:
            uri = join(drop, source + suffix)
            _, path = open_uri(uri, options)
            if fs.get_file_info(path).type != pafs.FileType.File:
                continue
            with fs.open_input_stream(path) as stream:
                frame = _read(stream.read(), uri, source)
            files = write_landing(frame, source, settings.raw_root, options, batch, day,
                                  arrived_at=pd.Timestamp(start))  # fmt: skip
            result.rows_written[source] = len(frame)
            result.metrics[f"{source}_files"] = len(files)
            break
    if not result.rows_written:
        known = ", ".join(f"{s}.csv" for s in SOURCES)
        raise SourceFileError(drop, f"no source file in the drop (expected one of {known}, ...)")
    result.metrics["interval"] = f"{start.isoformat()}/{end.astimezone(dt.UTC).isoformat()}"
    return result
