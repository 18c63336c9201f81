"""Ingest: landing Parquet -> validated Iceberg telemetry tables, bad rows -> ``telemetry.rejects``.

Files are read and validated on the executors (``mapInArrow`` over the list of file URIs), so nothing is
collected on the driver and the same code reads ``file://`` and ``s3://`` landing zones. Every input row
ends in exactly one of the target table or ``rejects``; an unreadable file is reported by name (and
recorded in ``rejects`` with ``row_number = -1``) while the other files still load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from opslake.config import Settings
from opslake.exceptions import SourceFileError
from opslake.jobs.common import JobResult, telemetry_table
from opslake.lake.landing import list_landing
from opslake.lake.storage import StorageOptions, open_uri
from opslake.lake.tables import ensure_table, replace_all, replace_dates
from opslake.quality.validation import check_columns, validate
from opslake.telemetry.schemas import REJECTS, SOURCES, TS, spark_ddl

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

FILE_ERROR_ROW = -1
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
    files: Iterable[pa.RecordBatch], source: str, options: StorageOptions, now: pd.Timestamp
) -> Iterator[pa.RecordBatch]:
    """Executor side: read a task's landing files, validate them together, yield every row.

    Validation runs once per task over all its files (its cost is mostly per call, not per row);
    each output row keeps its file and row number. A file that cannot be read or lacks required
    columns becomes one ``file_error`` row naming it, and the task goes on with the other files.
    """
    target = staged_schema(source)
    for batch in files:
        frames: list[pd.DataFrame] = []
        errors: list[dict[str, object]] = []
        uris = batch.column("uri").to_pylist()
        for uri, dt in zip(uris, batch.column("dt").to_pylist(), strict=True):
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
            frames.append(
                frame.assign(_file=uri, _dt=dt, _row=np.arange(len(frame), dtype="int64"))
            )
        if errors:
            yield _to_batch(pd.DataFrame(errors), target)
        # Files with the same column types are validated together; a text file (e.g. a CSV export)
        # must not turn every typed column of its neighbours into slow object columns.
        by_dtypes: dict[tuple[str, ...], list[pd.DataFrame]] = {}
        for frame in frames:
            by_dtypes.setdefault(tuple(map(str, frame.dtypes)), []).append(frame)
        for group in by_dtypes.values():
            yield _validate_together(pd.concat(group, ignore_index=True), source, now, target)


def _validate_together(
    raw: pd.DataFrame, source: str, now: pd.Timestamp, target: pa.Schema
) -> pa.RecordBatch:
    provenance = raw[["_file", "_dt", "_row"]]
    result = validate(raw.drop(columns=list(provenance.columns)), source, "", now)
    where = provenance.loc[result.accepted.index]
    accepted = result.accepted.assign(
        dt=where["_dt"].to_numpy(),
        source_file=where["_file"].to_numpy(),
        row_number=where["_row"].to_numpy(),
    )
    origin = provenance.loc[result.rejects["row_number"].to_numpy()]
    rejects = result.rejects.drop(columns=["source"]).assign(
        dt=origin["_dt"].to_numpy(),
        source_file=origin["_file"].to_numpy(),
        row_number=origin["_row"].to_numpy(),
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


def stage(
    spark: SparkSession, settings: Settings, source: str, dates: Sequence[str] | None
) -> tuple[DataFrame, list[str]]:
    """DataFrame of every landing row of ``source`` after validation, and the dates it covers."""
    options = StorageOptions.from_settings(settings)
    files = list_landing(settings.raw_root, source, options, list(dates) if dates else None)
    covered = sorted({f.dt for f in files})
    logger.info("%s: %d landing files over %d dates", source, len(files), len(covered))
    # Spread the file list over tasks directly (no shuffle): each task reads its own files.
    slices = max(1, min(len(files), spark.sparkContext.defaultParallelism * 2))
    listing = spark.createDataFrame(
        spark.sparkContext.parallelize([(f.uri, f.dt) for f in files], slices),
        schema="uri STRING, dt STRING",
    )
    now = pd.Timestamp.now(tz="UTC")
    schema = staged_schema(source)

    def run_partition(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return read_and_validate(batches, source, options, now)

    return listing.mapInArrow(run_partition, spark_ddl(schema)), covered


def classify(staged: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Add ``outcome``: ``accepted``, ``duplicate`` (valid row whose key an earlier file already had),
    ``rejected`` (failed validation) or ``file_error`` (unreadable file)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    is_valid = F.col("reason").isNull()
    first_wins = Window.partitionBy(is_valid, *keys).orderBy("source_file", "row_number")
    rank = F.row_number().over(first_wins)
    outcome = (
        F.when(F.col("row_number") == FILE_ERROR_ROW, "file_error")
        .when(~is_valid, "rejected")
        .when(rank == 1, "accepted")
        .otherwise("duplicate")
    )
    return staged.withColumn("outcome", outcome)


def ingest_source(
    spark: SparkSession,
    settings: Settings,
    source: str,
    dates: Sequence[str] | None,
    rejects_lock: AbstractContextManager[object] | None = None,
) -> JobResult:
    """Ingest one source; returns rows accepted/rejected and any unreadable files.

    ``rejects_lock`` serialises commits to the shared ``rejects`` table when sources run concurrently
    (Iceberg would retry conflicting commits anyway; the lock avoids the wasted work).
    """
    from pyspark.sql import functions as F

    schema, keys, ts_column = SOURCES[source]
    staged, covered = stage(spark, settings, source, dates)
    result = JobResult(job=f"ingest.{source}")
    if not covered:
        logger.warning("no landing files for %s", source)
        return result
    table = telemetry_table(settings, source)
    rejects_table = telemetry_table(settings, "rejects")
    ensure_table(spark, table, schema, ("dt",) if ts_column else ())
    ensure_table(spark, rejects_table, REJECTS, ("source", "dt"))
    classified = classify(staged, keys).withColumn("dt", F.col("dt").cast("date")).persist()
    try:
        accepted = classified.where(F.col("outcome") == "accepted")
        if ts_column:
            replace_dates(accepted, table, covered)
        else:
            replace_all(accepted, table)
        duplicate_reason = f"duplicate key {','.join(keys)} (already in another file)"
        raw_json = F.to_json(F.struct(*[c for c in staged.columns if c not in _EXTRA.names]))
        rejects = classified.where(F.col("outcome") != "accepted").select(
            F.lit(source).alias("source"),
            "dt",
            "source_file",
            "row_number",
            F.when(F.col("outcome") == "duplicate", F.lit(duplicate_reason))
            .otherwise(F.col("reason"))
            .alias("reason"),
            F.when(F.col("outcome") == "duplicate", raw_json).otherwise(F.col("raw")).alias("raw"),
        )
        with rejects_lock or nullcontext():
            _replace_rejects(rejects, rejects_table, source, covered)
        counts = {
            str(r["outcome"]): int(r["count"])
            for r in classified.groupBy("outcome").count().collect()
        }
        file_errors = []
        if counts.get("file_error"):
            file_errors = [
                f"{r['reason']} ({r['source_file']})"
                for r in classified.where(F.col("outcome") == "file_error").collect()
            ]
    finally:
        classified.unpersist()
    accepted_n = counts.get("accepted", 0)
    rejected_n = counts.get("rejected", 0) + counts.get("duplicate", 0)
    result.rows_written = {table: accepted_n}
    result.metrics = {
        "rows_in": accepted_n + rejected_n,
        "accepted": accepted_n,
        "rejected": rejected_n,
        "dates": covered,
    }
    result.errors = file_errors
    return result


def _replace_rejects(rejects: DataFrame, table: str, source: str, dates: Sequence[str]) -> None:
    from pyspark.sql import functions as F

    columns = rejects.sparkSession.table(table).columns
    condition = (F.col("source") == source) & F.col("dt").isin(
        [F.lit(d).cast("date") for d in dates]
    )
    rejects.select(*columns).writeTo(table).overwrite(condition)


def run(
    spark: SparkSession, settings: Settings, dates: Sequence[str] | None = None
) -> list[JobResult]:
    """Ingest every telemetry source. Raises ``SourceFileError`` after loading the readable files if
    any file could not be read, naming each such file.

    Sources are independent (own tables, own partitions of ``rejects``), so they are submitted as
    concurrent Spark jobs: most of a small source's time is scheduling and commit latency.
    """
    # Shared tables are created up front so concurrent jobs never race to create them.
    ensure_table(spark, telemetry_table(settings, "rejects"), REJECTS, ("source", "dt"))
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=len(SOURCES)) as pool:
        futures = [pool.submit(ingest_source, spark, settings, s, dates, lock) for s in SOURCES]
        results = [f.result() for f in futures]
    errors = [e for r in results for e in r.errors]
    if errors:
        raise SourceFileError(
            ", ".join(errors), f"{len(errors)} landing file(s) could not be ingested"
        )
    return results
