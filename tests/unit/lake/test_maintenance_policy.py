"""The pure parts of Iceberg maintenance: the policy and its limits, the procedures' SQL, the tables."""

from __future__ import annotations

import datetime as dt

import pytest

from opslake.lake.maintenance import (
    DEFAULT_SCHEDULE,
    MIN_ORPHAN_AGE,
    MaintenancePolicy,
    _parser,
    compaction_filter,
    expire_sql,
    maintenance_schedule,
    orphans_sql,
    policy_from_args,
    rewrite_sql,
    selected_tables,
    table_names,
    timestamp_literal,
)
from opslake.pipeline.tables import ANOMALY_MODELS, NODE_METRICS, TABLES

NOW = dt.datetime(2026, 11, 22, 3, 30, 15, 250000, tzinfo=dt.UTC)


def test_defaults_keep_5_days_of_snapshots_and_files_younger_than_3_days() -> None:
    policy = MaintenancePolicy()
    assert policy.snapshot_age == dt.timedelta(days=5)
    assert policy.retain_last == 10
    assert policy.orphan_age == dt.timedelta(days=3)
    assert (policy.compact_days, policy.min_input_files) == (None, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"orphan_age": MIN_ORPHAN_AGE - dt.timedelta(seconds=1)}, "safety window"),
        ({"orphan_age": dt.timedelta(0)}, "safety window"),
        ({"retain_last": 0}, "retain_last"),
        ({"snapshot_age": dt.timedelta(hours=-1)}, "snapshot_age"),
        ({"compact_days": -1}, "compact_days"),
        ({"min_input_files": 1}, "min_input_files"),
    ],
)
def test_a_policy_that_could_lose_data_or_do_nothing_is_refused(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MaintenancePolicy(**change)  # type: ignore[arg-type]


def test_the_orphan_window_may_be_exactly_the_safety_window() -> None:
    assert MaintenancePolicy(orphan_age=MIN_ORPHAN_AGE).orphan_age == dt.timedelta(days=1)


def test_policy_from_the_environment_with_defaults_for_what_is_unset_or_empty() -> None:
    env = {
        "OPSLAKE_MAINTENANCE_SNAPSHOT_AGE_DAYS": "0.5",
        "OPSLAKE_MAINTENANCE_RETAIN_LAST": "3",
        "OPSLAKE_MAINTENANCE_ORPHAN_AGE_DAYS": "7",
        "OPSLAKE_MAINTENANCE_COMPACT_DAYS": "",
        "OPSLAKE_MAINTENANCE_MIN_INPUT_FILES": "5",
    }
    assert MaintenancePolicy.from_env(env) == MaintenancePolicy(
        snapshot_age=dt.timedelta(hours=12),
        retain_last=3,
        orphan_age=dt.timedelta(days=7),
        compact_days=None,
        min_input_files=5,
    )
    assert MaintenancePolicy.from_env({}) == MaintenancePolicy()
    with pytest.raises(ValueError, match="safety window"):
        MaintenancePolicy.from_env({"OPSLAKE_MAINTENANCE_ORPHAN_AGE_DAYS": "0.9"})
    with pytest.raises(ValueError):
        MaintenancePolicy.from_env({"OPSLAKE_MAINTENANCE_RETAIN_LAST": "many"})


def test_command_line_options_override_the_environment() -> None:
    args = _parser().parse_args(["--retain-last", "2", "--compact-days", "3"])
    env = {"OPSLAKE_MAINTENANCE_RETAIN_LAST": "9", "OPSLAKE_MAINTENANCE_ORPHAN_AGE_DAYS": "4"}
    policy = policy_from_args(args, env)
    assert (policy.retain_last, policy.compact_days) == (2, 3)
    assert policy.orphan_age == dt.timedelta(days=4)  # from the environment
    with pytest.raises(ValueError, match="safety window"):
        policy_from_args(_parser().parse_args(["--orphan-age-days", "0.1"]), {})


def test_schedule_is_daily_at_03_30_unless_configured() -> None:
    assert maintenance_schedule({}) == DEFAULT_SCHEDULE == "30 3 * * *"
    assert maintenance_schedule({"OPSLAKE_MAINTENANCE_SCHEDULE": " 0 2 * * 0 "}) == "0 2 * * 0"


def test_compaction_window_applies_to_date_partitioned_tables_only() -> None:
    today = dt.date(2026, 11, 22)
    assert compaction_filter(NODE_METRICS, today, 3) == "dt >= DATE '2026-11-19'"
    assert compaction_filter(NODE_METRICS, today, 0) == "dt >= DATE '2026-11-22'"
    assert compaction_filter(NODE_METRICS, today, None) is None
    assert compaction_filter(ANOMALY_MODELS, today, 3) is None  # partitioned by version


def test_procedure_calls_name_the_table_inside_the_catalog() -> None:
    assert rewrite_sql("lake", "telemetry.node_metrics", "dt >= DATE '2026-11-19'", 2) == (
        "CALL lake.system.rewrite_data_files(table => 'telemetry.node_metrics', "
        "strategy => 'binpack', options => map('min-input-files', '2'), "
        "where => 'dt >= DATE \\'2026-11-19\\'')"
    )
    assert rewrite_sql("lake", "analytics.anomalies", None, 4) == (
        "CALL lake.system.rewrite_data_files(table => 'analytics.anomalies', "
        "strategy => 'binpack', options => map('min-input-files', '4'))"
    )
    assert expire_sql("lake", "analytics.anomalies", NOW - dt.timedelta(days=5), 10) == (
        "CALL lake.system.expire_snapshots(table => 'analytics.anomalies', "
        "older_than => TIMESTAMP '2026-11-17 03:30:15.250000+00:00', retain_last => 10)"
    )
    assert orphans_sql("lake", "analytics.anomalies", NOW - dt.timedelta(days=3)) == (
        "CALL lake.system.remove_orphan_files(table => 'analytics.anomalies', "
        "older_than => TIMESTAMP '2026-11-19 03:30:15.250000+00:00', prefix_listing => true)"
    )


def test_timestamps_are_spelled_in_utc_and_naive_ones_refused() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    moment = dt.datetime(2026, 11, 22, 4, 30, 15, 250000, tzinfo=paris)
    assert timestamp_literal(moment) == "TIMESTAMP '2026-11-22 03:30:15.250000+00:00'"
    with pytest.raises(ValueError, match="time zone"):
        timestamp_literal(dt.datetime(2026, 11, 22))


def test_every_declared_table_is_maintained_and_nothing_else() -> None:
    assert table_names("lake") == [f"lake.{key}" for key in TABLES]
    assert "lake.telemetry.rejects" in table_names("lake")
    assert list(selected_tables(None)) == list(TABLES)
    picked = selected_tables(["analytics.anomalies", "telemetry.node_metrics"])
    assert list(picked) == ["telemetry.node_metrics", "analytics.anomalies"]  # declaration order
    with pytest.raises(KeyError, match=r"analytics\.nope"):
        selected_tables(["analytics.nope"])
