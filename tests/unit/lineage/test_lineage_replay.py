"""Replay: spooled events reach the endpoint in order, exactly as spooled; failures keep the rest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from opslake.cli import main
from opslake.config import Settings
from opslake.lineage import LineageRecorder, Spool, replay_spool

if TYPE_CHECKING:
    from tests.unit.lineage.conftest import LineageEndpoint


def spool_two_runs(settings: Settings) -> list[str]:
    """Run two jobs (one succeeds, one fails) while Marquez is down; return the spooled lines."""
    recorder = LineageRecorder(settings)
    with recorder.run("ingest", [], ["lake.telemetry.node_metrics"], raw_inputs=["telemetry/x"]):
        pass
    with pytest.raises(RuntimeError), recorder.run("placement", ["lake.telemetry.x"], []):
        raise RuntimeError("placement failed")
    lines = Spool(settings.lineage_spool_file).read()
    assert len(lines) == 4
    return lines


def pointed_at(settings: Settings, endpoint: LineageEndpoint) -> Settings:
    return settings.model_copy(update={"lineage_url": endpoint.url})


def test_replay_delivers_every_spooled_event_in_order_and_empties_the_spool(
    http_settings: Settings, endpoint: LineageEndpoint
) -> None:
    lines = spool_two_runs(http_settings)

    assert replay_spool(pointed_at(http_settings, endpoint)) == (4, 0)

    assert endpoint.bodies == lines  # byte for byte, in spool order
    assert [
        (json.loads(b)["job"]["name"], json.loads(b)["eventType"]) for b in endpoint.bodies
    ] == [
        ("ingest", "START"),
        ("ingest", "COMPLETE"),
        ("placement", "START"),
        ("placement", "FAIL"),
    ]
    assert endpoint.paths == ["/api/v1/lineage"] * 4
    assert not http_settings.lineage_spool_file.exists()
    assert Spool(http_settings.lineage_spool_file).read() == []


def test_replay_stops_at_the_first_rejected_event_and_keeps_it_and_the_rest_in_order(
    http_settings: Settings, endpoint: LineageEndpoint
) -> None:
    lines = spool_two_runs(http_settings)
    endpoint.statuses = {1: 500}  # the 2nd POST fails

    assert replay_spool(pointed_at(http_settings, endpoint)) == (1, 3)
    assert endpoint.bodies == lines[:1]
    assert endpoint.posts == 2  # nothing sent after the failure
    assert Spool(http_settings.lineage_spool_file).read() == lines[1:]

    # The next replay picks up where this one stopped.
    assert replay_spool(pointed_at(http_settings, endpoint)) == (3, 0)
    assert endpoint.bodies == lines


def test_replay_to_an_unreachable_endpoint_keeps_everything(http_settings: Settings) -> None:
    lines = spool_two_runs(http_settings)
    assert replay_spool(http_settings) == (0, 4)
    assert Spool(http_settings.lineage_spool_file).read() == lines


def test_a_torn_line_is_set_aside_and_does_not_block_the_queue(
    http_settings: Settings, endpoint: LineageEndpoint
) -> None:
    lines = spool_two_runs(http_settings)
    spool = Spool(http_settings.lineage_spool_file)
    # A writer killed mid-event leaves half a line without a newline; the next append must not glue to it.
    with spool.path.open("a") as handle:
        handle.write(lines[0][:40])
    spool.append(lines[1])

    assert replay_spool(pointed_at(http_settings, endpoint)) == (5, 0)
    assert endpoint.bodies == [*lines, lines[1]]
    assert spool.bad_path.read_text() == lines[0][:40] + "\n"


def test_replay_with_no_spool_sends_nothing(http_settings: Settings) -> None:
    assert replay_spool(http_settings) == (0, 0)


def test_cli_replay_reports_and_exits_zero_when_everything_was_delivered(
    http_settings: Settings,
    endpoint: LineageEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = spool_two_runs(http_settings)
    monkeypatch.setenv("OPSLAKE_OUT_DIR", str(http_settings.out_dir))
    monkeypatch.setenv("OPSLAKE_LINEAGE_TRANSPORT", "http")
    monkeypatch.setenv("OPSLAKE_LINEAGE_URL", endpoint.url)

    assert main(["lineage", "replay"]) == 0
    assert endpoint.bodies == lines
    out = " ".join(capsys.readouterr().out.split())
    assert f"lineage replay: 4 sent to Marquez at {endpoint.url}, 0 left in" in out


def test_cli_replay_exits_nonzero_when_events_are_left(
    http_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool_two_runs(http_settings)
    monkeypatch.setenv("OPSLAKE_OUT_DIR", str(http_settings.out_dir))
    monkeypatch.setenv("OPSLAKE_LINEAGE_TRANSPORT", "http")
    monkeypatch.setenv("OPSLAKE_LINEAGE_URL", http_settings.lineage_url)

    assert main(["lineage", "replay"]) == 1
    assert len(Spool(http_settings.lineage_spool_file).read()) == 4
