"""Iceberg table I/O for declared tables: create from the spec, conform a DataFrame to it, replace dates.

Every job writes with ``overwrite(dt IN dates)``: one Iceberg commit that swaps those dates' data, so a
re-run replaces instead of duplicating and a killed job leaves the previous snapshot intact.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from opslake.exceptions import SchemaMismatchError
from opslake.pipeline.tables import TableSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

logger = logging.getLogger(__name__)

TABLE_PROPERTIES = {"format-version": "2", "write.parquet.compression-codec": "zstd"}


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark schema of an Arrow schema (tables and the intermediate frames of the jobs)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def struct_of(spec: TableSpec) -> StructType:
    """The Spark schema of a table, derived from its Arrow schema."""
    return spark_schema(spec.schema)


def conform(frame: DataFrame, spec: TableSpec) -> DataFrame:
    """The schema contract: exactly the table's columns, in order, cast to its types."""
    from pyspark.sql import functions as F

    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        raise SchemaMismatchError(f"{spec.key}: the job did not produce columns {missing}")
    return frame.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in struct_of(spec)])


def ensure_table(spark: SparkSession, name: str, spec: TableSpec) -> None:
    """Create ``name`` from ``spec`` if missing; an existing table must have the declared columns."""
    from pyspark.sql import functions as F

    if spark.catalog.tableExists(name):
        found = spark.table(name).columns
        if found != spec.columns:
            raise SchemaMismatchError(
                f"{name} has columns {found}, this version of opslake writes {spec.columns}: "
                "drop the table (or `make clean` for the embedded lake) and re-run"
            )
        return
    writer = (
        spark.createDataFrame([], struct_of(spec))
        .writeTo(name)
        .using("iceberg")
        .partitionedBy(*[F.col(c) for c in spec.partition_by])
    )
    properties = {
        **TABLE_PROPERTIES,
        "write.distribution-mode": spec.write_distribution,
        "write.spark.fanout.enabled": "true",
    }
    for key, value in properties.items():
        writer = writer.tableProperty(key, value)
    try:
        writer.create()
    except Exception as exc:  # another writer created it between the check and now
        if "already exists" not in str(exc).lower():
            raise


def dates_condition(dates: Sequence[str], sources: Sequence[str] = ()) -> Column:
    """``dt IN dates`` (and ``source IN sources`` when given): the rows a run replaces."""
    from pyspark.sql import functions as F

    condition = F.col("dt").isin([F.lit(d).cast("date") for d in dates])
    return condition & F.col("source").isin(list(sources)) if sources else condition


def replace_dates(
    frame: DataFrame, name: str, spec: TableSpec, dates: Sequence[str], sources: Sequence[str] = ()
) -> None:
    """Atomically replace the rows of ``dates`` (of ``sources`` only, if given) in ``name``.

    No dates means nothing to replace: it never widens to the whole table.
    """
    if not dates:
        logger.warning("%s: no dates given, nothing written", name)
        return
    ensure_table(frame.sparkSession, name, spec)
    conform(frame, spec).writeTo(name).overwrite(dates_condition(dates, sources))


def replace_partitions(frame: DataFrame, name: str, spec: TableSpec) -> None:
    """Atomically replace the partitions ``frame`` has rows in (tables not keyed by date)."""
    ensure_table(frame.sparkSession, name, spec)
    conform(frame, spec).writeTo(name).overwritePartitions()
