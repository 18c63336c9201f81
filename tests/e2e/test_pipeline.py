"""The whole pipeline on a small embedded lake: every table filled, counts reconcile, re-runs replace,
lineage and report written."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pyspark.sql import SparkSession

from opslake.config import Settings
from opslake.pipeline import PipelineRun, run_pipeline
from opslake.report import collect_summary, render_html
from opslake.telemetry import GeneratorConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = GeneratorConfig(days=2, nodes=16, workloads=120, seed=5)


@pytest.fixture(scope="module")
def first_run(spark: SparkSession, e2e_settings: Settings) -> PipelineRun:
    return run_pipeline(lambda: spark, e2e_settings, CONFIG)


@pytest.fixture(scope="module")
def e2e_settings(isolated_lake: Callable[[str], Settings]) -> Settings:
    return isolated_lake("e2e_lake")


def counts(spark: SparkSession, catalog: str = "e2e_lake") -> dict[str, int]:
    tables = [
        "telemetry.node_metrics", "telemetry.workloads", "telemetry.node_pools",
        "telemetry.grid_intensity", "telemetry.anomaly_labels", "telemetry.rejects",
        "analytics.placements", "analytics.placement_runs", "analytics.anomaly_models",
        "analytics.anomalies", "analytics.carbon_usage", "analytics.carbon_daily",
        "analytics.carbon_recommendations",
    ]  # fmt: skip
    return {t: spark.table(f"{catalog}.{t}").count() for t in tables}


def test_every_table_is_filled_and_reconciles(spark: SparkSession, first_run: PipelineRun) -> None:
    n = counts(spark)
    assert all(v > 0 for k, v in n.items() if k != "analytics.carbon_recommendations"), n
    assert first_run.dates == ["2026-11-16", "2026-11-17"]
    assert n["analytics.placements"] == CONFIG.workloads
    # Every accepted metric row gets exactly one score (all provider scopes were trained).
    assert n["analytics.anomalies"] == n["telemetry.node_metrics"]
    results = {r.job: r.metrics for r in first_run.results}
    for metrics in results["ingest"]["sources"].values():  # type: ignore[attr-defined]
        assert metrics["rows_in"] == metrics["accepted"] + metrics["rejected"]
    # Every accepted metric row is either turned into emissions or rejected by carbon, with a reason.
    carbon = results["carbon"]
    assert carbon["rows_in"] == n["telemetry.node_metrics"]
    assert carbon["rows_in"] == carbon["computed"] + carbon["rejected"]


def test_rerun_replaces_instead_of_duplicating(
    spark: SparkSession, first_run: PipelineRun, e2e_settings: Settings
) -> None:
    before = counts(spark)
    run_pipeline(lambda: spark, e2e_settings, CONFIG)
    assert counts(spark) == before


def test_placement_never_beats_the_bound_and_places_feasible_work(
    spark: SparkSession, first_run: PipelineRun
) -> None:
    bad = spark.sql(
        "SELECT COUNT(*) AS n FROM e2e_lake.analytics.placement_runs WHERE nodes_used < lower_bound"
    ).first()
    assert bad is not None and bad["n"] == 0
    placed = spark.sql(
        "SELECT SUM(CASE WHEN placed THEN 1 ELSE 0 END) AS p, COUNT(*) AS n "
        "FROM e2e_lake.analytics.placements"
    ).first()
    assert placed is not None and placed["p"] >= 0.95 * placed["n"]


def test_lineage_has_start_and_complete_with_datasets(
    first_run: PipelineRun, e2e_settings: Settings
) -> None:
    events = [json.loads(line) for line in e2e_settings.lineage_file.read_text().splitlines()]
    by_job: dict[str, list[str]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event["eventType"])
    for job in (
        "telemetry_land",
        "ingest",
        "placement",
        "anomaly_train",
        "anomaly_score",
        "carbon",
    ):
        assert by_job[job][:2] == ["START", "COMPLETE"], (job, by_job.get(job))
    ingest = next(
        e for e in events if e["job"]["name"] == "ingest" and e["eventType"] == "COMPLETE"
    )
    assert {d["name"] for d in ingest["outputs"]} >= {"telemetry.node_metrics", "telemetry.rejects"}
    assert any(d["name"] == "telemetry/node_metrics" for d in ingest["inputs"])


def test_report_is_written(
    spark: SparkSession, first_run: PipelineRun, e2e_settings: Settings
) -> None:
    summary = collect_summary(spark, e2e_settings, first_run)
    path = render_html(summary, e2e_settings.out_dir / "report.html")
    text = path.read_text()
    assert "Carbon by provider" in text and "data:image/png;base64" in text
    assert set(summary.carbon_by_provider["provider"]) == {"aws", "gcp", "azure"}
    assert 0.0 <= summary.anomaly["precision"] <= 1.0
