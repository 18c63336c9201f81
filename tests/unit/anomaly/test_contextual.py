"""The contextual (KNN-CAD style) detector: causal, quiet after a level shift, sees in-range changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opslake.anomaly.contextual import (
    DEFAULT_CONTEXT,
    calibrated,
    contexts,
    detect_contextual,
    detect_series_contextual,
    knn_nonconformity,
)
from opslake.anomaly.detector import detect_series

DAY = 288


def _noise(n: int, seed: int) -> np.ndarray:
    return 50.0 + np.random.default_rng(seed).normal(0.0, 1.0, n)


def test_appending_future_rows_never_changes_the_past() -> None:
    rng = np.random.default_rng(7)
    x = _noise(4000, 1) + 10.0 * np.sin(np.arange(4000) * 2 * np.pi / DAY)
    x[1500] += 40.0
    x[2600:] += 15.0
    x[rng.integers(700, 4000, 25)] += rng.normal(0, 8, 25)
    full = detect_contextual(x, DAY)
    for cut in (150, 700, 1501, 2000, 2700, 3999):
        part = detect_contextual(x[:cut], DAY)
        np.testing.assert_array_equal(part.score, full.score[:cut])
        np.testing.assert_array_equal(part.exceeds, full.exceeds[:cut])
        np.testing.assert_array_equal(part.alert_starts, full.alert_starts[:cut])
    assert full.alert_starts.sum() >= 2  # the test has something to compare


def test_level_shift_gives_one_alert_then_the_new_level_is_normal() -> None:
    x = _noise(3000, 2)
    x[1800:] += 20.0
    found = detect_contextual(x)
    assert [s for s, _, _ in found.events] == [1800]
    _, end, _ = found.events[0]
    assert end < 1800 + DEFAULT_CONTEXT.context_rows + DEFAULT_CONTEXT.neighbours
    assert not found.exceeds[end + 1 :].any()


def test_stationary_noise_raises_no_alert() -> None:
    assert detect_contextual(_noise(5000, 3)).events == []


def test_a_change_of_shape_inside_the_usual_range_is_caught() -> None:
    # A 40-row sine becomes a square wave of the same amplitude: no value leaves the usual range.
    t = np.arange(3000)
    x = np.sin(t * 2 * np.pi / 40) + np.random.default_rng(4).normal(0, 0.02, 3000)
    x[2000:2200] = np.sign(np.sin(t[2000:2200] * 2 * np.pi / 40)) * 0.99
    assert x[2000:2200].max() <= x[:2000].max() and x[2000:2200].min() >= x[:2000].min()
    found = detect_contextual(x)
    assert len(found.events) == 1
    assert 2000 <= found.events[0][0] < 2040


def test_contexts_pad_with_the_first_value() -> None:
    np.testing.assert_array_equal(
        contexts(np.array([1.0, 2.0, 3.0]), 2), [[1.0, 1.0], [1.0, 2.0], [2.0, 3.0]]
    )


def test_nonconformity_is_nan_until_enough_references() -> None:
    alpha = knn_nonconformity(_noise(400, 5))
    start = DEFAULT_CONTEXT.min_reference
    # Row t has t - context_rows + 1 references: enough from row min_reference + context_rows - 1.
    first = start + DEFAULT_CONTEXT.context_rows - 1
    assert np.isnan(alpha[:first]).all() and np.isfinite(alpha[first:]).all()


def test_calibrated_units() -> None:
    alpha = np.r_[np.tile([1.0, 2.0, 3.0], 20), 5.0, np.nan, 2.0]
    out = calibrated(alpha, rows=100)
    # History max 3, median 2: 5 is (5 - 3) / (3 - 2) above; NaN and in-range rows score 0.
    assert out[60] == pytest.approx(2.0)
    assert out[61] == 0.0 and out[62] == 0.0 and not out[:60].any()


def test_series_output_matches_the_envelope_detectors_format() -> None:
    x = _noise(1500, 8)
    x[1200] += 30.0
    frame = pd.DataFrame(
        {"timestamp": pd.date_range("2024-01-01", periods=1500, freq="5min"), "value": x}
    )
    rows, events = detect_series_contextual(frame.sample(frac=1.0, random_state=0))
    ref_rows, ref_events = detect_series(frame)
    assert list(rows.columns) == list(ref_rows.columns)
    assert list(events.columns) == list(ref_events.columns)
    assert list(events["start_ts"]) == [frame["timestamp"][1200]]
    assert list(events["reason"]) == ["context"]
    with pytest.raises(KeyError, match="value"):
        detect_series_contextual(frame.drop(columns="value"))
