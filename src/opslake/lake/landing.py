"""The landing zone: immutable, partitioned Parquet under ``<raw>/telemetry/<source>/dt=…/hour=…/``.

Files are named after the batch that produced them, so landing the same batch twice overwrites the same
files instead of duplicating them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from opslake.lake.storage import StorageOptions, join, open_uri, to_uri
from opslake.telemetry.schemas import SOURCES

logger = logging.getLogger(__name__)

PARTITION_RE = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


@dataclass(frozen=True)
class LandedFile:
    """One landing file and the logical partition it belongs to."""

    uri: str
    source: str
    dt: str
    hour: int


def landing_root(raw_uri: str, source: str) -> str:
    return join(raw_uri, "telemetry", source)


def write_landing(
    frame: pd.DataFrame,
    source: str,
    raw_uri: str,
    options: StorageOptions,
    batch_id: str,
    logical_date: str | None = None,
    arrived_at: pd.Timestamp | None = None,
) -> list[LandedFile]:
    """Write ``frame`` as Parquet files partitioned by the event hour of the source's timestamp.

    Sources without a timestamp (node pools) land as a snapshot under ``logical_date``/hour=00.
    Untrusted external batches pass ``arrived_at``: they land whole in the arrival hour, because their
    timestamps may be missing, malformed or in the future (validation deals with that, not landing).
    """
    _schema, _keys, ts_column = SOURCES[source]
    fs, _ = open_uri(raw_uri, options)
    root = landing_root(raw_uri, source)
    groups: list[tuple[tuple[str, int], pd.DataFrame]]
    if arrived_at is not None:
        groups = [((arrived_at.strftime("%Y-%m-%d"), arrived_at.hour), frame)]
    elif ts_column:
        stamps = pd.to_datetime(frame[ts_column], utc=True)
        grouped = frame.groupby([stamps.dt.strftime("%Y-%m-%d"), stamps.dt.hour], sort=True)
        groups = [((str(k[0]), int(str(k[1]))), part) for k, part in grouped]
    else:
        if logical_date is None:
            raise ValueError(f"{source} has no timestamp column: pass logical_date")
        groups = [((logical_date, 0), frame)]
    landed = []
    for (dt, hour), part in groups:
        uri = join(root, f"dt={dt}", f"hour={int(hour):02d}", f"part-{batch_id}.parquet")
        _, path = open_uri(uri, options)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
        # Microsecond timestamps: what Spark, Trino and Iceberg read (pandas would write nanos).
        pq.write_table(
            table, path, filesystem=fs, compression="zstd", coerce_timestamps="us",
            allow_truncated_timestamps=False,
        )  # fmt: skip
        landed.append(LandedFile(uri=uri, source=source, dt=str(dt), hour=int(hour)))
    logger.info("landed %d rows of %s in %d files", len(frame), source, len(landed))
    return landed


def list_landing(
    raw_uri: str, source: str, options: StorageOptions, dates: list[str] | None = None
) -> list[LandedFile]:
    """Every landing file of ``source`` (optionally only the given ``dt`` partitions), sorted."""
    root = landing_root(raw_uri, source)
    fs, root_path = open_uri(root, options)
    info = fs.get_file_info(root_path)
    if info.type == pafs.FileType.NotFound:
        return []
    found = []
    for entry in fs.get_file_info(pafs.FileSelector(root_path, recursive=True)):
        if entry.type != pafs.FileType.File or not entry.path.endswith(".parquet"):
            continue
        match = PARTITION_RE.search(entry.path)
        if not match or (dates is not None and match.group(1) not in dates):
            continue
        found.append(
            LandedFile(
                uri=to_uri(root, entry.path),
                source=source,
                dt=match.group(1),
                hour=int(match.group(2)),
            )
        )
    return sorted(found, key=lambda f: f.uri)
