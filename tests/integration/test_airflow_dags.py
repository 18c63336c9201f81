"""The DAGs run for real under ``dag.test()``: Airflow metadata in SQLite (``airflow db migrate``), the
tasks spark-submit the steps against a small embedded lake of the session's Spark catalog.

``telemetry_ingest`` lands one 15-minute interval (12:00-12:15) and ingests it, recording the dates on its Asset
events; then ``placement`` places exactly the workloads ingested for that date. The OpenLineage provider
writes its DAG and task events to the lake's lineage file, beside the Spark jobs' own events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from opslake.config import Settings
from opslake.lineage import PRODUCER
from opslake.orchestration import outlets
from opslake.orchestration.lineage import airflow_openlineage_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAY = "2026-11-22"

RUN = r"""
import datetime as dt, json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.models.asset import AssetEvent, AssetModel
from airflow.utils.session import create_session

bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
ingest = bag.dags["telemetry_ingest"].test(logical_date=dt.datetime(2026, 11, 22, 12, 15, tzinfo=dt.UTC))
placement = bag.dags["placement"].test(run_conf={"dates": ["2026-11-22"]})
with create_session() as session:
    events = [(e.asset.uri, e.source_dag_id, e.extra) for e in session.query(AssetEvent).all()]
print(json.dumps({
    "ingest": str(ingest.state), "placement": str(placement.state),
    "interval": [ingest.data_interval_start.isoformat(), ingest.data_interval_end.isoformat()],
    "events": events,
}))
"""


@pytest.fixture(scope="module")
def airflow_env(
    isolated_lake: Callable[[str], Settings], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, dict[str, str]]:
    settings = isolated_lake("airflowlake")
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "OPSLAKE_HOME": str(settings.home), "OPSLAKE_OUT_DIR": str(settings.out_dir),
        "OPSLAKE_CATALOG_NAME": settings.catalog_name, "OPSLAKE_SPARK_MASTER": "local[2]",
        "OPSLAKE_SPARK_DRIVER_MEMORY": "1g", "OPSLAKE_SPARK_SHUFFLE_PARTITIONS": "2",
        "OPSLAKE_PLACEMENT_ITERATIONS": "300",
        **airflow_openlineage_env(settings),  # file transport: the jobs' lineage file
    }  # fmt: skip
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True)
    assert (home / "airflow.db").exists()
    return settings, env


@pytest.fixture(scope="module")
def ran(airflow_env: tuple[Settings, dict[str, str]]) -> dict[str, object]:
    _, env = airflow_env
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(DAGS)], env=env, capture_output=True, text=True,
        timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-4000:])
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_ingest_then_placement_succeed_for_one_interval(ran: dict[str, object]) -> None:
    assert ran["ingest"] == "success"
    assert ran["placement"] == "success"
    # A manual run at 12:15 covers the cron interval that ended then.
    assert ran["interval"] == ["2026-11-22T12:00:00+00:00", "2026-11-22T12:15:00+00:00"]


def test_ingest_and_placement_record_the_date_on_every_asset_they_update(
    ran: dict[str, object], airflow_env: tuple[Settings, dict[str, str]]
) -> None:
    catalog = airflow_env[0].catalog_name
    events = ran["events"]
    assert isinstance(events, list)
    by_dag: dict[str, set[str]] = {}
    for uri, dag, extra in events:
        assert extra == {"dates": [DAY]}, (uri, dag, extra)
        by_dag.setdefault(dag, set()).add(uri)
    assert by_dag == {
        "telemetry_ingest": {a.uri for a in outlets("ingest", catalog)},
        "placement": {a.uri for a in outlets("placement", catalog)},
    }


def test_placement_placed_exactly_the_workloads_ingested_for_the_date(
    ran: dict[str, object], spark: SparkSession, airflow_env: tuple[Settings, dict[str, str]]
) -> None:
    name = airflow_env[0].catalog_name
    spark.catalog.refreshTable(f"{name}.telemetry.workloads")
    workloads = spark.sql(
        f"SELECT workload_id FROM {name}.telemetry.workloads WHERE dt = DATE'{DAY}'"
    ).collect()
    placed = spark.sql(
        f"SELECT workload_id FROM {name}.analytics.placements WHERE dt = DATE'{DAY}'"
    ).collect()
    assert len(workloads) > 0
    assert sorted(r[0] for r in placed) == sorted(r[0] for r in workloads)
    metrics = spark.sql(
        f"SELECT count(*), min(ts), max(ts) FROM {name}.telemetry.node_metrics"
    ).collect()[0]
    assert metrics[0] == 200 * 3  # the generator's 200 nodes x three 5-minute samples
    assert (metrics[1].hour, metrics[1].minute, metrics[2].minute) == (12, 0, 10)


@pytest.mark.parametrize(
    ("dag", "task", "job"),
    [("telemetry_ingest", "ingest", "ingest"), ("placement", "placement", "placement")],
)
def test_the_spark_jobs_lineage_run_is_a_child_of_the_airflow_task_that_launched_it(
    ran: dict[str, object],
    airflow_env: tuple[Settings, dict[str, str]],
    dag: str,
    task: str,
    job: str,
) -> None:
    settings = airflow_env[0]
    namespace = settings.lineage_namespace
    events = [json.loads(line) for line in settings.lineage_file.read_text().splitlines()]

    def runs(name: str, airflow: bool) -> dict[str, list[dict[str, object]]]:
        found: dict[str, list[dict[str, object]]] = {}
        for e in events:
            if (e["job"]["namespace"], e["job"]["name"]) == (namespace, name) and (
                e["producer"] != PRODUCER
            ) == airflow:
                found.setdefault(e["run"]["runId"], []).append(e)
        return found

    # One run each of the DAG, of the task (the provider's START/COMPLETE) and of the Spark job.
    (dag_run,) = runs(dag, airflow=True)
    ((task_run, task_events),) = runs(f"{dag}.{task}", airflow=True).items()
    ((job_run, job_events),) = runs(job, airflow=False).items()
    assert [e["eventType"] for e in task_events] == ["START", "COMPLETE"]
    assert [e["eventType"] for e in job_events] == ["START", "COMPLETE"]
    assert len({dag_run, task_run, job_run}) == 3

    def link(parent: object) -> object:
        assert isinstance(parent, dict)
        return {k: v for k, v in parent.items() if not k.startswith("_")}

    root = {"job": {"namespace": namespace, "name": dag}, "run": {"runId": dag_run}}
    for event in job_events:  # DAG run -> task run -> Spark job run
        assert link(event["run"]["facets"]["parent"]) == {
            "job": {"namespace": namespace, "name": f"{dag}.{task}"},
            "run": {"runId": task_run},
            "root": root,
        }
    for event in task_events:  # and the provider links the task to the same DAG run
        parent = event["run"]["facets"]["parent"]
        assert (parent["run"]["runId"], parent["job"]["name"]) == (dag_run, dag)
        job_of_root, run_of_root = parent["root"]["job"], parent["root"]["run"]
        assert (job_of_root["namespace"], job_of_root["name"], run_of_root["runId"]) == (
            namespace, dag, dag_run,
        )  # fmt: skip


def test_the_provider_records_every_task_of_the_dags_in_the_lineage_file(
    ran: dict[str, object], airflow_env: tuple[Settings, dict[str, str]]
) -> None:
    settings = airflow_env[0]
    events = [json.loads(line) for line in settings.lineage_file.read_text().splitlines()]
    airflow = [e for e in events if e["producer"] != PRODUCER]
    assert {e["job"]["namespace"] for e in airflow} == {settings.lineage_namespace}
    seen: dict[str, list[str]] = {}
    for e in airflow:
        seen.setdefault(e["job"]["name"], []).append(e["eventType"])
    # dag.test() runs no scheduler, which is what emits a DAG run's START; its tasks are complete.
    assert seen == {
        "telemetry_ingest": ["COMPLETE"],
        "telemetry_ingest.land_batch": ["START", "COMPLETE"],
        "telemetry_ingest.quality_gate": ["START", "COMPLETE"],
        "telemetry_ingest.ingest": ["START", "COMPLETE"],
        "placement": ["COMPLETE"],
        "placement.placement": ["START", "COMPLETE"],
    }
