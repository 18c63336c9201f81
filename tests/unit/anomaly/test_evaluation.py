"""Exact values of the point-, event- and NAB-level quality measures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opslake.anomaly.evaluation import (
    clusters,
    combine,
    event_metrics,
    label_windows,
    nab_score,
    nab_windows,
    precision_recall_f1,
    scores_from_counts,
)

T0 = pd.Timestamp("2024-01-01 00:00")


def _t(minutes: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


def test_precision_recall_f1_exact() -> None:
    pred = [True, True, False, False, True, False]
    true = [True, False, True, False, True, False]
    r = precision_recall_f1(pred, true)
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (2, 1, 1, 2)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)


def test_precision_recall_f1_zero_divisions() -> None:
    none = precision_recall_f1([False, False], [False, False])
    assert (none["precision"], none["recall"], none["f1"]) == (0.0, 0.0, 0.0)
    all_fp = precision_recall_f1([True, True], [False, False])
    assert all_fp["precision"] == 0.0 and all_fp["fp"] == 2


def test_precision_recall_f1_length_mismatch() -> None:
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        precision_recall_f1([True], [True, False])


def test_scores_from_counts_agree_with_sklearn_on_points() -> None:
    rng = np.random.default_rng(0)
    pred, true = rng.random(500) < 0.1, rng.random(500) < 0.05
    points = precision_recall_f1(pred, true)
    counts = scores_from_counts(points["tp"], points["fp"], points["fn"])
    for key in ("precision", "recall", "f1"):
        assert counts[key] == pytest.approx(points[key], rel=1e-12)
    assert scores_from_counts(0, 0, 0) == {
        "tp": 0.0, "fp": 0.0, "fn": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0,
    }  # fmt: skip
    assert scores_from_counts(3, 1, 2)["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))


def test_event_metrics_exact() -> None:
    windows = [(_t(10), _t(30)), (_t(100), _t(120)), (_t(200), _t(210))]
    # window 1 hit twice, window 2 hit once at its right edge, window 3 missed;
    # flagged 50,55 form one FP cluster, 300 a second one.
    pred = [_t(15), _t(20), _t(50), _t(55), _t(120), _t(300)]
    r = event_metrics(pred, windows)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 2, 1)
    assert r["precision"] == pytest.approx(0.5)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_event_cluster_touching_window_is_not_fp() -> None:
    windows = [(_t(10), _t(20))]
    r = event_metrics([_t(0), _t(5), _t(10)], windows)
    assert (r["tp"], r["fp"]) == (1, 0)


def test_event_metrics_mixed_time_zones() -> None:
    windows = [
        (pd.Timestamp("2024-01-01 00:10", tz="UTC"), pd.Timestamp("2024-01-01 00:20", tz="UTC"))
    ]
    r = event_metrics([_t(15)], windows)
    assert r["tp"] == 1


def test_clusters_and_label_windows() -> None:
    assert clusters([_t(10), _t(0), _t(5), _t(30)]) == [(_t(0), _t(10)), (_t(30), _t(30))]
    labels = pd.DataFrame({"ts": [_t(0), _t(5), _t(5), _t(60)]})
    assert label_windows(labels) == [(_t(0), _t(5)), (_t(60), _t(60))]


def test_combine_micro_average() -> None:
    c = combine([{"tp": 1, "fp": 0, "fn": 1}, {"tp": 2, "fp": 2, "fn": 0}])
    assert (c["tp"], c["fp"], c["fn"]) == (3, 2, 1)
    assert c["precision"] == pytest.approx(0.6) and c["recall"] == pytest.approx(0.75)


def test_nab_windows_by_file_name() -> None:
    labels = {
        "artificialWithAnomaly/a.csv": [["2014-04-10 07:15:00.000000", "2014-04-11 16:45:00"]]
    }
    assert nab_windows(labels, "a.csv") == [
        (pd.Timestamp("2014-04-10 07:15"), pd.Timestamp("2014-04-11 16:45"))
    ]
    with pytest.raises(KeyError):
        nab_windows(labels, "b.csv")


def test_nab_score_bounds() -> None:
    ts = pd.date_range("2024-01-01", periods=100, freq="5min")
    window = [(ts[60], ts[69])]
    none = nab_score(ts, [False] * 100, window)
    assert none["normalized"] == pytest.approx(0.0)
    early = [i == 60 for i in range(100)]
    assert nab_score(ts, early, window)["normalized"] == pytest.approx(100.0)
    late = [i == 69 for i in range(100)]
    assert 0.0 < nab_score(ts, late, window)["normalized"] < 100.0
    with_fp = [i in (60, 30) for i in range(100)]
    assert nab_score(ts, with_fp, window)["normalized"] < 100.0
    probation_only = [i == 5 for i in range(100)]
    assert nab_score(ts, probation_only, window)["fp"] == 0.0
