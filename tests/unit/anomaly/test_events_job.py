"""The Spark job's per-series function: the benchmark's detector, keyed by node and metric."""

from __future__ import annotations

import numpy as np
import pandas as pd

from opslake.anomaly.detector import DETECTOR_VERSION, detect_series
from opslake.jobs.anomaly import EVENT_SCHEMA, series_events
from opslake.pipeline.spec import PIPELINE


def _series(n: int = 2000, shift_at: int = 1500) -> pd.DataFrame:
    value = 0.4 + np.random.default_rng(0).normal(0.0, 0.01, n)
    value[shift_at:] += 0.3
    return pd.DataFrame(
        {
            "ts": pd.date_range("2026-11-01", periods=n, freq="5min"),
            "node_id": "n1", "provider": "aws", "region": "eu-west-1", "metric": "cpu_util",
            "value": value,
        }
    )  # fmt: skip


def test_series_events_are_the_detector_events_with_keys() -> None:
    frame = _series()
    out = series_events(frame.sample(frac=1.0, random_state=1))  # Spark gives rows in any order
    _, expected = detect_series(frame, value="value", ts="ts")
    assert list(out.columns) == EVENT_SCHEMA.names
    assert len(out) == len(expected) == 1
    row = out.iloc[0]
    assert row["start_ts"] == frame["ts"][1500] and row["peak_ts"] == frame["ts"][1500]
    assert (row["node_id"], row["metric"], row["detector_version"]) == (
        "n1",
        "cpu_util",
        DETECTOR_VERSION,
    )
    pd.testing.assert_frame_equal(
        out.drop(columns=["node_id", "provider", "region", "metric"]).reset_index(drop=True),
        expected[[c for c in EVENT_SCHEMA.names if c in expected.columns]],
    )


def test_series_events_of_an_empty_group() -> None:
    assert list(series_events(_series().iloc[:0]).columns) == EVENT_SCHEMA.names


def test_anomaly_score_declares_the_events_table_and_reads_the_metrics() -> None:
    step = next(s for s in PIPELINE if s.name == "anomaly_score")
    assert step.outputs == ("analytics.anomalies", "analytics.anomaly_events")
    assert "telemetry.node_metrics" in step.inputs
