"""Carbon job: CCF energy and emissions per node-interval (``mapInArrow``), aggregated per node-hour
and per provider/region/day, plus time- and location-shift recommendations for placed workloads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from opslake.carbon import location_shift, time_shift, top_recommendations, usage_to_emissions
from opslake.carbon.coefficients import embodied_table
from opslake.carbon.vectorized import emissions_output_schema
from opslake.config import Settings
from opslake.jobs.common import JobResult, analytics_table, telemetry_table
from opslake.lake.tables import ensure_table_ddl, replace_dates

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Columns the aggregates need from each usage row, besides the emissions.
KEYS = ("dt", "node_id", "provider", "region", "ts", "vcpus", "hours")
INTERVAL_H = 5 / 60  # telemetry resolution
STORAGE_TB_PER_NODE = 0.1  # attached SSD per node (CCF storage coefficient applies)
EMISSION_COLUMNS = (
    "compute_kwh", "memory_kwh", "storage_kwh", "network_kwh", "total_kwh",
    "operational_gco2e", "embodied_gco2e", "total_gco2e",
)  # fmt: skip
USAGE_DDL = (
    "dt DATE, hour TIMESTAMP, node_id STRING, provider STRING, region STRING, vcpu_hours DOUBLE, "
    + ", ".join(f"{c} DOUBLE" for c in EMISSION_COLUMNS)
    + ", coefficients_version STRING"
)
DAILY_DDL = (
    "dt DATE, provider STRING, region STRING, nodes BIGINT, vcpu_hours DOUBLE, "
    + ", ".join(f"{c} DOUBLE" for c in EMISSION_COLUMNS)
    + ", sci_gco2e_per_vcpu_hour DOUBLE"
)
RECOMMENDATION_DDL = (
    "dt DATE, workload_id STRING, kind STRING, current STRING, suggested STRING, "
    "current_gco2e DOUBLE, suggested_gco2e DOUBLE, saving_gco2e DOUBLE, saving_pct DOUBLE"
)


def usage(spark: SparkSession, settings: Settings, dates: Sequence[str]) -> DataFrame:
    """One usage row per node-interval with everything the CCF formulas need."""
    from pyspark.sql import functions as F

    metrics = spark.table(telemetry_table(settings, "node_metrics")).where(
        F.col("dt").isin(list(dates))
    )
    pools = spark.table(telemetry_table(settings, "node_pools")).select(
        "pool_id", "instance_type", "vcpus", F.col("memory_gb")
    )
    embodied_pd = embodied_table().rename(columns={"total_kgco2e": "embodied_kgco2e_total"})
    embodied = spark.createDataFrame(
        embodied_pd[["instance_type", "embodied_kgco2e_total", "largest_vcpus"]].astype(
            {"largest_vcpus": float}
        )
    )
    grid = spark.table(telemetry_table(settings, "grid_intensity")).select(
        "region", F.col("ts").alias("hour"), "gco2_per_kwh"
    )
    joined = (
        metrics.withColumn("hour", F.date_trunc("hour", "ts"))
        .join(F.broadcast(pools), on="pool_id", how="left")
        .join(F.broadcast(embodied), on="instance_type", how="left")
        .join(grid, on=["region", "hour"], how="left")
    )
    return joined.select(
        "dt", "node_id", "provider", "region", "ts", "vcpus", "cpu_util", "memory_gb",
        F.lit(STORAGE_TB_PER_NODE).alias("storage_tb"),
        # Mbit/s over the interval -> GB transferred.
        (F.col("net_mbps") * INTERVAL_H * 3600 / 8 / 1000).alias("network_gb"),
        F.lit(INTERVAL_H).alias("hours"),
        F.col("gco2_per_kwh").alias("grid_gco2_per_kwh"),
        "embodied_kgco2e_total", "largest_vcpus",
    )  # fmt: skip


def emissions(usage_rows: DataFrame, keep: Sequence[str] | None = None) -> DataFrame:
    """Vectorised CCF over Arrow batches (``mapInArrow``).

    Returns ``keep`` (default: every input column) plus the emission columns; returning only the
    columns the caller needs halves what crosses back from Python to the JVM.
    """
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    full = emissions_output_schema(to_arrow_schema(usage_rows.schema))
    names = [*(keep if keep is not None else usage_rows.columns), *EMISSION_COLUMNS,
             "coefficients_version"]  # fmt: skip
    out_schema = pa.schema([full.field(n) for n in names])

    def compute(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            result = usage_to_emissions(batch)
            yield pa.RecordBatch.from_arrays([result.column(n) for n in names], schema=out_schema)

    result: DataFrame = usage_rows.mapInArrow(compute, from_arrow_schema(out_schema))
    return result


def recommendations(spark: SparkSession, settings: Settings, dates: Sequence[str]) -> DataFrame:
    """Time- and location-shift advice for the deferrable / flexible workloads placed on ``dates``."""
    from pyspark.sql import functions as F

    grid = spark.table(
        telemetry_table(settings, "grid_intensity")
    ).toPandas()  # regions x hours: small
    pools = spark.table(telemetry_table(settings, "node_pools")).toPandas()
    placed = (
        spark.table(analytics_table(settings, "placements"))
        .where(F.col("dt").isin(list(dates)) & F.col("placed"))
        .select("dt", "workload_id", "pool_id")
        .join(
            spark.table(telemetry_table(settings, "workloads")).drop("dt"), "workload_id", "inner"
        )
    )
    columns = [c.split()[0] for c in RECOMMENDATION_DDL.split(", ")]

    def advise(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            frame = batch.merge(pools[["pool_id", "provider", "region"]], on="pool_id", how="left")
            advice = top_recommendations(
                time_shift(grid, frame), location_shift(grid, pools, frame), n=None
            )
            if advice.empty:
                continue
            advice = advice.merge(frame[["workload_id", "dt"]], on="workload_id", how="left")
            yield advice[advice["saving_gco2e"] > 0][columns]

    return placed.mapInPandas(advise, RECOMMENDATION_DDL)


def run(spark: SparkSession, settings: Settings, dates: Sequence[str]) -> JobResult:
    """Compute and write carbon usage, daily aggregates with SCI, and recommendations for ``dates``."""
    from pyspark.sql import functions as F

    per_interval = emissions(usage(spark, settings, dates), keep=KEYS).withColumn(
        "vcpu_hours", F.col("vcpus") * F.col("hours")
    )
    sums = [F.sum(c).alias(c) for c in ("vcpu_hours", *EMISSION_COLUMNS)]
    hourly = per_interval.groupBy(
        "dt", F.date_trunc("hour", "ts").alias("hour"), "node_id", "provider", "region"
    ).agg(*sums, F.first("coefficients_version").alias("coefficients_version"))
    usage_table = analytics_table(settings, "carbon_usage")
    ensure_table_ddl(spark, usage_table, USAGE_DDL)
    replace_dates(hourly, usage_table, dates)

    daily = (
        spark.table(usage_table)
        .where(F.col("dt").isin(list(dates)))
        .groupBy("dt", "provider", "region")
        .agg(F.countDistinct("node_id").alias("nodes"), *sums)
        # SCI = (E x I + M) / R with R = vCPU-hours as the functional unit.
        .withColumn("sci_gco2e_per_vcpu_hour", F.col("total_gco2e") / F.col("vcpu_hours"))
    )
    daily_table = analytics_table(settings, "carbon_daily")
    ensure_table_ddl(spark, daily_table, DAILY_DDL)
    replace_dates(daily, daily_table, dates)

    recs_table = analytics_table(settings, "carbon_recommendations")
    ensure_table_ddl(spark, recs_table, RECOMMENDATION_DDL)
    replace_dates(recommendations(spark, settings, dates), recs_table, dates)

    totals = (
        spark.table(daily_table)
        .where(F.col("dt").isin(list(dates)))
        .agg(F.sum("total_kwh").alias("kwh"), F.sum("total_gco2e").alias("g"))
        .first()
    )
    assert totals is not None
    counts = {
        t: spark.table(t).where(F.col("dt").isin(list(dates))).count()
        for t in (usage_table, daily_table, recs_table)
    }
    return JobResult(
        job="carbon",
        rows_written=counts,
        metrics={"kwh": float(totals["kwh"] or 0), "kgco2e": float(totals["g"] or 0) / 1000},
    )
