"""The streaming detector: causal, quiet after a level shift, seasonal, events merged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from opslake.anomaly.detector import (
    DEFAULT_CONFIG,
    FEATURES,
    alert_events,
    detect,
    detect_series,
    envelope_exceedance,
    feature_matrix,
    habituation,
    recent_rows,
    season_rows,
)

STEP = pd.Timedelta(minutes=5)
DAY = 288


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return 50.0 + np.random.default_rng(seed).normal(0.0, 1.0, n)


def _frame(values: np.ndarray) -> pd.DataFrame:
    ts = pd.date_range("2024-01-01", periods=len(values), freq=STEP)
    return pd.DataFrame({"timestamp": ts, "value": values})


def test_appending_future_rows_never_changes_the_past() -> None:
    rng = np.random.default_rng(7)
    x = _noise(4000, 1) + 10.0 * np.sin(np.arange(4000) * 2 * np.pi / DAY)
    x[1500] += 40.0
    x[2600:] += 15.0
    x[rng.integers(700, 4000, 25)] += rng.normal(0, 8, 25)
    full = detect(x, DAY)
    for cut in (900, 1501, 2000, 2700, 3999):
        part = detect(x[:cut], DAY)
        np.testing.assert_array_equal(part.score, full.score[:cut])
        np.testing.assert_array_equal(part.exceeds, full.exceeds[:cut])
        np.testing.assert_array_equal(part.alert_starts, full.alert_starts[:cut])
    assert full.alert_starts.sum() >= 2  # the test has something to compare


def test_level_shift_gives_one_alert_then_the_new_level_is_normal() -> None:
    x = _noise(3000, 2)
    x[1800:] += 20.0
    found = detect(x)
    assert [s for s, _, _ in found.events] == [1800]
    _, end, peak = found.events[0]
    assert peak == 1800 and end < 1800 + DEFAULT_CONFIG.cooldown_rows
    assert not found.exceeds[end + 1 :].any()


def test_stationary_noise_and_a_clean_daily_pattern_raise_no_alert() -> None:
    assert detect(_noise(5000, 3)).events == []
    daily = 50.0 + 20.0 * np.sin(np.arange(5000) * 2 * np.pi / DAY) + _noise(5000, 4) - 50.0
    assert detect(daily, DAY).events == []


def test_a_missing_daily_peak_is_caught_by_the_seasonal_feature() -> None:
    t = np.arange(5000)
    x = 20.0 * np.clip(np.sin(t * 2 * np.pi / DAY), 0, None) + np.random.default_rng(5).normal(
        0, 0.3, 5000
    )
    day = 12 * DAY
    x[day : day + DAY // 2] = np.random.default_rng(6).normal(
        0, 0.3, DAY // 2
    )  # the peak never comes
    found = detect(x, DAY)
    assert len(found.events) == 1
    start, _, peak = found.events[0]
    assert day <= start < day + DAY // 2
    assert found.reason[peak] == 3  # "season"


def test_alerts_merge_within_the_cooldown_and_reopen_after_it() -> None:
    exceeds = np.zeros(1000, dtype=bool)
    exceeds[[100, 101, 300, 700]] = True
    score = np.arange(1000, dtype=float)
    assert alert_events(exceeds, score, cooldown=250) == [(100, 300, 300), (700, 700, 700)]
    assert alert_events(exceeds, score, cooldown=100) == [
        (100, 101, 101),
        (300, 300, 300),
        (700, 700, 700),
    ]


def test_a_new_symptom_after_a_quiet_spell_reopens_an_alert() -> None:
    n = 1000
    exceeds = np.zeros(n, dtype=bool)
    symptoms = np.zeros((n, 3), dtype=bool)
    score = np.ones(n)
    for row, feature in ((100, 0), (150, 1), (300, 1), (450, 0), (460, 2), (700, 2)):
        exceeds[row] = symptoms[row, feature] = True
    # 150: new symptom but only 50 quiet rows; 300: seen symptom; 450: symptom 0 seen at 100;
    # 460: new symptom after 10 rows; 700: symptom 2 already in the alert, within the cooldown.
    assert alert_events(exceeds, score, 300, symptoms, reopen=100) == [(100, 700, 100)]
    symptoms[450, 0], symptoms[450, 2] = False, True  # 450: a new symptom after 150 quiet rows
    assert alert_events(exceeds, score, 300, symptoms, reopen=100) == [
        (100, 300, 100),
        (450, 700, 450),
    ]
    assert alert_events(exceeds, score, 300) == [(100, 700, 100)]  # no symptoms: no re-opening


def test_a_spike_pages_once_not_again_on_its_seasonal_echo() -> None:
    x = _noise(4000, 9)
    x[2500] += 60.0
    found = detect(x, DAY)
    season = FEATURES.index("season")
    # The spike's top feature is "std", but its season residual exceeds too; one season later the
    # residual is the spike mirrored, a "season" exceedance after 287 quiet rows ...
    assert found.reason[2500] != season and found.exceeds[2500 + DAY]
    assert found.reason[2500 + DAY] == season
    assert [s for s, _, _ in found.events] == [2500]  # ... which stays inside the spike's alert


def test_a_spike_no_longer_hides_a_smaller_one_for_history_rows() -> None:
    x = _noise(3000, 10)
    x[1000] += 40.0
    x[1500] += 25.0  # inside the 1000-row envelope, which holds the first spike
    found = detect(x)
    assert [s for s, _, _ in found.events] == [1000, 1500]
    assert FEATURES[found.reason[1500]] in ("value_recent", "diff_recent")
    feats = feature_matrix(x, 0)
    assert feats[1500, FEATURES.index("value")] == 0.0  # what v1 saw


def test_the_season_feature_waits_for_a_whole_season_of_residuals() -> None:
    daily = 20.0 * np.sin(np.arange(2000) * 2 * np.pi / DAY) + _noise(2000, 11)
    early, late = daily.copy(), daily.copy()
    early[DAY + 150] += 80.0  # 150 rows of residuals: v1 (100 needed) scored it, v2 waits
    late[2 * DAY + 50] += 80.0
    column = FEATURES.index("season")
    assert not feature_matrix(early, DAY)[: 2 * DAY, column].any()
    assert feature_matrix(late, DAY)[2 * DAY + 50, column] > 1.0


def test_habituation_counts_each_features_own_past_episodes() -> None:
    config = replace(
        DEFAULT_CONFIG,
        warmup_rows=1,
        habit_level=1.0,
        habit_rows=5,
        habit_free=1,
        habit_factor=0.5,
    )
    feats = np.zeros((12, 2))
    feats[[1, 2, 4, 6], 0] = [2.0, 2.0, 1.0, 3.0]  # episodes open at rows 1 (two rows), 4 and 6
    feats[0, 1] = 5.0  # in warm-up: not an episode
    divisor = habituation(feats, config)
    # Episodes in rows t-5 .. t-1 of column 0: 0 0 1 1 1 2 2 2 2 2 1 1; the first one is free.
    expected = [1.0] * 5 + [1.5] * 5 + [1.0] * 2
    np.testing.assert_array_equal(divisor[:, 0], expected)
    np.testing.assert_array_equal(divisor[:, 1], np.ones(12))


def test_a_feature_that_keeps_firing_in_one_series_habituates() -> None:
    rng = np.random.default_rng(12)
    x = 50.0 + rng.normal(0.0, 1.0, 16000)
    burst = np.random.default_rng(5).normal(0.0, 2.5, 12)
    for start in range(1500, 15000, 1500):
        x[start : start + 12] = 50.0 + burst  # the same variance burst every 1500 rows
    x[15500:] += 10.0
    found = detect(x)
    unhabituated = detect(x, 0, replace(DEFAULT_CONFIG, habit_factor=0.0))
    assert [s for s, _, _ in unhabituated.events] == [
        1509,
        3009,
        4509,
        6009,
        7509,
        12009,
        13509,
        15500,
    ]
    # The std feature pages for the first bursts, then needs more; the level shift still pages.
    assert [s for s, _, _ in found.events] == [1509, 3009, 4509, 6009, 15500]
    for cut in (
        6100,
        12100,
    ):  # habituation counts only past rows: cutting the future changes nothing
        np.testing.assert_array_equal(detect(x[:cut]).score, found.score[:cut])


def test_recent_rows_spans_three_seasons_within_bounds() -> None:
    assert recent_rows(0) == 200  # no season: the floor
    assert recent_rows(24) == 200  # hourly: 72 rows is too few for an IQR
    assert recent_rows(288) == 864  # 5-minute: three days
    assert recent_rows(1440) == 1000  # 1-minute: capped at history_rows


def test_envelope_exceedance_units() -> None:
    y = np.r_[np.tile([0.0, 1.0, 2.0, 3.0], 50), 5.0, -1.0]
    ex = envelope_exceedance(y)
    # Envelope [0, 3], IQR of 0..3 repeated = 2.25 - 0.75: 5 is (5 - 3) / 1.5 above. With the 5 in
    # its history the last row's envelope is [0, 5] and its IQR 3 - 1: -1 is 1 / 2 below.
    assert ex[-2] == pytest.approx(2 / 1.5)
    assert ex[-1] == pytest.approx(1 / 2)
    assert not ex[:-2].any()


def test_detect_series_sorts_and_is_order_independent() -> None:
    x = _noise(1500, 8)
    x[1200] += 30.0
    frame = _frame(x)
    rows, events = detect_series(frame)
    shuffled_rows, shuffled_events = detect_series(frame.sample(frac=1.0, random_state=0))
    pd.testing.assert_frame_equal(rows, shuffled_rows)
    pd.testing.assert_frame_equal(events, shuffled_events)
    assert list(events["start_ts"]) == [frame["timestamp"][1200]]
    assert events["reason"].iloc[0] in ("value", "diff", "std")
    assert int(rows["alert_start"].sum()) == 1 and bool(rows["is_anomaly"][1200])


def test_season_rows_from_the_first_steps() -> None:
    ts = pd.date_range("2024-01-01", periods=400, freq="5min")
    assert season_rows(ts, pd.Timedelta(days=1)) == 288
    assert season_rows(ts[:2], pd.Timedelta(days=1)) == 0


def test_detect_series_missing_column() -> None:
    with pytest.raises(KeyError, match="value"):
        detect_series(pd.DataFrame({"timestamp": [1]}))
