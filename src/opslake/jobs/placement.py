"""Placement job: score workloads against pools, then bin-pack each (date, pool) in parallel.

1. ``mapInPandas`` scores every workload against the (small, broadcast) pool table and picks the best
   feasible pool under the hard constraints.
2. ``groupBy(dt, pool_id).applyInPandas`` packs each pool's workloads onto nodes with the configured
   algorithm and reports nodes used against the lower bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from opslake.config import Settings
from opslake.jobs.common import JobResult, analytics_table, telemetry_table
from opslake.lake.tables import ensure_table_ddl, replace_dates
from opslake.placement.batch import place_pool
from opslake.placement.scoring import ScoringWeights, score_pools

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ASSIGNMENT_DDL = (
    "dt DATE, workload_id STRING, pool_id STRING, score DOUBLE, reason STRING, "
    "cpu DOUBLE, memory_gb DOUBLE, gpu INT"
)
PLACEMENT_DDL = (
    "dt DATE, workload_id STRING, pool_id STRING, node_index INT, placed BOOLEAN, reason STRING, "
    "algorithm STRING, nodes_used INT, lower_bound INT, gap DOUBLE, cpu_utilisation DOUBLE, "
    "mem_utilisation DOUBLE, cost_per_hour DOUBLE, runtime_s DOUBLE"
)
RUN_COLUMNS = (
    "dt", "pool_id", "algorithm", "nodes_used", "lower_bound", "gap", "cpu_utilisation",
    "mem_utilisation", "cost_per_hour", "runtime_s",
)  # fmt: skip


def pool_table(spark: SparkSession, settings: Settings) -> pd.DataFrame:
    """Node pools joined with their region's mean grid intensity: small, sent to every task."""
    from pyspark.sql import functions as F

    grid = (
        spark.table(telemetry_table(settings, "grid_intensity"))
        .groupBy("region")
        .agg(F.avg("gco2_per_kwh").alias("grid_gco2_per_kwh"))
    )
    pools = spark.table(telemetry_table(settings, "node_pools")).join(grid, on="region", how="left")
    return pools.toPandas()


def assign(workloads: DataFrame, pools: pd.DataFrame, weights: ScoringWeights) -> DataFrame:
    """Best feasible pool per workload (``pool_id`` null with a reason when there is none)."""

    def score_batches(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            chosen = score_pools(batch, pools, weights)
            out = batch[["dt", "workload_id", "cpu", "memory_gb", "gpu"]].merge(
                chosen[["workload_id", "pool_id", "score", "reason"]], on="workload_id", how="left"
            )
            yield out[[c.split()[0] for c in ASSIGNMENT_DDL.split(", ")]]

    return workloads.mapInPandas(score_batches, ASSIGNMENT_DDL)


def pack(
    assigned: DataFrame, pools: pd.DataFrame, algorithm: str, seed: int, time_limit_s: float
) -> DataFrame:
    """Pack each (dt, pool) group onto nodes; unassigned workloads pass through as unplaced."""
    pools_by_id = {
        str(r["pool_id"]): {str(k): v for k, v in r.items()} for r in pools.to_dict("records")
    }
    columns = [c.split()[0] for c in PLACEMENT_DDL.split(", ")]

    def pack_group(group: pd.DataFrame) -> pd.DataFrame:
        pool_id = group["pool_id"].iloc[0]
        if pool_id is None or pd.isna(pool_id):
            return group.assign(
                node_index=None, placed=False, algorithm=algorithm, nodes_used=None,
                lower_bound=None, gap=None, cpu_utilisation=None, mem_utilisation=None,
                cost_per_hour=None, runtime_s=None,
            )[columns]  # fmt: skip
        rows, summary = place_pool(group, pools_by_id[pool_id], algorithm, seed, time_limit_s)
        out = rows.merge(group[["workload_id", "dt"]], on="workload_id", how="left")
        for key in RUN_COLUMNS[2:]:
            out[key] = summary[key]
        return out[columns]

    packed: DataFrame = assigned.groupBy("dt", "pool_id").applyInPandas(pack_group, PLACEMENT_DDL)
    return packed


def run(spark: SparkSession, settings: Settings, dates: Sequence[str]) -> JobResult:
    """Place the workloads submitted on ``dates``; write placements and per-pool run summaries."""
    from pyspark.sql import functions as F

    workloads = spark.table(telemetry_table(settings, "workloads")).where(
        F.col("dt").isin(list(dates))
    )
    pools = pool_table(spark, settings)
    assigned = assign(workloads, pools, ScoringWeights())
    placed = pack(
        assigned,
        pools,
        settings.placement_algorithm,
        settings.seed,
        settings.placement_time_limit_s,
    ).persist()
    try:
        placements = analytics_table(settings, "placements")
        runs = analytics_table(settings, "placement_runs")
        ensure_table_ddl(spark, placements, PLACEMENT_DDL)
        ensure_table_ddl(spark, runs, _run_ddl())
        replace_dates(placed, placements, dates)
        run_rows = (
            placed.where(F.col("nodes_used").isNotNull())
            .groupBy("dt", "pool_id")
            .agg(*[F.first(c).alias(c) for c in RUN_COLUMNS[2:]])
        )
        replace_dates(run_rows, runs, dates)
        totals = placed.agg(
            F.count("*").alias("workloads"),
            F.sum(F.col("placed").cast("int")).alias("placed"),
        ).first()
        bound = run_rows.agg(
            F.sum("nodes_used").alias("nodes"), F.sum("lower_bound").alias("bound"),
            F.count("*").alias("groups"), F.sum("cost_per_hour").alias("cost"),
        ).first()  # fmt: skip
    finally:
        placed.unpersist()
    assert totals is not None and bound is not None
    metrics: dict[str, Any] = {
        "workloads": int(totals["workloads"]),
        "placed": int(totals["placed"] or 0),
        "nodes_used": int(bound["nodes"] or 0),
        "lower_bound": int(bound["bound"] or 0),
        "pool_groups": int(bound["groups"]),
        "cost_per_hour": float(bound["cost"] or 0.0),
        "algorithm": settings.placement_algorithm,
    }
    return JobResult(
        job="placement",
        rows_written={placements: metrics["workloads"], runs: metrics["pool_groups"]},
        metrics=metrics,
    )


def _run_ddl() -> str:
    types = dict(c.split(" ", 1) for c in PLACEMENT_DDL.split(", "))
    return ", ".join(f"{c} {types[c]}" for c in RUN_COLUMNS)
