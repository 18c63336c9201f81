"""The whole pipeline in order, in one Spark session: land -> ingest -> placement -> anomaly -> carbon.

Each step is wrapped in an OpenLineage run (START, COMPLETE/FAIL) with its input and output datasets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from opslake.config import Settings
from opslake.jobs import anomaly, carbon, ingest, land, placement
from opslake.jobs.common import TELEMETRY_SOURCES, JobResult, analytics_table, telemetry_table
from opslake.lineage import LineageRecorder
from opslake.telemetry import GeneratorConfig, generate
from opslake.telemetry.generator import malformed_node_metrics

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class PipelineRun:
    """Everything ``opslake run`` reports: per-job results and wall time per step."""

    results: list[JobResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    dates: list[str] = field(default_factory=list)


def run_pipeline(
    spark_factory: Callable[[], SparkSession],
    settings: Settings,
    config: GeneratorConfig,
    progress: Progress = lambda _: None,
) -> PipelineRun:
    """Generate, land and process ``config``'s telemetry; returns results for the summary."""
    outcome = PipelineRun()
    lineage = LineageRecorder(settings)
    tel = [telemetry_table(settings, s) for s in TELEMETRY_SOURCES]

    def step(name: str, action: Callable[[], JobResult | list[JobResult]]) -> None:
        progress(name)
        started = time.perf_counter()
        produced = action()
        outcome.timings[name] = time.perf_counter() - started
        outcome.results.extend(produced if isinstance(produced, list) else [produced])

    logical = (config.start + pd.Timedelta(days=config.days - 1)).strftime("%Y-%m-%d")
    batch = f"gen-s{config.seed}"

    def land_all() -> JobResult:
        telemetry = generate(config)
        result = land.run(settings, telemetry, batch_id=batch, logical_date=logical)
        # A small batch of malformed rows, as real sources send, to exercise the quarantine.
        arrived = config.start + pd.Timedelta(hours=12)
        dirty = land.run_external(
            settings, "node_metrics", malformed_node_metrics(config), "external", arrived
        )
        result.rows_written["node_metrics"] += dirty
        return result

    with lineage.run("telemetry_land", [], [], raw_inputs=["generator"]):
        step("land", land_all)
    raw = [f"telemetry/{s}" for s in TELEMETRY_SOURCES]
    spark = spark_factory()
    with lineage.run("ingest", [], [*tel, telemetry_table(settings, "rejects")], raw_inputs=raw):
        step("ingest", lambda: ingest.run(spark, settings))
    dates = ingested_dates(outcome.results)
    outcome.dates = dates
    t = {s: telemetry_table(settings, s) for s in TELEMETRY_SOURCES}
    a = {n: analytics_table(settings, n) for n in _ANALYTICS}
    with lineage.run(
        "placement",
        [t["workloads"], t["node_pools"], t["grid_intensity"]],
        [a["placements"], a["placement_runs"]],
    ):
        step("placement", lambda: placement.run(spark, settings, dates))
    with lineage.run("anomaly_train", [t["node_metrics"]], [a["anomaly_models"]]):
        step("anomaly_train", lambda: anomaly.run_train(spark, settings, dates))
    with lineage.run(
        "anomaly_score",
        [t["node_metrics"], a["anomaly_models"], t["anomaly_labels"]],
        [a["anomalies"]],
    ):
        step("anomaly_score", lambda: anomaly.run_score(spark, settings, dates))
    with lineage.run(
        "carbon",
        [t["node_metrics"], t["node_pools"], t["grid_intensity"], t["workloads"]],
        [a["carbon_usage"], a["carbon_daily"], a["carbon_recommendations"]],
    ):
        step("carbon", lambda: carbon.run(spark, settings, dates))
    return outcome


_ANALYTICS = (
    "placements", "placement_runs", "anomaly_models", "anomalies",
    "carbon_usage", "carbon_daily", "carbon_recommendations",
)  # fmt: skip


def ingested_dates(results: list[JobResult]) -> list[str]:
    """The logical dates the node-metrics ingest covered: what the downstream jobs process."""
    for result in results:
        if result.job == "ingest.node_metrics":
            return sorted(str(d) for d in result.metrics["dates"])  # type: ignore[attr-defined]
    return []
