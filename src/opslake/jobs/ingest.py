"""Ingest: landing Parquet -> validated Iceberg telemetry tables, bad rows -> ``telemetry.rejects``.

Files are read and validated on the executors (``mapInArrow`` over the list of file URIs), so nothing is
collected on the driver and the same code reads ``file://`` and ``s3://`` landing zones. Every input row
ends in exactly one of the target table or ``rejects``; an unreadable file is reported by name (and
recorded in ``rejects`` with ``row_number = -1``) while the other files still load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from opslake.config import Settings
from opslake.exceptions import SourceFileError
from opslake.jobs.common import JobResult, telemetry_table
from opslake.lake.landing import list_landing
from opslake.lake.storage import StorageOptions, open_uri
from opslake.lake.tables import ensure_table, replace_all, replace_dates
from opslake.quality import validate
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
    """Executor side: read each landing file, validate it, yield accepted and rejected rows."""
    target = staged_schema(source)
    for batch in files:
        for uri, dt in zip(
            batch.column("uri").to_pylist(), batch.column("dt").to_pylist(), strict=True
        ):
            yield _process_file(uri, dt, source, options, now, target)


def _process_file(
    uri: str,
    dt: str,
    source: str,
    options: StorageOptions,
    now: pd.Timestamp,
    target: pa.Schema,
) -> pa.RecordBatch:
    try:
        fs, path = open_uri(uri, options)
        raw = pq.read_table(path, filesystem=fs).to_pandas()
        result = validate(raw, source, uri, now)
    except (OSError, pa.ArrowException, SourceFileError) as exc:
        logger.error("cannot ingest %s: %s", uri, exc)
        error = pd.DataFrame(
            {"source_file": [uri], "row_number": [FILE_ERROR_ROW], "reason": [f"file error: {exc}"]}
        )
        return _to_batch(error.assign(dt=dt), target)
    accepted = result.accepted.assign(dt=dt, source_file=uri, row_number=-2)
    accepted["row_number"] = accepted.index.astype("int64")
    rejects = result.rejects.drop(columns=["source"]).assign(dt=dt)
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
    listing = spark.createDataFrame(
        [(f.uri, f.dt) for f in files], schema="uri STRING, dt STRING"
    ).repartition(max(1, min(len(files), settings.spark_shuffle_partitions * 4)))
    now = pd.Timestamp.now(tz="UTC")
    schema = staged_schema(source)

    def run_partition(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return read_and_validate(batches, source, options, now)

    return listing.mapInArrow(run_partition, spark_ddl(schema)), covered


def split_duplicates(staged: DataFrame, keys: Sequence[str]) -> tuple[DataFrame, DataFrame]:
    """Accepted rows unique on ``keys`` across files, and the cross-file duplicates as rejects."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    accepted = staged.where(F.col("reason").isNull())
    first_wins = Window.partitionBy(*keys).orderBy("source_file", "row_number")
    ranked = accepted.withColumn("_rank", F.row_number().over(first_wins))
    unique = ranked.where(F.col("_rank") == 1).drop("_rank")
    duplicates = ranked.where(F.col("_rank") > 1).select(
        "dt",
        "source_file",
        "row_number",
        F.lit(f"duplicate key {','.join(keys)} (already in another file)").alias("reason"),
        F.to_json(F.struct(*[c for c in staged.columns if c not in _EXTRA.names])).alias("raw"),
    )
    return unique, duplicates


def ingest_source(
    spark: SparkSession, settings: Settings, source: str, dates: Sequence[str] | None
) -> JobResult:
    """Ingest one source; returns rows accepted/rejected and any unreadable files."""
    from pyspark.sql import functions as F

    schema, keys, _ts = SOURCES[source]
    staged, covered = stage(spark, settings, source, dates)
    result = JobResult(job=f"ingest.{source}")
    if not covered:
        logger.warning("no landing files for %s", source)
        return result
    staged = staged.persist()
    try:
        unique, duplicates = split_duplicates(staged, keys)
        row_rejects = staged.where(F.col("reason").isNotNull()).select(
            "dt", "source_file", "row_number", "reason", "raw"
        )
        rejects = row_rejects.unionByName(duplicates).withColumn("source", F.lit(source))
        table = telemetry_table(settings, source)
        rejects_table = telemetry_table(settings, "rejects")
        partitioned = bool(SOURCES[source][2])
        ensure_table(spark, table, schema, ("dt",) if partitioned else ())
        ensure_table(spark, rejects_table, REJECTS)
        typed = unique.withColumn("dt", F.col("dt").cast("date"))
        if partitioned:
            replace_dates(typed, table, covered)
        else:
            replace_all(typed, table)
        _replace_rejects(
            rejects.withColumn("dt", F.col("dt").cast("date")), rejects_table, source, covered
        )
        counts = staged.groupBy(F.col("reason").isNull().alias("ok")).count().collect()
        by_ok = {bool(r["ok"]): int(r["count"]) for r in counts}
        file_errors = [
            r["reason"] + f" ({r['source_file']})"
            for r in staged.where(F.col("row_number") == FILE_ERROR_ROW).collect()
        ]
        n_dup = duplicates.count()
    finally:
        staged.unpersist()
    result.rows_written = {table: by_ok.get(True, 0) - n_dup}
    result.metrics = {
        "rows_in": by_ok.get(True, 0) + by_ok.get(False, 0) - len(file_errors),
        "accepted": by_ok.get(True, 0) - n_dup,
        "rejected": by_ok.get(False, 0) - len(file_errors) + n_dup,
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
    any file could not be read, naming each such file."""
    results = [ingest_source(spark, settings, source, dates) for source in SOURCES]
    errors = [e for r in results for e in r.errors]
    if errors:
        raise SourceFileError(
            ", ".join(errors), f"{len(errors)} landing file(s) could not be ingested"
        )
    return results
