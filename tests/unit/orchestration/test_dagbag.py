"""The DAGs in dags/ parse, carry what operators need, and are exactly what the spec says.

Parsed in a fresh interpreter with its own AIRFLOW_HOME (Airflow reads its config at import), the way
the dag-processor parses them: one process per file, Airflow already imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opslake.orchestration import dag_id, inlets, outlets, scheduled_steps
from opslake.orchestration.tasks import DEFAULT_INGEST_SCHEDULE, ingest_schedule
from opslake.pipeline.spec import STEPS

DAGS = Path(__file__).resolve().parents[3] / "dags"

PARSE = r"""
import json, sys, time
import airflow.sdk, airflow.models  # the dag-processor has these loaded before it parses a file
from airflow.dag_processing.dagbag import DagBag

out = {"files": {}, "dags": {}, "errors": {}}
for path in sys.argv[1:]:
    wall, cpu = time.perf_counter(), time.process_time()
    bag = DagBag(dag_folder=path)
    out["files"][path] = [time.perf_counter() - wall, time.process_time() - cpu]
    out["errors"].update(bag.import_errors)
    for dag_id, dag in bag.dags.items():
        condition = getattr(dag.timetable, "asset_condition", None)
        out["dags"][dag_id] = {
            "file": path,
            "owner": dag.owner,
            "tags": sorted(dag.tags),
            "doc_md": dag.doc_md or "",
            "timetable": type(dag.timetable).__name__,
            "cron": getattr(dag.timetable, "expression", None),
            "condition": type(condition).__name__,
            "schedule_assets": sorted(a.uri for a in getattr(condition, "objects", ())),
            "tasks": {
                t.task_id: {
                    "retries": t.retries,
                    "backoff": t.retry_exponential_backoff,
                    "timeout_s": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                    "outlets": sorted(a.uri for a in t.outlets),
                    "on_failure": bool(t.on_failure_callback),
                }
                for t in dag.tasks
            },
        }
out["heavy"] = sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "sklearn"))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "OPSLAKE_INGEST_SCHEDULE": "*/5 * * * *",
        "PATH": "/usr/bin:/bin",
    }
    # One interpreter per file, as the dag-processor does, so no file profits from another's imports.
    procs = [
        subprocess.Popen([sys.executable, "-c", PARSE, str(p)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for p in sorted(DAGS.glob("*.py"))
    ]  # fmt: skip
    merged: dict[str, Any] = {"files": {}, "dags": {}, "errors": {}, "heavy": []}
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-3000:]
        one = json.loads(stdout.strip().splitlines()[-1])
        for key in ("files", "dags", "errors"):
            merged[key].update(one[key])
        merged["heavy"] += one["heavy"]
    return merged


def test_no_import_errors_and_no_spark_or_sklearn_at_parse_time(parsed: dict[str, Any]) -> None:
    assert parsed["errors"] == {}
    assert parsed["heavy"] == []


def test_each_file_parses_in_about_a_second_of_cpu(parsed: dict[str, Any]) -> None:
    # Target 1 s: ~0.6-0.8 s wall on an idle 2-core box. Bound on CPU time, with headroom, because
    # wall time on a shared, loaded machine says more about the neighbours than about the file.
    for path, (wall, cpu) in parsed["files"].items():
        print(f"parse {Path(path).name}: {wall:.2f} s wall, {cpu:.2f} s cpu")
        assert cpu < 1.5, (path, wall, cpu)


def test_the_dags_are_the_steps_of_the_spec_and_lake_maintenance(parsed: dict[str, Any]) -> None:
    assert set(parsed["dags"]) == {dag_id(s) for s in STEPS} | {"lake_maintenance"}


def test_every_dag_has_owner_tags_docs_retries_backoff_timeout_and_a_failure_callback(
    parsed: dict[str, Any],
) -> None:
    for name, dag in parsed["dags"].items():
        assert dag["owner"] == "opslake", name
        assert "opslake" in dag["tags"], name
        assert dag["doc_md"].strip(), name
        for task_id, task in dag["tasks"].items():
            assert task["retries"] == (0 if task_id == "quality_gate" else 3), (name, task_id)
            assert task["backoff"] == 2.0, (name, task_id)
            assert task["timeout_s"] and task["timeout_s"] > 0, (name, task_id)
            assert task["on_failure"], (name, task_id)


def test_asset_schedules_and_outlets_are_the_inputs_and_outputs_of_each_step(
    parsed: dict[str, Any],
) -> None:
    for step in scheduled_steps():
        dag = parsed["dags"][dag_id(step.name)]
        assert dag["timetable"] == "AssetTriggeredTimetable", step.name
        assert dag["condition"] == "AssetAll", step.name  # runs when every input was updated
        assert dag["schedule_assets"] == sorted({a.uri for a in inlets(step.name)}), step.name
        assert dag["tasks"][step.name]["outlets"] == sorted(a.uri for a in outlets(step.name))


def test_telemetry_ingest_runs_on_its_configured_cron_and_updates_the_ingest_assets(
    parsed: dict[str, Any],
) -> None:
    dag = parsed["dags"]["telemetry_ingest"]
    assert dag["timetable"] == "CronDataIntervalTimetable"  # runs have a real data interval
    assert dag["cron"] == "*/5 * * * *"  # OPSLAKE_INGEST_SCHEDULE set by the fixture
    assert list(dag["tasks"]) == ["land_batch", "quality_gate", "ingest"]
    assert dag["tasks"]["ingest"]["outlets"] == sorted(a.uri for a in outlets("ingest"))
    assert dag["tasks"]["land_batch"]["outlets"] == dag["tasks"]["quality_gate"]["outlets"] == []


def test_default_ingest_schedule_is_every_15_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSLAKE_INGEST_SCHEDULE", raising=False)
    assert ingest_schedule() == DEFAULT_INGEST_SCHEDULE == "*/15 * * * *"
