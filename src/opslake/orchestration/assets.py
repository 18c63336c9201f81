"""Airflow Assets of the pipeline: one per Iceberg table a step writes; a step is scheduled on the
Assets of the tables it reads.

An Asset's URI is the table's OpenLineage dataset (namespace ``iceberg://<catalog>``, name
``<namespace>.<table>``, as ``opslake.lineage`` records it) written as a path,
``iceberg://<catalog>/<namespace>/<table>``; its name is the catalog name of the table,
``<catalog>.<namespace>.<table>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from opslake.pipeline.spec import PIPELINE, STEPS, Step

# The step that the time-scheduled DAG runs after landing a batch; every other step runs in its own
# DAG, scheduled on its inputs.
INGEST = "ingest"
INGEST_DAG = "telemetry_ingest"


@dataclass(frozen=True)
class AssetRef:
    """What ``airflow.sdk.Asset(name=..., uri=...)`` is built from."""

    name: str
    uri: str


def asset_for(table: str, catalog: str = "lake") -> AssetRef:
    """The Asset of the table ``table`` (``namespace.name``, a key of the spec's tables)."""
    namespace, name = table.split(".")
    return AssetRef(name=f"{catalog}.{table}", uri=f"iceberg://{catalog}/{namespace}/{name}")


def outlets(step: str, catalog: str = "lake") -> tuple[AssetRef, ...]:
    """The Assets a run of ``step`` updates: one per declared output table."""
    return tuple(asset_for(t, catalog) for t in STEPS[step].outputs)


def inlets(step: str, catalog: str = "lake") -> tuple[AssetRef, ...]:
    """The Assets ``step`` reads, which schedule its DAG (it runs once all were updated)."""
    return tuple(asset_for(t, catalog) for t in STEPS[step].inputs)


def dag_id(step: str) -> str:
    """The DAG that runs ``step``: ``telemetry_ingest`` for ingest, else the step's own name."""
    return INGEST_DAG if step == INGEST else STEPS[step].name


def scheduled_steps() -> tuple[Step, ...]:
    """The steps that get an Asset-scheduled DAG: every step that reads tables (all but ingest)."""
    return tuple(s for s in PIPELINE if s.inputs)
