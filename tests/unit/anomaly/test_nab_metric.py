"""The NAB window metric and standard-profile score on hand-made files (exact values)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opslake.anomaly.nab_metric import (
    STANDARD_PROFILE,
    WindowCounts,
    corpus_sweep,
    load_profile,
    normalised,
    pooled,
    probation_rows,
    raw_score,
    scaled_sigmoid,
    sweep_weights,
    window_counts,
    window_rows,
)

N = 100  # probation: 15 rows
WINDOWS = [(40, 49), (70, 79)]


def _flags(*rows: int | range) -> np.ndarray:
    out = np.zeros(N, dtype=bool)
    for r in rows:
        out[np.arange(r.start, r.stop) if isinstance(r, range) else r] = True
    return out


def test_probation_is_15_percent_capped_at_750() -> None:
    assert probation_rows(100) == 15
    assert probation_rows(4032) == 604
    assert probation_rows(22695) == 750
    assert probation_rows(3) == 0


def test_window_rows_from_timestamps_inclusive() -> None:
    ts = pd.date_range("2024-01-01", periods=10, freq="5min")
    windows = [("2024-01-01 00:10", "2024-01-01 00:20"), ("2024-01-01 00:22", "2024-01-01 00:24")]
    assert window_rows(ts, windows) == [(2, 4)]  # the second holds no row


def test_hit_is_a_true_positive() -> None:
    assert window_counts(_flags(45), WINDOWS) == WindowCounts(tp=1, fn=1, fp=0)


def test_miss_is_a_false_negative_and_a_lone_run_a_false_positive() -> None:
    assert window_counts(_flags(), WINDOWS) == WindowCounts(tp=0, fn=2, fp=0)
    assert window_counts(_flags(range(55, 60)), WINDOWS) == WindowCounts(tp=0, fn=2, fp=1)


def test_run_straddling_a_window_edge_is_a_hit_not_a_false_positive() -> None:
    # 35..41 starts outside window 1 and ends inside it; 78..85 leaves window 2.
    counts = window_counts(_flags(range(35, 42), range(78, 86)), WINDOWS)
    assert counts == WindowCounts(tp=2, fn=0, fp=0)
    # A run ending right before the window does not touch it.
    assert window_counts(_flags(range(35, 40)), WINDOWS) == WindowCounts(tp=0, fn=2, fp=1)


def test_each_maximal_run_is_one_false_positive() -> None:
    counts = window_counts(_flags(range(20, 25), range(26, 28), 90, 99), WINDOWS)
    assert counts == WindowCounts(tp=0, fn=2, fp=4)


def test_probation_rows_are_never_flagged() -> None:
    assert window_counts(_flags(range(0, 15)), WINDOWS) == WindowCounts(tp=0, fn=2, fp=0)
    # A run crossing the probation edge counts from row 15 on: still one run.
    assert window_counts(_flags(range(10, 20)), WINDOWS) == WindowCounts(tp=0, fn=2, fp=1)
    # A window inside probation cannot be detected.
    assert window_counts(_flags(5), [(3, 8)]) == WindowCounts(tp=0, fn=1, fp=0)


def test_pooled_precision_recall_f1() -> None:
    total = pooled([WindowCounts(1, 1, 0), WindowCounts(2, 0, 3)])
    assert total == WindowCounts(tp=3, fn=1, fp=3)
    assert (total.precision, total.recall) == (0.5, 0.75)
    assert total.f1 == pytest.approx(2 * 3 / (2 * 3 + 3 + 1))
    assert WindowCounts().f1 == 0.0 and WindowCounts().precision == 0.0


def test_scaled_sigmoid_values() -> None:
    assert float(scaled_sigmoid(-1.0)) == pytest.approx(0.98661, abs=1e-5)
    assert float(scaled_sigmoid(0.0)) == 0.0
    assert float(scaled_sigmoid(1.0)) == pytest.approx(-0.98661, abs=1e-5)
    assert float(scaled_sigmoid(3.0)) == -1.0


def _score(flags: np.ndarray, windows: list[tuple[int, int]] = WINDOWS) -> float:
    return raw_score(sweep_weights(flags.astype(float), windows), 0.5)


def test_nab_earliest_detection_in_a_window_counts_once() -> None:
    # First row of window 1: full reward; window 2 missed: -1.
    assert _score(_flags(40)) == pytest.approx(1.0 - 1.0)
    # More detections in the same window add nothing.
    assert _score(_flags(40, 41, 49)) == pytest.approx(0.0)
    # Last row of window 1: position -1/10.
    late = float(scaled_sigmoid(-0.1) / scaled_sigmoid(-1.0))
    assert _score(_flags(49)) == pytest.approx(late - 1.0)


def test_nab_false_positive_weights() -> None:
    # Before any window: the full fpWeight, per flagged row.
    assert _score(_flags(20, 21)) == pytest.approx(-2.0 - 2 * 0.11)
    # 10 rows after window 1 (width 10): distance 10 / 9.
    after = 0.11 * float(scaled_sigmoid(10 / 9))
    assert _score(_flags(59)) == pytest.approx(-2.0 + after)
    # Probation rows cost nothing.
    assert _score(_flags(3)) == pytest.approx(-2.0)


def test_nab_normalisation_null_0_perfect_100() -> None:
    assert normalised(-2.0, 2) == 0.0
    assert normalised(_score(_flags(40, 70)), 2) == pytest.approx(100.0)
    assert normalised(_score(_flags(40)), 2) == pytest.approx(50.0)


def test_corpus_sweep_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    files = [
        sweep_weights(rng.random(N) ** 4, WINDOWS),
        sweep_weights(rng.random(N) ** 4, [(60, 80)]),
    ]
    threshold, total = corpus_sweep(files)
    candidates = np.unique(np.concatenate([f.scores for f in files]))
    brute = max(sum(raw_score(f, t) for f in files) for t in candidates)
    assert total == pytest.approx(max(brute, -3.0))
    assert sum(raw_score(f, threshold) for f in files) == pytest.approx(total)


def test_corpus_sweep_flags_nothing_when_every_detection_costs() -> None:
    file = sweep_weights(np.r_[np.zeros(50), np.ones(50)], [(20, 30)])  # ones all outside
    assert corpus_sweep([file]) == (math.inf, -1.0)


def test_profile_from_file_or_default(tmp_path: Path) -> None:
    assert load_profile(tmp_path) == STANDARD_PROFILE
    (tmp_path / "config").mkdir()
    matrix = {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.22, "tnWeight": 1.0}
    (tmp_path / "config" / "profiles.json").write_text(
        json.dumps({"standard": {"CostMatrix": matrix}})
    )
    assert load_profile(tmp_path) == matrix
