"""The DAGs run for real under ``dag.test()``: Airflow metadata in SQLite (``airflow db migrate``), the
tasks spark-submit the steps against a small embedded lake of the session's Spark catalog.

``telemetry_ingest`` lands one 15-minute interval (12:00-12:15) and ingests it, recording the dates on its Asset
events; then ``placement`` places exactly the workloads ingested for that date.
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
from opslake.orchestration import outlets

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
