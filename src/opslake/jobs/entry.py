"""Shared ``main()`` for the spark-submit entry points in ``spark_jobs/``: parse args, build the session,
run one job inside an OpenLineage run, stop the session."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from opslake.config import Settings, load_settings
from opslake.exceptions import OpslakeError
from opslake.jobs import anomaly, carbon, ingest, placement
from opslake.jobs.common import JobResult
from opslake.lineage import LineageRecorder

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

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
        anomaly.run_train, ("telemetry.node_metrics",), ("analytics.anomaly_models",)
    ),
    "anomaly_score": (
        anomaly.run_score,
        ("telemetry.node_metrics", "analytics.anomaly_models", "telemetry.anomaly_labels"),
        ("analytics.anomalies",),
    ),
    "carbon": (
        carbon.run,
        ("telemetry.node_metrics", "telemetry.node_pools", "telemetry.grid_intensity",
         "analytics.placements"),
        ("analytics.carbon_usage", "analytics.carbon_daily", "analytics.carbon_recommendations"),
    ),
}  # fmt: skip


def main(job: str, argv: Sequence[str] | None = None) -> int:
    """Run ``job`` for the logical ``--date``s given (ingest: all landed dates when none given)."""
    from opslake.lake.session import build_session

    parser = argparse.ArgumentParser(prog=f"spark_jobs/{job}.py")
    parser.add_argument("--date", action="append", dest="dates", help="logical date YYYY-MM-DD")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.profile)
    function, inputs, outputs = JOBS[job]
    if job != "ingest" and not args.dates:
        parser.error(f"{job} needs at least one --date")
    spark = build_session(settings, app_name=f"opslake-{job}")
    try:
        recorder = LineageRecorder(settings)
        with recorder.run(
            job,
            [f"{settings.catalog_name}.{t}" for t in inputs],
            [f"{settings.catalog_name}.{t}" for t in outputs],
            raw_inputs=["telemetry"] if job == "ingest" else (),
        ):
            result = function(spark, settings, args.dates or [])
        for item in result if isinstance(result, list) else [result]:
            logger.info("%s: %s %s", item.job, item.rows_written, item.metrics)
    except OpslakeError as exc:
        logger.error("%s failed: %s", job, exc)
        return 1
    finally:
        spark.stop()
    return 0
