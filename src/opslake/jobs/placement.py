"""Placement job: score workloads against the pools of their date, then bin-pack each (date, pool).

1. Pools as of each run date (the latest snapshot on or before it) with their region's mean grid
   intensity over the 7 days up to that date: small, broadcast to the tasks.
2. Normalisation bounds of the score: one Spark aggregate per date over all of that date's workloads
   (partial bounds per batch, merged), so no decision depends on how rows were split into batches.
3. ``mapInPandas`` picks the best feasible pool per workload; ``groupBy(dt, pool_id).applyInPandas``
   packs each pool's workloads (sorted by id, so the packing does not depend on row order).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from opslake.jobs.common import exact_mean
from opslake.lake.tables import spark_schema
from opslake.pipeline.tables import PLACEMENT_RUNS, PLACEMENTS
from opslake.placement.batch import place_pool
from opslake.placement.scoring import ScoringBounds, ScoringWeights, score_pools, scoring_bounds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from opslake.pipeline.context import StepContext

GRID_WINDOW_DAYS = (
    7  # placement uses the region's mean intensity over the last week (as of the date)
)
BOUND_FIELDS = tuple(ScoringBounds.empty().to_dict())
# Intermediate frames: the pool chosen per workload, then one row per workload carrying its
# (date, pool) run summary, from which both output tables are selected.
ASSIGNED = pa.schema(
    [("dt", pa.date32()), ("workload_id", pa.string()), ("cpu", pa.float64()),
     ("memory_gb", pa.float64()), ("gpu", pa.int32()), ("pool_id", pa.string()),
     ("score", pa.float64()), ("reason", pa.string())]
)  # fmt: skip
PACKED = pa.schema(
    [*PLACEMENTS.schema, *(f for f in PLACEMENT_RUNS.schema if f.name not in PLACEMENTS.columns)]
)
BOUNDS = pa.schema([("dt", pa.string()), *((name, pa.float64()) for name in BOUND_FIELDS)])


def pools_as_of(ctx: StepContext) -> DataFrame:
    """One row per (run date, pool): the pool snapshot of that date + its region's mean intensity."""
    from pyspark.sql import functions as F

    pools = ctx.read_snapshot("telemetry.node_pools").drop("dt")
    run_dates = pools.select("as_of").distinct()
    grid = ctx.read("telemetry.grid_intensity", lookback_days=GRID_WINDOW_DAYS - 1)
    in_window = (grid["dt"] <= run_dates["as_of"]) & (
        grid["dt"] > F.date_sub(run_dates["as_of"], GRID_WINDOW_DAYS)
    )
    mean_grid = (
        grid.join(F.broadcast(run_dates), in_window, how="inner")
        .groupBy("as_of", "region")
        .agg(exact_mean("gco2_per_kwh").alias("grid_gco2_per_kwh"))
    )
    return pools.join(mean_grid, on=["as_of", "region"], how="left")


def _frames_by_date(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {str(d): part.drop(columns="as_of") for d, part in frame.groupby("as_of")}


def date_bounds(
    workloads: DataFrame, pools: Mapping[str, pd.DataFrame]
) -> dict[str, ScoringBounds]:
    """Score normalisation bounds per date: partial bounds per batch, merged in one aggregate."""
    from pyspark.sql import functions as F

    def partial(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for day, part in batch.groupby(batch["dt"].astype(str)):
                if day in pools:
                    bounds = scoring_bounds(part, pools[day]).to_dict()
                    yield pd.DataFrame([{"dt": day, **bounds}])

    merged = (
        workloads.mapInPandas(partial, spark_schema(BOUNDS))
        .groupBy("dt")
        .agg(*[(F.min(f) if f.endswith("min") else F.max(f)).alias(f) for f in BOUND_FIELDS])
    )
    return {
        str(r["dt"]): ScoringBounds.from_dict({f: r[f] for f in BOUND_FIELDS})
        for r in merged.collect()
    }


def compute(ctx: StepContext) -> dict[str, DataFrame]:
    """Placements and per-pool run summaries for the workloads submitted on the run's dates."""
    from pyspark.sql import functions as F

    settings = ctx.settings
    workloads = ctx.read("telemetry.workloads")
    pools = _frames_by_date(pools_as_of(ctx).toPandas())  # pools x dates: a few hundred rows
    bounds = date_bounds(workloads, pools)
    shared = ctx.spark.sparkContext.broadcast((pools, bounds))
    weights = ScoringWeights()

    def assign(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        pools_by_date, bounds_by_date = shared.value
        for batch in batches:
            for day, part in batch.groupby(batch["dt"].astype(str)):
                if day not in pools_by_date:
                    chosen = pd.DataFrame({"workload_id": part["workload_id"], "pool_id": None,
                                           "score": None, "reason": "no node pools as of this date"})  # fmt: skip
                else:
                    chosen = score_pools(part, pools_by_date[day], weights, bounds_by_date[day])
                yield part[["dt", "workload_id", "cpu", "memory_gb", "gpu"]].merge(
                    chosen[["workload_id", "pool_id", "score", "reason"]], on="workload_id"
                )

    assigned = workloads.mapInPandas(assign, spark_schema(ASSIGNED))
    algorithm, seed = settings.placement_algorithm, settings.seed
    iterations, safety_s = settings.placement_iterations, settings.placement_safety_limit_s
    columns = PACKED.names

    def pack_group(group: pd.DataFrame) -> pd.DataFrame:
        group = group.sort_values("workload_id", kind="mergesort").reset_index(drop=True)
        pool_id, day = group["pool_id"].iloc[0], str(group["dt"].iloc[0])
        if pool_id is None or pd.isna(pool_id):
            return group.assign(node_index=None, placed=False, algorithm=algorithm)\
                .reindex(columns=columns)  # fmt: skip
        pools_by_date, _ = shared.value
        pool = pools_by_date[day].set_index("pool_id").loc[pool_id]
        row: dict[str, Any] = {"pool_id": pool_id, **pool.to_dict()}
        rows, summary = place_pool(
            group, row, algorithm, seed, search_budget=iterations, safety_limit_s=safety_s
        )
        out = rows.drop(columns=["pool_id"]).merge(
            group[["workload_id", "dt", "pool_id", "score"]], on="workload_id"
        )
        for key in ("algorithm", "nodes_used", "lower_bound", "gap", "cpu_utilisation",
                    "mem_utilisation", "cost_per_hour"):  # fmt: skip
            out[key] = summary[key]
        out["workloads"] = len(group)
        out["grid_gco2_per_kwh"] = float(row["grid_gco2_per_kwh"])
        result: pd.DataFrame = out[columns]
        return result

    packed = ctx.scratch["packed"] = (
        assigned.groupBy("dt", "pool_id").applyInPandas(pack_group, spark_schema(PACKED)).persist()
    )
    runs = packed.where(F.col("nodes_used").isNotNull()).select(*PLACEMENT_RUNS.columns).distinct()
    return {"analytics.placements": packed, "analytics.placement_runs": runs}


def summarize(ctx: StepContext) -> dict[str, Any]:
    """Workloads placed, nodes used against the lower bound, over the run's dates."""
    from pyspark.sql import functions as F

    in_dates = F.col("dt").isin([F.lit(d).cast("date") for d in ctx.dates])
    placements = ctx.spark.table(ctx.name(PLACEMENTS.key)).where(in_dates)
    runs = ctx.spark.table(ctx.name(PLACEMENT_RUNS.key)).where(in_dates)
    totals = placements.agg(
        F.count("*").alias("workloads"), F.sum(F.col("placed").cast("int")).alias("placed")
    ).first()
    bound = runs.agg(
        F.sum("nodes_used").alias("nodes"), F.sum("lower_bound").alias("bound"),
        F.count("*").alias("groups"), F.sum("cost_per_hour").alias("cost"),
    ).first()  # fmt: skip
    assert totals is not None and bound is not None
    return {
        "workloads": int(totals["workloads"]),
        "placed": int(totals["placed"] or 0),
        "nodes_used": int(bound["nodes"] or 0),
        "lower_bound": int(bound["bound"] or 0),
        "pool_groups": int(bound["groups"]),
        "cost_per_hour": float(bound["cost"] or 0.0),
        "algorithm": ctx.settings.placement_algorithm,
        "rows_written": {
            ctx.name(PLACEMENTS.key): int(totals["workloads"]),
            ctx.name(PLACEMENT_RUNS.key): int(bound["groups"]),
        },
    }
