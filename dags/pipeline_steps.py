"""One DAG per step of the pipeline spec that reads tables (placement, anomaly_train, anomaly_score,
carbon), scheduled on the Assets of the tables it reads: it runs once all of them were updated.

Derived, not restated: a step added to the spec gets its DAG here. Each run processes the dates its
triggering Asset events carry (or `conf={"dates": [...]}` of a manual trigger), as a spark-submit of
`spark_jobs/<step>.py`, and records those dates on the events of the Assets it updates.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow.sdk import DAG, Asset, dag, get_current_context, task

from opslake.orchestration import AssetRef, dag_id, inlets, outlets, scheduled_steps
from opslake.orchestration.tasks import (
    START_DATE,
    TAGS,
    asset_extra,
    catalog_name,
    default_args,
    run_dates,
    spark_step,
    step_doc,
)

CATALOG = catalog_name()


def _assets(refs: Iterable[AssetRef]) -> list[Asset]:
    return [Asset(name=r.name, uri=r.uri) for r in refs]


def step_dag(step: str) -> DAG:
    """The Asset-scheduled DAG that runs ``step``."""
    reads, writes = _assets(inlets(step, CATALOG)), _assets(outlets(step, CATALOG))

    @dag(
        dag_id=dag_id(step),
        schedule=reads,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=[*TAGS, "analytics"],
        default_args=default_args(),
        doc_md=step_doc(step),
    )
    def pipeline_step() -> None:
        @task(task_id=step, inlets=reads, outlets=writes)
        def run() -> list[str]:
            ctx = get_current_context()
            extras = [e.extra for events in ctx["triggering_asset_events"].values() for e in events]
            dates = run_dates(ctx["dag_run"].conf, extras, ctx.get("logical_date"))
            spark_step(step, dates)
            for asset in writes:
                ctx["outlet_events"][asset].extra = asset_extra(dates)
            return dates

        run()

    return pipeline_step()


for _step in scheduled_steps():
    globals()[dag_id(_step.name)] = step_dag(_step.name)
