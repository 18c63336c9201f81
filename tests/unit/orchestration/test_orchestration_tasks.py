"""Run-time choices of the tasks: which dates a run processes, and the DAG docs from the spec."""

from __future__ import annotations

import datetime as dt

import pytest

from opslake.orchestration.tasks import default_args, run_dates, step_doc

NOON = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)


def test_conf_dates_win_then_asset_event_dates_then_the_logical_date() -> None:
    events = [{"dates": ["2026-11-21"]}, {"dates": ["2026-11-20"]}]
    assert run_dates({"dates": ["2026-11-23", "2026-11-23"]}, events, NOON) == ["2026-11-23"]
    assert run_dates({}, events, NOON) == ["2026-11-20", "2026-11-21"]
    assert run_dates(None, [], NOON) == ["2026-11-22"]
    late = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    assert run_dates(None, [{}], late) == ["2026-11-23"]  # dates are UTC


def test_a_run_with_no_dates_at_all_fails_and_says_how_to_trigger() -> None:
    with pytest.raises(ValueError, match="conf"):
        run_dates(None, [{}], None)


def test_doc_names_the_entry_point_and_every_table_of_the_step() -> None:
    doc = step_doc("placement")
    assert "spark_jobs/placement.py" in doc
    for table in ("telemetry.workloads", "telemetry.node_pools", "analytics.placements"):
        assert f"`{table}`" in doc
    assert "`telemetry/node_metrics`" in step_doc("ingest")  # landing datasets too


def test_default_args_backoff_doubles_and_is_capped() -> None:
    args = default_args(timeout=dt.timedelta(minutes=5))
    assert args["retries"] == 3 and args["retry_exponential_backoff"] == 2.0
    assert args["max_retry_delay"] == dt.timedelta(minutes=15)
    assert args["execution_timeout"] == dt.timedelta(minutes=5)
