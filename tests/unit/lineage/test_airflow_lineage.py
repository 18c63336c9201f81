"""The Airflow side of lineage: the OpenLineage provider's transport sends to where the jobs send (the
lineage file, or Marquez under any path prefix), and a task hands its own run ids to its Spark job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.transport import get_default_factory

from opslake.config import Settings
from opslake.exceptions import ConfigError
from opslake.lineage import FileSender
from opslake.orchestration.lineage import airflow_openlineage_env

if TYPE_CHECKING:
    from tests.unit.lineage.conftest import LineageEndpoint

RUN_ID = "01a2032e-5da0-7993-a145-97b37650d897"


def provider_transport(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """The transport the provider's client builds from ``[openlineage] transport``."""
    return get_default_factory().create(json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"]))


def event(job: str) -> RunEvent:
    return RunEvent(
        eventType=RunState.START, eventTime=datetime.now(UTC).isoformat(), run=Run(runId=RUN_ID),
        job=Job(namespace="opslake", name=job), producer="test",
    )  # fmt: skip


def test_on_the_file_transport_airflow_appends_to_the_jobs_lineage_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "lake", out_dir=tmp_path / "out", lineage_namespace="ops")
    env = airflow_openlineage_env(settings)
    assert env == {
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "ops",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(settings.lineage_file.resolve()), "append": True}
        ),
    }
    assert settings.out_dir.is_dir()  # the provider's transport would not create it
    transport = provider_transport(env)
    transport.emit(event("telemetry_ingest.ingest"))
    FileSender(settings.lineage_file).send(json.dumps({"job": {"name": "ingest"}}))
    transport.emit(event("telemetry_ingest"))
    lines = settings.lineage_file.read_text().splitlines()
    assert [json.loads(line)["job"]["name"] for line in lines] == [
        "telemetry_ingest.ingest", "ingest", "telemetry_ingest",
    ]  # fmt: skip


@pytest.mark.parametrize("prefix", ["", "/datalake/marquez", "/datalake/marquez/"])
def test_on_http_airflow_posts_to_marquez_lineage_endpoint_keeping_a_path_prefix(
    endpoint: LineageEndpoint, tmp_path: Path, prefix: str
) -> None:
    settings = Settings(
        home=tmp_path, out_dir=tmp_path, lineage_transport="http", lineage_url=endpoint.url + prefix
    )
    transport = provider_transport(airflow_openlineage_env(settings))
    transport.emit(event("telemetry_ingest"))
    assert endpoint.paths == [prefix.rstrip("/") + "/api/v1/lineage"]
    assert json.loads(endpoint.bodies[0])["run"]["runId"] == RUN_ID


def test_an_unknown_transport_is_a_config_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, out_dir=tmp_path, lineage_transport="kafka")
    with pytest.raises(ConfigError, match="unknown lineage transport 'kafka'"):
        airflow_openlineage_env(settings)


# Airflow reads its config at import: a fresh interpreter with its own AIRFLOW_HOME and namespace.
PARENT = r"""
import datetime as dt, json
from types import SimpleNamespace
from airflow.providers.openlineage.utils.utils import (
    build_dag_run_ol_run_id, build_task_instance_ol_run_id,
)
from opslake.orchestration.lineage import task_lineage_env, task_parent

when = dt.datetime(2026, 11, 22, 12, 15, tzinfo=dt.UTC)

def ti(try_number, conf):
    run = SimpleNamespace(logical_date=when, run_after=when, clear_number=0, conf=conf)
    return SimpleNamespace(
        dag_id="telemetry_ingest", task_id="ingest", try_number=try_number, map_index=-1,
        dag_run=run, get_template_context=lambda: {"dag_run": run},
    )

upstream = {"openlineage": {"rootParentRunId": "01a2032e-5da0-7df0-81c8-0b57b162a19f",
                            "rootParentJobNamespace": "upstream", "rootParentJobName": "nightly"}}
print(json.dumps({
    "try1": task_parent(ti(1, {})).env(),
    "try2": task_parent(ti(2, {})).env(),
    "triggered": task_parent(ti(1, upstream)).env(),
    "task1": build_task_instance_ol_run_id("telemetry_ingest", "ingest", 1, when, -1),
    "task2": build_task_instance_ol_run_id("telemetry_ingest", "ingest", 2, when, -1),
    "dag": build_dag_run_ol_run_id("telemetry_ingest", when, 0),
    "outside": task_lineage_env(),
}))
"""


def test_a_task_hands_down_its_own_run_and_its_dag_run_as_the_provider_computes_them(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "AIRFLOW_HOME": str(tmp_path / "af"),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "ops",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": '{"type": "console"}',
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", PARENT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["try1"] == {
        "OPENLINEAGE_PARENT_ID": f"ops/telemetry_ingest.ingest/{got['task1']}",
        "OPENLINEAGE_ROOT_PARENT_ID": f"ops/telemetry_ingest/{got['dag']}",
    }
    # A retry is a new OpenLineage run of the task, under the same DAG run.
    assert got["try2"]["OPENLINEAGE_PARENT_ID"] == f"ops/telemetry_ingest.ingest/{got['task2']}"
    assert got["task2"] != got["task1"]
    assert got["try2"]["OPENLINEAGE_ROOT_PARENT_ID"] == got["try1"]["OPENLINEAGE_ROOT_PARENT_ID"]
    # A run triggered with an OpenLineage root in its conf keeps that root, as the task's events do.
    assert got["triggered"] == {
        "OPENLINEAGE_PARENT_ID": got["try1"]["OPENLINEAGE_PARENT_ID"],
        "OPENLINEAGE_ROOT_PARENT_ID": "upstream/nightly/01a2032e-5da0-7df0-81c8-0b57b162a19f",
    }
    assert got["outside"] == {}  # no running task: nothing to hand down
