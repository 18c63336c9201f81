"""The jobs in pipeline order, with the tables each reads and writes (for lineage), and one way to
run a job inside an OpenLineage run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from opslake.config import Settings
from opslake.jobs import anomaly, carbon, ingest, placement
from opslake.jobs.common import TELEMETRY_SOURCES, JobResult
from opslake.lineage import LineageRecorder

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Landing datasets (relative to the raw zone) that ingest reads and the land step writes.
LANDING_DATASETS = tuple(f"telemetry/{source}" for source in TELEMETRY_SOURCES)

JobFn = Callable[["SparkSession", Settings, Sequence[str]], "JobResult | list[JobResult]"]

# job name -> (function, input tables, output tables) ; names relative to the catalog
JOBS: dict[str, tuple[JobFn, tuple[str, ...], tuple[str, ...]]] = {
    "ingest": (
        ingest.run,
        (),
        ("telemetry.node_metrics", "telemetry.workloads", "telemetry.node_pools",
         "telemetry.grid_intensity", "telemetry.anomaly_labels", "telemetry.rejects"),
    ),
    "placement": (
        placement.run,
        ("telemetry.workloads", "telemetry.node_pools", "telemetry.grid_intensity"),
        ("analytics.placements", "analytics.placement_runs"),
    ),
    "anomaly_train": (
        anomaly.run_train,
        ("telemetry.node_metrics",),
        ("analytics.anomaly_features", "analytics.anomaly_models"),
    ),
    "anomaly_score": (
        anomaly.run_score,
        ("analytics.anomaly_features", "analytics.anomaly_models", "telemetry.anomaly_labels"),
        ("analytics.anomalies",),
    ),
    "carbon": (
        carbon.run,
        ("telemetry.node_metrics", "telemetry.node_pools", "telemetry.grid_intensity",
         "telemetry.workloads", "analytics.placements"),
        ("analytics.carbon_usage", "analytics.carbon_daily", "analytics.carbon_recommendations"),
    ),
}  # fmt: skip


def run_job(
    spark: SparkSession,
    settings: Settings,
    job: str,
    dates: Sequence[str],
    recorder: LineageRecorder,
) -> list[JobResult]:
    """Run ``job`` for ``dates`` wrapped in START/COMPLETE (or FAIL) lineage events."""
    function, inputs, outputs = JOBS[job]
    with recorder.run(
        job,
        [f"{settings.catalog_name}.{t}" for t in inputs],
        [f"{settings.catalog_name}.{t}" for t in outputs],
        raw_inputs=LANDING_DATASETS if job == "ingest" else (),
    ):
        result = function(spark, settings, dates)
    return result if isinstance(result, list) else [result]
