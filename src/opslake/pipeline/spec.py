"""The pipeline, declared once: each step's inputs, outputs, partition key and the functions that
compute it. The CLI runner, ``spark_jobs/*.py``, lineage (and the Airflow DAGs) are derived from this;
nothing else lists the steps or their datasets.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opslake.pipeline.column_lineage import CARBON, PLACEMENT, ColumnLineage
from opslake.pipeline.context import StepContext
from opslake.telemetry.schemas import SOURCES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

Compute = Callable[[StepContext], Mapping[str, "DataFrame"]]
Summarize = Callable[[StepContext], dict[str, Any]]


def _job(module: str, function: str) -> Callable[[StepContext], Any]:
    """``opslake.jobs.<module>.<function>``, imported on first call. The Airflow DAG files import this
    spec and the dag-processor parses them again and again: the jobs pull in pandas and scikit-learn
    (~2.5 s), the declarations alone import in ~0.1 s."""

    def call(ctx: StepContext) -> Any:
        return getattr(importlib.import_module(f"opslake.jobs.{module}"), function)(ctx)

    call.__name__ = function
    call.__qualname__ = f"{module}.{function}"
    return call


# Landing datasets (relative to the raw zone): written by the land step, read by ingest.
LANDING_DATASETS = tuple(f"telemetry/{source}" for source in SOURCES)


@dataclass(frozen=True)
class Step:
    """One step: ``compute`` returns a DataFrame per declared output; the runner writes them.

    Outputs partitioned by ``dt`` are replaced for the run's dates (the partition key); ``rejects``
    is replaced for the run's dates and this step's ``reject_sources`` only.
    """

    name: str
    compute: Compute
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    summarize: Summarize | None = None
    raw_inputs: tuple[str, ...] = ()
    reject_sources: tuple[str, ...] = ()
    partition_key: str = "dt"
    doc: str = ""
    column_lineage: ColumnLineage | None = None  # output table -> column -> input table.column


PIPELINE: tuple[Step, ...] = (
    Step(
        name="ingest",
        compute=_job("ingest", "compute"),
        summarize=_job("ingest", "summarize"),
        inputs=(),
        raw_inputs=LANDING_DATASETS,
        outputs=(*(f"telemetry.{s}" for s in SOURCES), "telemetry.rejects"),
        reject_sources=tuple(SOURCES),
        doc="validate landing files into the telemetry tables; bad rows to rejects with a reason",
    ),
    Step(
        name="placement",
        compute=_job("placement", "compute"),
        summarize=_job("placement", "summarize"),
        inputs=("telemetry.workloads", "telemetry.node_pools", "telemetry.grid_intensity"),
        outputs=("analytics.placements", "analytics.placement_runs"),
        doc="score workloads against pools, then bin-pack each (date, pool)",
        column_lineage=PLACEMENT,
    ),
    Step(
        name="anomaly_train",
        compute=_job("anomaly", "compute_train"),
        summarize=_job("anomaly", "summarize_train"),
        inputs=("telemetry.node_metrics",),
        outputs=("analytics.anomaly_features", "analytics.anomaly_models"),
        doc="features per node, one IsolationForest per provider, artifacts in object storage",
    ),
    Step(
        name="anomaly_score",
        compute=_job("anomaly", "compute_score"),
        summarize=_job("anomaly", "summarize_score"),
        inputs=(
            "analytics.anomaly_features",
            "analytics.anomaly_models",
            "telemetry.anomaly_labels",
            "telemetry.node_metrics",
        ),
        outputs=("analytics.anomalies", "analytics.anomaly_events"),
        doc="score the stored features with the broadcast models of the run's window; alert events "
        "per node and metric from the streaming detector",
    ),
    Step(
        name="carbon",
        compute=_job("carbon", "compute"),
        summarize=_job("carbon", "summarize"),
        inputs=(
            "telemetry.node_metrics",
            "telemetry.node_pools",
            "telemetry.grid_intensity",
            "telemetry.workloads",
            "analytics.placements",
        ),
        outputs=(
            "analytics.carbon_usage",
            "analytics.carbon_daily",
            "analytics.carbon_recommendations",
            "telemetry.rejects",
        ),
        reject_sources=("carbon",),  # opslake.jobs.carbon.REJECT_SOURCE (a test holds them equal)
        doc="CCF energy and emissions, SCI, time- and location-shift advice",
        column_lineage=CARBON,
    ),
)

STEPS: dict[str, Step] = {step.name: step for step in PIPELINE}


def step(name: str) -> Step:
    """The step called ``name``; an unknown name is a user error that lists the known ones."""
    from opslake.exceptions import ConfigError

    if name not in STEPS:
        raise ConfigError(f"unknown step {name!r}; known: {', '.join(STEPS)}")
    return STEPS[name]
