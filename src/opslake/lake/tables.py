"""Iceberg table helpers: create from an Arrow schema, and replace whole logical dates atomically.

Every job writes with ``overwrite(dt IN dates)``: one Iceberg commit that swaps the date's data, so a
re-run replaces instead of duplicating and a killed job leaves the previous snapshot intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from opslake.telemetry.schemas import spark_ddl

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Writers fan out to partitions instead of shuffling rows by partition first: our writes are a few
# dates x a few tasks, so the shuffle costs more than the extra small files it would save.
TABLE_PROPERTIES = (
    "'format-version'='2', 'write.parquet.compression-codec'='zstd', "
    "'write.distribution-mode'='none', 'write.spark.fanout.enabled'='true'"
)


def ensure_table(
    spark: SparkSession, table: str, schema: pa.Schema, partition_by: Sequence[str] = ("dt",)
) -> None:
    """Create ``table`` from an Arrow schema if missing. ``dt DATE`` is appended when partitioning by it."""
    columns = spark_ddl(schema)
    if "dt" in partition_by and "dt" not in schema.names:
        columns += ", dt DATE"
    ensure_table_ddl(spark, table, columns, partition_by)


def ensure_table_ddl(
    spark: SparkSession, table: str, columns: str, partition_by: Sequence[str] = ("dt",)
) -> None:
    """Create ``table`` with Spark DDL ``columns`` (``"a INT, b STRING"``) if it does not exist."""
    partition = f"PARTITIONED BY ({', '.join(partition_by)})" if partition_by else ""
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {table} ({columns}) USING iceberg {partition} "
        f"TBLPROPERTIES ({TABLE_PROPERTIES})"
    )


def replace_dates(frame: DataFrame, table: str, dates: Sequence[str]) -> None:
    """Atomically replace the rows of ``dates`` in ``table`` with ``frame`` (columns in table order)."""
    from pyspark.sql import functions as F

    spark = frame.sparkSession
    columns = spark.table(table).columns
    condition = F.col("dt").isin([F.lit(d).cast("date") for d in dates]) if dates else F.lit(True)
    frame.select(*columns).writeTo(table).overwrite(condition)


def replace_all(frame: DataFrame, table: str) -> None:
    """Atomically replace every row of ``table`` (for snapshot dimensions like node pools)."""
    from pyspark.sql import functions as F

    columns = frame.sparkSession.table(table).columns
    frame.select(*columns).writeTo(table).overwrite(F.lit(True))
