"""`telemetry_ingest`: land the source's batch of each data interval, gate it with great-expectations
(a failure quarantines the batch and stops the run before anything is written), then ingest it.

Thin: the step, its tables (so its Assets) and its command come from the pipeline spec via
`opslake.orchestration`; the Spark work runs as a spark-submit of `spark_jobs/ingest.py`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, CronDataIntervalTimetable, dag, get_current_context, task

from opslake.orchestration import dag_id, outlets
from opslake.orchestration.tasks import (
    START_DATE,
    TAGS,
    asset_extra,
    catalog_name,
    data_interval,
    default_args,
    gate,
    ingest_dates,
    ingest_end_date,
    ingest_schedule,
    land,
    spark_step,
    step_doc,
)

STEP = "ingest"
OUTLETS = [Asset(name=a.name, uri=a.uri) for a in outlets(STEP, catalog_name())]


@dag(
    dag_id=dag_id(STEP),
    # Data intervals (previous tick .. this tick): each run lands and ingests exactly its interval.
    schedule=CronDataIntervalTimetable(ingest_schedule(), timezone="UTC"),
    start_date=START_DATE,
    end_date=ingest_end_date(),
    catchup=False,
    max_active_runs=1,
    tags=[*TAGS, "ingest"],
    default_args=default_args(timeout=dt.timedelta(minutes=30)),
    doc_md=__doc__ + "\n\n" + step_doc(STEP),
)
def telemetry_ingest() -> None:
    @task
    def land_batch() -> dict[str, int]:
        ctx = get_current_context()
        drop = (ctx["dag_run"].conf or {}).get("drop")  # a manual trigger may name an export
        return land(*data_interval(ctx), drop)

    @task(retries=0)  # a failed expectation does not get better by retrying
    def quality_gate() -> str:
        return gate(*data_interval(get_current_context()))

    @task(outlets=OUTLETS)
    def ingest() -> list[str]:
        ctx = get_current_context()
        dates = spark_step(STEP, ingest_dates(*data_interval(ctx)))
        for asset in OUTLETS:  # downstream runs read the dates from the Asset events
            ctx["outlet_events"][asset].extra = asset_extra(dates)
        return dates

    land_batch() >> quality_gate() >> ingest()


telemetry_ingest()
