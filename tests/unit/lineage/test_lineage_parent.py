"""A job launched by an Airflow task records that task's run as its OpenLineage parent, and the DAG run
as the root: parsed from ``OPENLINEAGE_PARENT_ID`` / ``OPENLINEAGE_ROOT_PARENT_ID``, put on every event
of the job's runs as the ``parent`` facet (OpenLineage ParentRunFacet: ``run``, ``job``, ``root``)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from opslake.config import Settings
from opslake.lineage import LineageRecorder, ParentRun, RunRef, parent_from_env, parse_run_ref

TASK_RUN = "01a2032e-5da0-7993-a145-97b37650d897"
DAG_RUN = "01a2032e-5da0-7df0-81c8-0b57b162a19f"
PARENT_ID = f"opslake/telemetry_ingest.ingest/{TASK_RUN}"
ROOT_ID = f"opslake/telemetry_ingest/{DAG_RUN}"
PARENT_SCHEMA = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"


def test_a_parent_id_is_namespace_job_and_run_id() -> None:
    assert parse_run_ref(PARENT_ID) == RunRef("opslake", "telemetry_ingest.ingest", TASK_RUN)
    assert str(parse_run_ref(PARENT_ID)) == PARENT_ID
    # The namespace is the first segment, the run id the last: a job name may hold a slash.
    assert parse_run_ref(f"ns/a/b/{TASK_RUN}") == RunRef("ns", "a/b", TASK_RUN)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"opslake/{TASK_RUN}", "expected <namespace>/<job name>/<run id>"),
        (f"/job/{TASK_RUN}", "expected <namespace>/<job name>/<run id>"),
        ("opslake/job/", "expected <namespace>/<job name>/<run id>"),
        ("opslake/job/run-1", "run id 'run-1' of 'opslake/job/run-1' is not a UUID"),
    ],
)
def test_a_malformed_parent_id_is_refused_naming_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        parse_run_ref(value)


def test_the_parent_from_the_environment_with_its_root() -> None:
    found = parent_from_env(
        {"OPENLINEAGE_PARENT_ID": PARENT_ID, "OPENLINEAGE_ROOT_PARENT_ID": ROOT_ID}
    )
    assert found == ParentRun(
        parent=RunRef("opslake", "telemetry_ingest.ingest", TASK_RUN),
        root=RunRef("opslake", "telemetry_ingest", DAG_RUN),
    )
    assert found.env() == {
        "OPENLINEAGE_PARENT_ID": PARENT_ID,
        "OPENLINEAGE_ROOT_PARENT_ID": ROOT_ID,
    }


def test_without_a_root_the_parent_is_the_root_and_without_a_parent_there_is_none() -> None:
    alone = parent_from_env({"OPENLINEAGE_PARENT_ID": PARENT_ID})
    assert alone is not None
    assert alone.root == alone.parent
    assert parent_from_env({}) is None
    assert parent_from_env({"OPENLINEAGE_ROOT_PARENT_ID": ROOT_ID}) is None


def test_a_malformed_parent_is_logged_and_ignored_a_malformed_root_falls_back_to_the_parent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert parent_from_env({"OPENLINEAGE_PARENT_ID": "garbage"}) is None
        kept = parent_from_env(
            {"OPENLINEAGE_PARENT_ID": PARENT_ID, "OPENLINEAGE_ROOT_PARENT_ID": "opslake/x/y"}
        )
    assert kept is not None
    assert kept.root == kept.parent
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "OPENLINEAGE_PARENT_ID ignored, lineage runs get no parent",
        "OPENLINEAGE_ROOT_PARENT_ID ignored, the parent is taken as the root",
    ]


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_event_of_a_launched_jobs_runs_carries_the_parent_facet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_PARENT_ID", PARENT_ID)
    monkeypatch.setenv("OPENLINEAGE_ROOT_PARENT_ID", ROOT_ID)
    settings = Settings(home=tmp_path / "lake", out_dir=tmp_path / "out")
    recorder = LineageRecorder(settings)
    with recorder.run("ingest", [], ["lake.telemetry.node_metrics"]) as first:
        pass
    with pytest.raises(RuntimeError), recorder.run("ingest", [], []) as second:
        raise RuntimeError("killed")

    sent = events(settings.lineage_file)
    assert [(e["eventType"], e["run"]["runId"]) for e in sent] == [
        ("START", first), ("COMPLETE", first), ("START", second), ("FAIL", second),
    ]  # fmt: skip
    for event in sent:
        parent = event["run"]["facets"]["parent"]
        # The spec's shape: job {namespace, name}, run {runId}, root {job, run}; a UUID run id.
        assert parent == {
            "_producer": parent["_producer"],
            "_schemaURL": PARENT_SCHEMA,
            "job": {"namespace": "opslake", "name": "telemetry_ingest.ingest"},
            "run": {"runId": TASK_RUN},
            "root": {
                "job": {"namespace": "opslake", "name": "telemetry_ingest"},
                "run": {"runId": DAG_RUN},
            },
        }
        assert parent["_producer"].startswith("https://github.com/OpenLineage/OpenLineage")
    assert sent[3]["run"]["facets"]["errorMessage"]["message"] == "RuntimeError: killed"


def test_a_run_nobody_launched_has_no_parent_facet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENLINEAGE_PARENT_ID", raising=False)
    settings = Settings(home=tmp_path / "lake", out_dir=tmp_path / "out")
    with LineageRecorder(settings).run("ingest", [], []):
        pass
    assert [e["run"]["facets"] for e in events(settings.lineage_file)] == [{}, {}]


def test_an_explicit_parent_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_PARENT_ID", PARENT_ID)
    other = RunRef("other", "job", str(uuid.uuid4()))
    settings = Settings(home=tmp_path / "lake", out_dir=tmp_path / "out")
    with LineageRecorder(settings, parent=ParentRun(other, other)).run("ingest", [], []):
        pass
    assert {
        e["run"]["facets"]["parent"]["run"]["runId"] for e in events(settings.lineage_file)
    } == {other.run_id}
