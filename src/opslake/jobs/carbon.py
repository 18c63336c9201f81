"""Carbon job: CCF energy and emissions per node-interval (``mapInArrow``), aggregated per node-hour
and per provider/region/day, plus time- and location-shift recommendations for placed workloads.

Dimensions are small and broadcast: the pool snapshot as of each metric's date, the embodied
coefficients per (provider, instance type) and the grid intensity of the run's dates. A metric row
whose pool, instance type, grid hour or utilisation is unknown is not guessed: it goes to
``telemetry.rejects`` (source ``carbon``) with the reason, and every other row is computed exactly.
Sums are exact (decimal) so the tables do not depend on partitioning.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from opslake.carbon import location_shift, time_shift, top_recommendations, usage_to_emissions
from opslake.carbon.coefficients import embodied_table
from opslake.carbon.vectorized import emissions_output_schema
from opslake.jobs.common import exact_sum
from opslake.lake.tables import struct_of
from opslake.pipeline.context import shift
from opslake.pipeline.tables import (
    CARBON_DAILY,
    CARBON_RECOMMENDATIONS,
    CARBON_USAGE,
    EMISSION_COLUMNS,
    NODE_METRICS,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from opslake.pipeline.context import StepContext

REJECT_SOURCE = "carbon"
# Columns the aggregates need from each usage row, besides the emissions.
KEYS = ("dt", "node_id", "provider", "region", "ts", "vcpus", "hours")
INTERVAL_H = 5 / 60  # telemetry resolution
STORAGE_TB_PER_NODE = 0.1  # attached SSD per node (CCF storage coefficient applies)
RECOMMENDATION_WINDOW_DAYS = (
    7  # location advice compares regions over the last week (as of the date)
)


def embodied(ctx: StepContext) -> DataFrame:
    """Embodied emissions per (provider, instance type): a small static table."""
    table = embodied_table()
    total = "embodied_kgco2e_total" if "embodied_kgco2e_total" in table else "total_kgco2e"
    frame = pd.DataFrame({
        "provider": table["provider"].astype(str),
        "instance_type": table["instance_type"].astype(str),
        "embodied_kgco2e_total": table[total].astype(float),
        "largest_vcpus": table["largest_vcpus"].astype(float),
    })  # fmt: skip
    return ctx.spark.createDataFrame(frame)


def reject_reason(
    pool_known: Column, instance_known: Column, grid_known: Column, util_known: Column
) -> Column:
    """The first reason a metric row cannot be turned into emissions, or null when it can."""
    from pyspark.sql import functions as F

    return (
        F.when(~pool_known, F.concat(F.lit("unknown pool_id as of its date: "),
                                     F.coalesce(F.col("pool_id"), F.lit("null"))))
        .when(~instance_known, F.concat(F.lit("no embodied coefficients for instance type: "),
                                        F.col("provider"), F.lit("/"), F.col("instance_type")))
        .when(~grid_known, F.concat(F.lit("no grid intensity for region "), F.col("region"),
                                    F.lit(" at "), F.col("hour").cast("string")))
        .when(~util_known, F.lit("missing cpu_util"))
    )  # fmt: skip


def usage(ctx: StepContext) -> DataFrame:
    """Every metric row with what the CCF formulas need, and ``reason`` when something is unknown."""
    from pyspark.sql import functions as F

    metrics = ctx.read("telemetry.node_metrics").withColumn("hour", F.date_trunc("hour", "ts"))
    pools = ctx.read_snapshot("telemetry.node_pools").select(
        F.col("as_of").alias("dt"), "pool_id", "instance_type", "vcpus",
        F.col("memory_gb"), F.lit(True).alias("_pool"),
    )  # fmt: skip
    coefficients = embodied(ctx).withColumn("_instance", F.lit(True))
    grid = ctx.read("telemetry.grid_intensity").select(
        "region", F.col("ts").alias("hour"), "gco2_per_kwh", F.lit(True).alias("_grid")
    )
    joined = (
        metrics.join(F.broadcast(pools), on=["dt", "pool_id"], how="left")
        .join(F.broadcast(coefficients), on=["provider", "instance_type"], how="left")
        .join(F.broadcast(grid), on=["region", "hour"], how="left")
    )
    reason = reject_reason(
        F.col("_pool").isNotNull(),
        F.col("_instance").isNotNull(),
        F.col("_grid").isNotNull(),
        F.col("cpu_util").isNotNull(),
    )
    return joined.select(
        "dt", "node_id", "pool_id", "provider", "region", "ts", "vcpus", "cpu_util", "memory_gb",
        F.lit(STORAGE_TB_PER_NODE).alias("storage_tb"),
        # Mbit/s over the interval -> GB transferred.
        (F.coalesce(F.col("net_mbps"), F.lit(0.0)) * INTERVAL_H * 3600 / 8 / 1000).alias("network_gb"),
        F.lit(INTERVAL_H).alias("hours"),
        F.col("gco2_per_kwh").alias("grid_gco2_per_kwh"),
        "embodied_kgco2e_total", "largest_vcpus",
        reason.alias("reason"),
        F.to_json(F.struct(*[F.col(c) for c in NODE_METRICS.columns])).alias("raw"),
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


def recommendations(ctx: StepContext) -> DataFrame:
    """Time- and location-shift advice for the workloads placed on the run's dates.

    Location shifts share each region's capacity among a date's workloads (greedy, biggest first),
    so a date is advised as a whole (one group per date), with the grid of the week up to that date
    and the pool snapshot of that date: never later data.
    """
    from pyspark.sql import functions as F

    grid = (
        ctx.read("telemetry.grid_intensity", lookback_days=RECOMMENDATION_WINDOW_DAYS - 1)
        .select("dt", "region", "ts", "gco2_per_kwh")
        .toPandas()
    )  # regions x hours of the run's window: small
    pools = ctx.read_snapshot("telemetry.node_pools").toPandas()  # pools x run dates: small
    shared = ctx.spark.sparkContext.broadcast((grid, pools))
    placed = (
        ctx.read("analytics.placements")
        .where(F.col("placed"))
        .select("dt", "workload_id", "pool_id")
        # On the day too: workload ids are unique within a day's batch, not across days (each
        # daily ingest numbers its workloads from the start).
        .join(ctx.read("telemetry.workloads"), on=["dt", "workload_id"], how="inner")
    )
    columns = CARBON_RECOMMENDATIONS.columns

    def advise(frame: pd.DataFrame) -> pd.DataFrame:
        grid_all, pools_all = shared.value
        day = str(frame["dt"].iloc[0])
        frame = frame.sort_values("workload_id", kind="mergesort").reset_index(drop=True)
        days = grid_all["dt"].astype(str)
        window = grid_all[(days <= day) & (days > shift(day, -RECOMMENDATION_WINDOW_DAYS))]
        day_pools = pools_all[pools_all["as_of"].astype(str) == day]
        frame = frame.merge(day_pools[["pool_id", "provider", "region"]], on="pool_id", how="inner")
        advice = top_recommendations(
            time_shift(window, frame), location_shift(window, day_pools, frame), n=None
        )
        advice = advice.merge(frame[["workload_id", "dt"]], on="workload_id", how="left")
        return advice[advice["saving_gco2e"] > 0].reindex(columns=columns)

    return placed.groupBy("dt").applyInPandas(advise, struct_of(CARBON_RECOMMENDATIONS))


def compute(ctx: StepContext) -> dict[str, DataFrame]:
    """Carbon usage per node-hour, daily aggregates with SCI, recommendations, and the rows that
    could not be computed (to ``rejects``)."""
    from pyspark.sql import functions as F

    rows = ctx.scratch["usage"] = usage(ctx).persist()
    known = rows.where(F.col("reason").isNull())
    per_interval = emissions(known.drop("reason", "raw", "pool_id"), keep=KEYS).withColumn(
        "vcpu_hours", F.col("vcpus") * F.col("hours")
    )
    sums = [exact_sum(c).alias(c) for c in ("vcpu_hours", *EMISSION_COLUMNS)]
    hourly = ctx.scratch["hourly"] = (
        per_interval.groupBy(
            "dt", F.date_trunc("hour", "ts").alias("hour"), "node_id", "provider", "region"
        )
        .agg(*sums, F.min("coefficients_version").alias("coefficients_version"))
        .persist()
    )
    daily = (
        hourly.groupBy("dt", "provider", "region")
        .agg(F.countDistinct("node_id").alias("nodes"), *sums)
        # SCI = (E x I + M) / R with R = vCPU-hours as the functional unit.
        .withColumn("sci_gco2e_per_vcpu_hour", F.col("total_gco2e") / F.col("vcpu_hours"))
    )
    rejects = rows.where(F.col("reason").isNotNull()).select(
        F.lit(REJECT_SOURCE).alias("source"),
        F.lit(ctx.name(NODE_METRICS.key)).alias("source_file"),
        F.lit(None).cast("bigint").alias("row_number"),
        "reason",
        "raw",
        "dt",
    )
    return {
        CARBON_USAGE.key: hourly,
        CARBON_DAILY.key: daily,
        CARBON_RECOMMENDATIONS.key: recommendations(ctx),
        "telemetry.rejects": rejects,
    }


def summarize(ctx: StepContext) -> dict[str, Any]:
    """Energy and emissions of the run's dates; metric rows in = computed + rejected."""
    from pyspark.sql import functions as F

    in_dates = F.col("dt").isin([F.lit(d).cast("date") for d in ctx.dates])
    table = ctx.spark.table
    totals = (
        table(ctx.name(CARBON_DAILY.key))
        .where(in_dates)
        .agg(F.sum("total_kwh").alias("kwh"), F.sum("total_gco2e").alias("g"))
        .first()
    )
    assert totals is not None
    outcome = {
        str(r["known"]): int(r["count"])
        for r in ctx.scratch["usage"]
        .groupBy(F.col("reason").isNull().alias("known"))
        .count()
        .collect()
    }
    rejected = table(ctx.name("telemetry.rejects")).where(
        in_dates & (F.col("source") == REJECT_SOURCE)
    )
    reasons = {
        str(r["reason"]): int(r["count"]) for r in rejected.groupBy("reason").count().collect()
    }
    counts = {
        ctx.name(t.key): table(ctx.name(t.key)).where(in_dates).count()
        for t in (CARBON_USAGE, CARBON_DAILY, CARBON_RECOMMENDATIONS)
    }
    return {
        "kwh": float(totals["kwh"] or 0),
        "kgco2e": float(totals["g"] or 0) / 1000,
        "rows_in": outcome.get("True", 0) + outcome.get("False", 0),
        "computed": outcome.get("True", 0),
        "rejected": sum(reasons.values()),
        "reject_reasons": reasons,
        "rows_written": {**counts, ctx.name("telemetry.rejects"): sum(reasons.values())},
    }
