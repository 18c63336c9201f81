"""`lake_maintenance`: Iceberg upkeep of every table the pipeline declares, as one Spark application
(`spark_jobs/lake_maintenance.py`), daily.

Per table, through Iceberg's Spark procedures: `rewrite_data_files` bin-packs partitions made of several
small files; `expire_snapshots` drops old snapshots and the files only they referenced (among them the
files the compaction replaced); `remove_orphan_files` deletes unreferenced files (failed or killed
writes) older than a safety window, so a write in flight is never touched. Then the `sql/` views are
applied again (Trino's on the stack). A table that fails is named in the log and fails the run once
the others are done; re-running is safe.
"""

from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import CronTriggerTimetable, dag, task

from opslake.lake.maintenance import MaintenancePolicy, maintenance_schedule, policy_doc
from opslake.orchestration.tasks import START_DATE, TAGS, default_args

logger = logging.getLogger(__name__)


@dag(
    dag_id="lake_maintenance",
    schedule=CronTriggerTimetable(maintenance_schedule(), timezone="UTC"),
    start_date=START_DATE,
    catchup=False,  # a missed day is covered by the next run: maintenance is not per interval
    max_active_runs=1,
    tags=[*TAGS, "maintenance"],
    default_args=default_args(timeout=dt.timedelta(hours=2)),
    doc_md=__doc__ + "\n" + policy_doc(MaintenancePolicy.from_env(), maintenance_schedule()),
)
def lake_maintenance() -> None:
    @task
    def maintain() -> None:
        from opslake.lake.maintenance import submit_maintenance

        submit_maintenance(logger)

    maintain()


lake_maintenance()
