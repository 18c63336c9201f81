"""Runs steps of the spec: read (as of the run's dates), compute, write every declared output, report.

``run_step`` is the one way a step runs, from ``opslake run`` (the whole pipeline in one session) and
from ``spark_jobs/<step>.py`` (one step per spark-submit); each run is one OpenLineage run whose inputs
and outputs are the step's declared datasets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from opslake.config import Settings
from opslake.exceptions import NoDataError, SchemaMismatchError
from opslake.jobs import land
from opslake.jobs.common import JobResult
from opslake.lake.preflight import require_services
from opslake.lake.tables import replace_dates, replace_partitions
from opslake.lineage import LineageRecorder
from opslake.pipeline.context import StepContext
from opslake.pipeline.spec import LANDING_DATASETS, PIPELINE, Step
from opslake.pipeline.tables import TABLES
from opslake.telemetry import GeneratorConfig, generate
from opslake.telemetry.generator import malformed_node_metrics

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
REJECTS = "telemetry.rejects"


@dataclass
class PipelineRun:
    """Everything ``opslake run`` reports: per-step results and wall time per step."""

    results: list[JobResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    dates: list[str] = field(default_factory=list)
    lineage: dict[str, int] = field(default_factory=dict)  # events sent / spooled / dropped


def run_step(
    spark: SparkSession,
    settings: Settings,
    step: Step,
    dates: Sequence[str],
    lineage: LineageRecorder,
) -> JobResult:
    """Run ``step`` for ``dates`` inside one OpenLineage run; returns its row counts and metrics."""
    if not dates:
        raise NoDataError(f"{step.name}: no dates to process")
    ctx = StepContext(spark, settings, step.name, step.inputs, tuple(sorted(set(dates))))
    with lineage.run(
        step.name,
        [ctx.name(k) for k in step.inputs],
        [ctx.name(k) for k in step.outputs],
        raw_inputs=step.raw_inputs,
        column_lineage=_qualified(ctx, step),
        schemas={
            ctx.name(key): [(f.name, str(f.type)) for f in TABLES[key].schema]
            for key in (*step.inputs, *step.outputs)
        },
    ):
        try:
            outputs = step.compute(ctx)
            if set(outputs) != set(step.outputs):
                raise SchemaMismatchError(
                    f"{step.name} produced {sorted(outputs)}, its spec declares {list(step.outputs)}"
                )
            _write_all(ctx, step, outputs)
            metrics = step.summarize(ctx) if step.summarize else {}
        finally:
            for frame in ctx.scratch.values():
                if hasattr(frame, "unpersist"):
                    frame.unpersist()
    rows = metrics.pop("rows_written", None)
    return JobResult(job=step.name, rows_written=rows or {}, metrics=metrics)


def _qualified(ctx: StepContext, step: Step) -> dict[str, dict[str, list[str]]]:
    """The step's column lineage with catalog table names (``lake.telemetry.workloads.cpu``)."""
    return {
        ctx.name(output): {
            column: [f"{ctx.name(source.rsplit('.', 1)[0])}.{source.rsplit('.', 1)[1]}"
                     for source in sources]
            for column, sources in columns.items()
        }
        for output, columns in (step.column_lineage or {}).items()
    }  # fmt: skip


def _write_all(ctx: StepContext, step: Step, outputs: Mapping[str, DataFrame]) -> None:
    """Write every output; they are different tables, so their commits run concurrently."""

    def write(key: str) -> None:
        spec, name, frame = TABLES[key], ctx.name(key), outputs[key]
        if key == REJECTS:
            replace_dates(frame, name, spec, ctx.dates, sources=step.reject_sources)
        elif spec.by_date:
            replace_dates(frame, name, spec, ctx.dates)
        else:
            replace_partitions(frame, name, spec)

    # Operators (and the retry test) see in the task log when the Iceberg commits begin.
    logger.info("%s: writing %s for %s", step.name, ", ".join(step.outputs), ", ".join(ctx.dates))
    with ThreadPoolExecutor(max_workers=min(4, len(step.outputs))) as pool:
        for future in [pool.submit(write, key) for key in step.outputs]:
            future.result()


def run_pipeline(
    spark_factory: Callable[[], SparkSession],
    settings: Settings,
    config: GeneratorConfig,
    progress: Progress = lambda _: None,
) -> PipelineRun:
    """Generate and land ``config``'s telemetry, then run every step of the spec over its dates."""
    require_services(settings)  # fail now, naming the service, not mid-job
    outcome = PipelineRun()
    lineage = LineageRecorder(settings)
    dates = [(config.start + pd.Timedelta(days=d)).strftime("%Y-%m-%d") for d in range(config.days)]

    def timed(name: str, action: Callable[[], JobResult]) -> JobResult:
        progress(name)
        started = time.perf_counter()
        result = action()
        outcome.timings[name] = time.perf_counter() - started
        outcome.results.append(result)
        return result

    with lineage.run("telemetry_land", [], [], raw_outputs=LANDING_DATASETS):
        timed("land", lambda: land_generated(settings, config, dates[0]))
    spark = spark_factory()
    for step in PIPELINE:
        result = timed(step.name, lambda step=step: run_step(spark, settings, step, dates, lineage))  # type: ignore[misc]
        if step.name == "ingest" and not result.metrics["sources"]["node_metrics"]["accepted"]:  # type: ignore[index]
            raise NoDataError(f"no node metrics were ingested for {dates[0]}..{dates[-1]}")
    outcome.dates = dates
    outcome.lineage = asdict(lineage.counts)
    return outcome


def land_generated(settings: Settings, config: GeneratorConfig, snapshot_date: str) -> JobResult:
    """Land generated telemetry, plus a small batch of malformed rows as real sources send."""
    result = land.run(settings, generate(config), batch_id=f"gen-s{config.seed}",
                      logical_date=snapshot_date)  # fmt: skip
    arrived = config.start + pd.Timedelta(hours=12)
    dirty = land.run_external(
        settings, "node_metrics", malformed_node_metrics(config), "external", arrived
    )
    result.rows_written["node_metrics"] += dirty
    return result
