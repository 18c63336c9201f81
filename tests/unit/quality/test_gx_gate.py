"""The great-expectations gate: a good interval passes; each kind of bad batch fails, naming the table,
the expectation and the failing counts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from opslake.pipeline.tables import NODE_METRICS
from opslake.quality.gate import QualityGateError, require, run_gate

pytestmark = pytest.mark.slow  # great-expectations takes a few seconds per validation on a busy box

START = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(minutes=15)


def _interval(nodes: int = 10) -> pd.DataFrame:
    """``nodes`` nodes x three 5-minute samples, in the table's column order."""
    ts = pd.date_range(START, periods=3, freq="5min")
    rows = [(t, f"n{i:03d}") for i in range(nodes) for t in ts]
    frame = pd.DataFrame(rows, columns=["ts", "node_id"])
    frame["pool_id"], frame["provider"], frame["region"] = "p1", "aws", "eu-west-1"
    rng = np.random.default_rng(3)
    for column in ("cpu_util", "mem_util", "disk_util"):
        frame[column] = rng.uniform(0, 1, len(frame))
    frame["net_mbps"] = rng.uniform(0, 100, len(frame))
    frame["dt"] = START.date()
    return frame[NODE_METRICS.columns]


def _failed(frame: pd.DataFrame, accepted: int | None = None) -> dict[str, int | None]:
    result = run_gate(
        frame, "node_metrics", START, END, len(frame) if accepted is None else accepted
    )
    return {f"{f.expectation}({f.column})": f.unexpected for f in result.failures}


def test_a_good_interval_passes_every_expectation() -> None:
    frame = _interval()
    result = require(run_gate(frame, "node_metrics", START, END, accepted=30))
    assert result.success and result.rows == 30
    assert result.evaluated == 11  # columns, count, 2 keys non-null, unique, 3 ranges, net, ts x2
    assert result.message() == "telemetry.node_metrics: 11 expectations passed on 30 rows"


def test_half_the_keys_null_fails_non_null_with_the_count() -> None:
    frame = _interval()
    frame.loc[frame.index[::2], "node_id"] = None
    assert _failed(frame)["expect_column_values_to_not_be_null(node_id)"] == 15


def test_out_of_range_duplicate_and_out_of_interval_rows_are_counted() -> None:
    frame = _interval()
    frame.loc[frame.index[:4], "cpu_util"] = 1.5
    frame = pd.concat([frame, frame.iloc[[5, 6]]], ignore_index=True)
    late = frame.index[-1]
    frame.loc[late, "ts"] = END  # the end is exclusive
    failed = _failed(frame)
    assert failed["expect_column_values_to_be_between(cpu_util)"] == 4
    assert failed["expect_compound_columns_to_be_unique(node_id,ts)"] == 2
    assert failed["expect_column_values_to_be_between(ts)"] == 1


def test_wrong_schema_and_broken_reconciliation_and_staleness_fail() -> None:
    frame = _interval().rename(columns={"net_mbps": "net_kbps"})
    failed = _failed(frame, accepted=31)
    assert "expect_table_columns_to_match_ordered_list()" in failed
    assert "expect_table_row_count_to_equal()" in failed
    result = run_gate(frame, "node_metrics", START, END, accepted=31)
    missing = next(f for f in result.failures if f.column == "net_mbps")
    assert "net_mbps" in str(missing.observed) and str(missing.observed).startswith("error: ")
    stale = _interval()
    stale["ts"] = stale["ts"] - pd.Timedelta(hours=1)
    assert "expect_column_max_to_be_between(ts)" in _failed(stale)


def test_require_raises_naming_table_expectation_and_counts() -> None:
    frame = _interval()
    frame.loc[frame.index[:3], "node_id"] = None
    with pytest.raises(QualityGateError) as error:
        require(run_gate(frame, "node_metrics", START, END, accepted=30))
    assert str(error.value) == (
        "telemetry.node_metrics: 1 of 11 expectations failed on 30 rows: "
        "expect_column_values_to_not_be_null(node_id): 3 rows unexpected"
    )
