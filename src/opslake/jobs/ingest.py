"""Ingest: landing Parquet -> validated Iceberg telemetry tables, bad rows -> ``telemetry.rejects``.

Files are read and validated on the executors (``mapInArrow`` over the list of file URIs), so nothing is
collected on the driver and the same code reads ``file://`` and ``s3://`` landing zones. Each task gets
every file of its landing dates, so validation (types, ranges, keys, duplicates: first file and row
wins) sees a whole date at once and no row is shuffled; a key is unique within its landing date. Every
input row ends in exactly one of the target table or ``rejects``; an unreadable file is reported by
name (and recorded in ``rejects`` with ``row_number = -1``) while the other files still load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from opslake.exceptions import SourceFileError
from opslake.lake.landing import list_landing
from opslake.lake.storage import StorageOptions, open_uri
from opslake.lake.tables import spark_schema
from opslake.quality.validation import check_columns, validate
from opslake.telemetry.schemas import SOURCES, TS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from opslake.pipeline.context import StepContext

logger = logging.getLogger(__name__)

FILE_ERROR_ROW = -1
LISTING = pa.schema([("uri", pa.string()), ("dt", pa.string())])  # one row per landing file
_EXTRA = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("row_number", pa.int64()),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),
    ]
)


def staged_schema(source: str) -> pa.Schema:
    """Schema of the executor output: the source's columns (all nullable) + provenance + reject info."""
    schema, _keys, _ts = SOURCES[source]
    fields = [pa.field(f.name, f.type, nullable=True) for f in schema]
    return pa.schema(fields + list(_EXTRA))


def read_and_validate(
    files: Iterable[pa.RecordBatch], source: str, options: StorageOptions
) -> Iterator[pa.RecordBatch]:
    """Executor side: read a task's landing files, validate each landing date's files together.

    Files are taken in URI order whatever order the task received them in, so "first wins" for
    duplicate keys does not depend on partitioning. A file that cannot be read or lacks required
    columns becomes one ``file_error`` row naming it, and the task goes on with the other files.
    """
    target = staged_schema(source)
    listing: list[tuple[str, str]] = []
    for batch in files:
        listing += zip(batch.column("uri").to_pylist(), batch.column("dt").to_pylist(), strict=True)
    by_date: dict[str, list[str]] = {}
    for uri, dt in sorted(listing):
        by_date.setdefault(dt, []).append(uri)
    for dt in sorted(by_date):
        frames: list[pd.DataFrame] = []
        errors: list[dict[str, object]] = []
        for uri in by_date[dt]:
            try:
                fs, path = open_uri(uri, options)
                frame = pq.read_table(path, filesystem=fs).to_pandas()
                check_columns(frame, source, uri)
            except (OSError, pa.ArrowException, SourceFileError) as exc:
                logger.error("cannot ingest %s: %s", uri, exc)
                errors.append(
                    {"dt": dt, "source_file": uri, "row_number": FILE_ERROR_ROW,
                     "reason": f"file error: {exc}"}
                )  # fmt: skip
                continue
            frames.append(frame.assign(_file=uri, _row=np.arange(len(frame), dtype="int64")))
        if errors:
            yield _to_batch(pd.DataFrame(errors), target)
        if frames:
            yield _validate_date(frames, dt, source, target)


def _validate_date(
    frames: list[pd.DataFrame], dt: str, source: str, target: pa.Schema
) -> pa.RecordBatch:
    # One validation per date, so duplicates across files are found without a shuffle. Files of
    # differing column types (a CSV export beside typed Parquet) are validated as text together.
    if len({tuple(map(str, f.dtypes)) for f in frames}) > 1:
        frames = [f.astype(object) for f in frames]
    raw = pd.concat(frames, ignore_index=True)
    # A row cannot have been observed after the end of the date it landed in (plus validation's
    # tolerance): deterministic, unlike the wall clock at ingest time.
    now = pd.Timestamp(dt, tz="UTC") + pd.Timedelta(days=1)
    provenance = raw[["_file", "_row"]]
    result = validate(raw.drop(columns=["_file", "_row"]), source, "", now)
    where = provenance.loc[result.accepted.index]
    accepted = result.accepted.assign(
        dt=dt, source_file=where["_file"].to_numpy(), row_number=where["_row"].to_numpy()
    )
    origin = provenance.loc[result.rejects["row_number"].to_numpy()]
    rejects = result.rejects.drop(columns=["source"]).assign(
        dt=dt, source_file=origin["_file"].to_numpy(), row_number=origin["_row"].to_numpy()
    )
    return _to_batch(pd.concat([accepted, rejects], ignore_index=True), target)


def _to_batch(frame: pd.DataFrame, target: pa.Schema) -> pa.RecordBatch:
    frame = frame.reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    for field in target:
        values = (
            frame[field.name] if field.name in frame.columns else pd.Series(None, index=frame.index)
        )
        if field.type == TS:
            values = pd.to_datetime(values, utc=True).dt.floor("us")
        elif pa.types.is_integer(field.type):
            values = values.astype("Int64")
        out[field.name] = values
    table = pa.Table.from_pandas(out, schema=target, preserve_index=False).combine_chunks()
    batches = table.to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=target)


def stage(ctx: StepContext, source: str) -> DataFrame:
    """Every landing row of ``source`` on the run's dates, validated: accepted rows have no reason."""
    options = StorageOptions.from_settings(ctx.settings)
    files = list_landing(ctx.settings.raw_root, source, options, list(ctx.dates))
    logger.info("%s: %d landing files", source, len(files))
    spark = ctx.spark
    # Only file names are shuffled: each task gets whole landing dates.
    n_tasks = max(
        1,
        min(
            len({f.dt for f in files}),
            ctx.settings.spark_input_partitions or 2 * spark.sparkContext.defaultParallelism,
        ),
    )
    listing = spark.createDataFrame(
        [(f.uri, f.dt) for f in files], spark_schema(LISTING)
    ).repartition(n_tasks, "dt")

    def run_partition(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return read_and_validate(batches, source, options)

    return listing.mapInArrow(run_partition, spark_schema(staged_schema(source)))


def compute(ctx: StepContext) -> dict[str, DataFrame]:
    """Accepted rows per telemetry table, and every other row (all sources) for ``rejects``."""
    from functools import reduce

    from pyspark.sql import functions as F

    outputs: dict[str, DataFrame] = {}
    rejects: list[DataFrame] = []
    for source in SOURCES:
        staged = ctx.scratch[source] = (
            stage(ctx, source).withColumn("dt", F.col("dt").cast("date")).persist()
        )
        outputs[f"telemetry.{source}"] = staged.where(F.col("reason").isNull())
        rejects.append(
            staged.where(F.col("reason").isNotNull()).select(
                F.lit(source).alias("source"), "source_file", "row_number", "reason", "raw", "dt"
            )
        )
    outputs["telemetry.rejects"] = reduce(lambda a, b: a.unionByName(b), rejects)
    return outputs


def summarize(ctx: StepContext) -> dict[str, Any]:
    """Rows in (every staged row) = accepted (in the table) + rejected (in ``rejects``), per source.

    Raises ``SourceFileError`` naming every landing file that could not be read (after the readable
    ones were loaded).
    """
    from pyspark.sql import functions as F

    in_dates = F.col("dt").isin([F.lit(d).cast("date") for d in ctx.dates])
    rejects = ctx.spark.table(ctx.name("telemetry.rejects")).where(in_dates)
    rejected = {
        str(r["source"]): int(r["count"]) for r in rejects.groupBy("source").count().collect()
    }
    sources: dict[str, dict[str, int]] = {}
    rows_written: dict[str, int] = {}
    for source in SOURCES:
        table = ctx.name(f"telemetry.{source}")
        accepted = ctx.spark.table(table).where(in_dates).count()
        rows_in = ctx.scratch[source].count()
        sources[source] = {
            "rows_in": rows_in, "accepted": accepted, "rejected": rejected.get(source, 0)
        }  # fmt: skip
        rows_written[table] = accepted
    rows_written[ctx.name("telemetry.rejects")] = sum(rejected.values())
    errors = [
        f"{r['reason']} ({r['source_file']})"
        for r in rejects.where(F.col("row_number") == FILE_ERROR_ROW)
        .orderBy("source_file")
        .collect()
    ]
    if errors:
        raise SourceFileError(
            ", ".join(errors), f"{len(errors)} landing file(s) could not be ingested"
        )
    return {"sources": sources, "rows_written": rows_written, "dates": list(ctx.dates)}
