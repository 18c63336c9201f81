"""The carbon job on ordinary gaps: a missing grid hour, an unknown instance type and a missing pool.

The job must succeed, put exactly the affected metric rows in ``rejects`` with their reason, and compute
every other row exactly as it would have without the gaps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from opslake.config import Settings
from opslake.jobs import land
from opslake.lineage import LineageRecorder
from opslake.pipeline.runner import run_step
from opslake.pipeline.spec import STEPS
from opslake.telemetry import GeneratorConfig, Telemetry, generate

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = GeneratorConfig(days=1, nodes=9, workloads=30, seed=31)
DAY = "2026-11-16"
GAP_HOUR = pd.Timestamp("2026-11-16T05:00:00Z")


def _run(spark: SparkSession, settings: Settings, telemetry: Telemetry) -> dict[str, object]:
    land.run(settings, telemetry, batch_id="gaps", logical_date=DAY)
    lineage = LineageRecorder(settings)
    for name in ("ingest", "placement", "carbon"):
        result = run_step(spark, settings, STEPS[name], [DAY], lineage)
    return result.metrics


def _with_gaps(clean: Telemetry) -> tuple[Telemetry, dict[str, str]]:
    """Three nodes, one per gap kind: their pool has an unknown instance type, their pool is not in
    the snapshot, or their region lacks one grid hour."""
    metrics, pools, grid = clean.node_metrics.copy(), clean.node_pools.copy(), clean.grid_intensity
    nodes = metrics.drop_duplicates("node_id").sort_values("node_id")
    by_pool = nodes.drop_duplicates("pool_id")
    odd_pool = by_pool.iloc[0]
    ghost_node = nodes[nodes["pool_id"] != odd_pool["pool_id"]].iloc[0]
    in_other_region = nodes[
        (nodes["region"] != odd_pool["region"]) & (nodes["region"] != ghost_node["region"])
    ].iloc[0]
    pools.loc[pools["pool_id"] == odd_pool["pool_id"], "instance_type"] = "x9.unheard-of"
    metrics.loc[metrics["node_id"] == ghost_node["node_id"], "pool_id"] = "ghost-pool"
    hour = pd.to_datetime(grid["ts"], utc=True)
    grid = grid[~((grid["region"] == in_other_region["region"]) & (hour == GAP_HOUR))]
    gaps = {
        "instance": str(odd_pool["pool_id"]),
        "ghost": str(ghost_node["node_id"]),
        "region": str(in_other_region["region"]),
    }
    return Telemetry(pools, metrics, clean.workloads, grid, clean.anomaly_labels), gaps


@pytest.fixture(scope="module")
def lakes(
    spark: SparkSession, isolated_lake: Callable[[str], Settings]
) -> tuple[Settings, Settings, dict[str, object], dict[str, str], Telemetry]:
    clean = generate(CONFIG)
    gappy, gaps = _with_gaps(clean)
    clean_lake, gap_lake = isolated_lake("carbon_clean"), isolated_lake("carbon_gaps")
    _run(spark, clean_lake, clean)
    metrics = _run(spark, gap_lake, gappy)
    return clean_lake, gap_lake, metrics, gaps, gappy


def test_gaps_are_rejected_with_reasons_and_counts_reconcile(
    spark: SparkSession,
    lakes: tuple[Settings, Settings, dict[str, object], dict[str, str], Telemetry],
) -> None:
    _clean, lake, metrics, gaps, telemetry = lakes
    rows = telemetry.node_metrics
    on_odd_pool = int((rows["pool_id"] == gaps["instance"]).sum())
    ghost = int((rows["node_id"] == gaps["ghost"]).sum())
    in_gap = rows[
        (rows["region"] == gaps["region"])
        & (pd.to_datetime(rows["ts"], utc=True).dt.floor("h") == GAP_HOUR)
        & (rows["pool_id"] != gaps["instance"])
    ]
    rejects = spark.table(lake.table("telemetry", "rejects")).where(F.col("source") == "carbon")
    reasons = {r["reason"]: r["count"] for r in rejects.groupBy("reason").count().collect()}
    instance_type = "x9.unheard-of"
    provider = str(rows.loc[rows["pool_id"] == gaps["instance"], "provider"].iloc[0])
    assert reasons == {
        f"no embodied coefficients for instance type: {provider}/{instance_type}": on_odd_pool,
        "unknown pool_id as of its date: ghost-pool": ghost,
        f"no grid intensity for region {gaps['region']} at 2026-11-16 05:00:00": len(in_gap),
    }
    assert metrics["rows_in"] == metrics["computed"] + metrics["rejected"]  # type: ignore[operator]
    assert metrics["rejected"] == on_odd_pool + ghost + len(in_gap)
    # The raw metric row is kept, so nothing is lost.
    raw = rejects.where(F.col("reason").startswith("unknown pool_id")).first()
    assert raw is not None and f'"node_id":"{gaps["ghost"]}"' in raw["raw"]


def test_rows_without_gaps_are_computed_exactly_as_without_gaps(
    spark: SparkSession,
    lakes: tuple[Settings, Settings, dict[str, object], dict[str, str], Telemetry],
) -> None:
    clean, lake, _metrics, gaps, telemetry = lakes
    affected_nodes = set(
        telemetry.node_metrics.loc[
            (telemetry.node_metrics["pool_id"] == gaps["instance"]), "node_id"
        ]
    ) | {gaps["ghost"]}
    unaffected = ~F.col("node_id").isin(sorted(affected_nodes)) & ~(
        (F.col("region") == gaps["region"]) & (F.col("hour") == F.lit(GAP_HOUR.to_pydatetime()))
    )
    usage = lambda s: spark.table(s.table("analytics", "carbon_usage")).where(unaffected)  # noqa: E731
    expected = usage(clean)
    assert expected.count() > 0
    assertDataFrameEqual(usage(lake), expected, rtol=0.0, atol=0.0)
    # The gap hour's other nodes are still there; only the affected node-hours are missing.
    assert usage(lake).count() == expected.count()


def test_daily_batches_that_reuse_workload_ids_get_one_recommendation_each(
    spark: SparkSession,
    isolated_lake: Callable[[str], Settings],
    lakes: tuple[Settings, Settings, dict[str, object], dict[str, str], Telemetry],
) -> None:
    """Each daily ingest numbers its workloads from wl-000000 (Airflow lands one day at a time), so
    a workload id names a different workload on each day: the carbon advice must join on the day."""
    clean, *_ = lakes
    lake = isolated_lake("carbon_daily_ids")
    next_day = "2026-11-17"
    second = generate(replace(CONFIG, start=pd.Timestamp(next_day, tz="UTC")))
    assert set(second.workloads["workload_id"]) & set(generate(CONFIG).workloads["workload_id"])
    land.run(lake, generate(CONFIG), batch_id="day1", logical_date=DAY)
    land.run(lake, second, batch_id="day2", logical_date=next_day)
    lineage = LineageRecorder(lake)
    for name in ("ingest", "placement", "carbon"):
        run_step(spark, lake, STEPS[name], [DAY, next_day], lineage)
    advice = spark.table(lake.table("analytics", "carbon_recommendations"))
    keys = ["dt", "workload_id", "kind"]
    assert advice.count() == advice.select(*keys).distinct().count() > 0
    # The first day's advice is what that day alone gives.
    first_day = advice.where(F.col("dt") == F.lit(DAY).cast("date"))
    alone = spark.table(clean.table("analytics", "carbon_recommendations"))
    assertDataFrameEqual(first_day, alone, rtol=0.0, atol=0.0)
