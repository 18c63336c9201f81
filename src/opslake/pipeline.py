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
from opslake.jobs import land
from opslake.jobs.common import JobResult
from opslake.jobs.registry import JOBS, LANDING_DATASETS, run_job
from opslake.lake.preflight import require_services
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
    require_services(settings)  # fail now, naming the service, not mid-job
    outcome = PipelineRun()
    lineage = LineageRecorder(settings)

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

    with lineage.run("telemetry_land", [], [], raw_outputs=LANDING_DATASETS):
        step("land", land_all)
    spark = spark_factory()
    for job in JOBS:
        step(job, lambda job=job: run_job(spark, settings, job, outcome.dates, lineage))  # type: ignore[misc]
        if job == "ingest":
            outcome.dates = ingested_dates(outcome.results)
    return outcome


def ingested_dates(results: list[JobResult]) -> list[str]:
    """The logical dates the node-metrics ingest covered: what the downstream jobs process."""
    for result in results:
        if result.job == "ingest.node_metrics":
            return sorted(str(d) for d in result.metrics["dates"])  # type: ignore[attr-defined]
    return []
