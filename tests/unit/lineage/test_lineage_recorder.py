"""Lineage never breaks a run: failed deliveries are logged, counted and spooled, never raised."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from opslake.config import Settings
from opslake.lineage import LineageCounts, LineageRecorder, Spool

if TYPE_CHECKING:
    from tests.unit.lineage.conftest import LineageEndpoint

INPUTS = ["lake.telemetry.node_metrics", "lake.telemetry.node_pools"]
OUTPUTS = ["lake.analytics.placements"]
RAW = ["telemetry/node_metrics"]


def spooled(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Spool(settings.lineage_spool_file).read()]


def datasets(event: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event[side]]


def test_a_committed_job_completes_when_marquez_is_down_and_its_events_are_spooled(
    http_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = LineageRecorder(http_settings)
    committed = []
    with caplog.at_level(logging.WARNING), recorder.run("placement", INPUTS, OUTPUTS, RAW) as run:
        committed.append(run)

    events = spooled(http_settings)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert {e["job"]["name"] for e in events} == {"placement"}
    assert {e["job"]["namespace"] for e in events} == {"opslake"}
    assert {e["run"]["runId"] for e in events} == set(committed)
    raw_ns = (http_settings.home.resolve() / "raw").as_uri()
    for event in events:
        assert datasets(event, "inputs") == [
            ("iceberg://lake", "telemetry.node_metrics"),
            ("iceberg://lake", "telemetry.node_pools"),
            (raw_ns, "telemetry/node_metrics"),
        ]
        assert datasets(event, "outputs") == [("iceberg://lake", "analytics.placements")]
    assert recorder.counts == LineageCounts(sent=0, spooled=2, dropped=0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one failure per run, not one per event
    assert warnings[0].startswith(f"Marquez at {http_settings.lineage_url} unreachable: ")
    assert str(http_settings.lineage_spool_file) in warnings[0]


def test_the_jobs_own_exception_propagates_unchanged_and_fail_is_spooled(
    http_settings: Settings,
) -> None:
    recorder = LineageRecorder(http_settings)
    boom = ValueError("boom")
    with (
        pytest.raises(ValueError, match=r"^boom$") as raised,
        recorder.run("carbon", INPUTS, OUTPUTS),
    ):
        raise boom
    assert raised.value is boom

    events = spooled(http_settings)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"]
    error = events[1]["run"]["facets"]["errorMessage"]
    assert error["message"] == "ValueError: boom"
    assert error["programmingLanguage"] == "python"
    assert "raise boom\nValueError: boom" in error["stackTrace"]
    assert recorder.counts == LineageCounts(sent=0, spooled=2, dropped=0)


def test_events_are_posted_to_a_live_endpoint_and_nothing_is_spooled(
    tmp_path: Path, endpoint: LineageEndpoint
) -> None:
    settings = Settings(
        home=tmp_path, out_dir=tmp_path / "out", lineage_transport="http", lineage_url=endpoint.url
    )
    recorder = LineageRecorder(settings)
    with recorder.run("ingest", [], ["lake.telemetry.node_metrics"], raw_inputs=RAW):
        pass
    assert [json.loads(b)["eventType"] for b in endpoint.bodies] == ["START", "COMPLETE"]
    assert endpoint.paths == ["/api/v1/lineage", "/api/v1/lineage"]
    assert recorder.counts == LineageCounts(sent=2, spooled=0, dropped=0)
    assert not settings.lineage_spool_file.exists()


def test_after_a_failure_the_run_spools_without_retrying_so_order_is_kept(
    http_settings: Settings,
) -> None:
    class FlakyOnce:
        """Fails the first send only: the recorder must not send later events ahead of it."""

        target = "Marquez at http://flaky"

        def __init__(self) -> None:
            self.calls: list[str] = []

        def send(self, event_json: str) -> None:
            self.calls.append(event_json)
            if len(self.calls) == 1:
                raise requests.ConnectionError("connection refused")

        def close(self) -> None:
            pass

    sender = FlakyOnce()
    recorder = LineageRecorder(http_settings, sender=sender)
    with recorder.run("anomaly_train", INPUTS, OUTPUTS):
        pass
    with recorder.run("anomaly_score", INPUTS, OUTPUTS):
        pass
    assert len(sender.calls) == 1
    events = spooled(http_settings)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("anomaly_train", "START"),
        ("anomaly_train", "COMPLETE"),
        ("anomaly_score", "START"),
        ("anomaly_score", "COMPLETE"),
    ]
    assert recorder.counts == LineageCounts(sent=0, spooled=4, dropped=0)


def test_an_unwritable_lineage_file_spools_instead(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "lineage.jsonl").mkdir(parents=True)  # a directory where the file should be
    settings = Settings(home=tmp_path, out_dir=out, lineage_transport="file")
    recorder = LineageRecorder(settings)
    with recorder.run("ingest", [], OUTPUTS):
        pass
    assert [e["eventType"] for e in spooled(settings)] == ["START", "COMPLETE"]
    assert recorder.counts == LineageCounts(sent=0, spooled=2, dropped=0)


def test_when_transport_and_spool_both_fail_the_loss_is_counted_and_the_error_still_propagates(
    tmp_path: Path, closed_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings = Settings(
        home=tmp_path,
        out_dir=tmp_path / "out",
        lineage_transport="http",
        lineage_url=closed_url,
        lineage_spool=str(blocker / "spool.jsonl"),  # parent is a file: the spool cannot be written
    )
    recorder = LineageRecorder(settings)
    with (
        pytest.raises(KeyError, match="no node metrics"),
        caplog.at_level(logging.ERROR),
        recorder.run("ingest", [], OUTPUTS),
    ):
        raise KeyError("no node metrics")
    assert recorder.counts == LineageCounts(sent=0, spooled=0, dropped=2)
    lost = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lost) == 2 and all(m.startswith("lineage event lost: spool ") for m in lost)


def test_the_file_transport_writes_one_event_per_line(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, out_dir=tmp_path / "out", lineage_transport="file")
    recorder = LineageRecorder(settings)
    with recorder.run("telemetry_land", [], [], raw_outputs=RAW):
        pass
    lines = settings.lineage_file.read_text().splitlines()
    assert [json.loads(line)["eventType"] for line in lines] == ["START", "COMPLETE"]
    assert recorder.counts == LineageCounts(sent=2, spooled=0, dropped=0)


def test_outputs_carry_the_declared_column_lineage(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, out_dir=tmp_path / "out", lineage_transport="file")
    columns = {
        "lake.analytics.placement_runs": {
            "cost_per_hour": ["lake.telemetry.node_pools.price_per_hour"]
        }
    }
    with LineageRecorder(settings).run(
        "placement", ["lake.telemetry.node_pools"], ["lake.analytics.placement_runs"],
        column_lineage=columns,
    ):  # fmt: skip
        pass
    complete = json.loads(settings.lineage_file.read_text().splitlines()[-1])
    facet = complete["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert facet == {
        "cost_per_hour": {
            "inputFields": [
                {"namespace": "iceberg://lake", "name": "telemetry.node_pools",
                 "field": "price_per_hour", "transformations": []}
            ],
            "transformationDescription": "",
            "transformationType": "",
        }
    }  # fmt: skip
