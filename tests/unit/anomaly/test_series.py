"""score_series on the NAB artificial series and on synthetic series."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opslake.anomaly import score_series
from opslake.anomaly.evaluation import event_metrics, nab_windows

BENCH = Path(
    os.environ.get(
        "OPSLAKE_BENCH_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "bench"
    )
)
NAB = BENCH / "nab"


def _nab_files(folder: str) -> list[Path]:
    return sorted((NAB / "data" / folder).glob("*.csv"))


@pytest.fixture(scope="module")
def nab_results() -> list[tuple[str, pd.DataFrame, list[tuple[pd.Timestamp, pd.Timestamp]]]]:
    files = _nab_files("artificialWithAnomaly")
    if not files:
        pytest.skip(
            f"NAB artificialWithAnomaly data not found under {NAB} (set OPSLAKE_BENCH_DATA)"
        )
    windows = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    out = []
    for path in files:
        df = pd.read_csv(path, parse_dates=["timestamp"])
        out.append((path.name, score_series(df), nab_windows(windows, path.name)))
    return out


def test_output_shape(
    nab_results: list[tuple[str, pd.DataFrame, list[tuple[pd.Timestamp, pd.Timestamp]]]],
) -> None:
    _, scored, _ = nab_results[0]
    assert list(scored.columns) == ["timestamp", "value", "score", "is_anomaly"]
    assert scored["is_anomaly"].dtype == bool
    assert not scored["score"].isna().any()


def test_detects_labelled_window_in_most_files(
    nab_results: list[tuple[str, pd.DataFrame, list[tuple[pd.Timestamp, pd.Timestamp]]]],
) -> None:
    # Measured: 4 of 6 windows detected (jumpsdown and nojump are missed).
    detected = [
        name
        for name, scored, windows in nab_results
        if event_metrics(scored.loc[scored["is_anomaly"], "timestamp"], windows)["tp"] > 0
    ]
    assert len(detected) >= 4, detected


# Stand-ins for NAB's artificialNoAnomaly files (not in the stored benchmark data): two weeks of a
# perfect daily pattern at 5-minute steps. Regular patterns are normal and must not be flagged.
_TS = pd.date_range("2014-04-01", periods=14 * 288, freq="5min")
_HOURS = np.asarray(_TS.hour + _TS.minute / 60)


def test_no_flags_on_noise_free_sine() -> None:
    value = 50 + 30 * np.sin(2 * np.pi * _HOURS / 24)
    scored = score_series(pd.DataFrame({"timestamp": _TS, "value": value}))
    assert scored["is_anomaly"].sum() <= 3


def test_no_flags_on_noise_free_square_wave() -> None:
    value = np.where(_HOURS < 12, 20.0, 80.0)
    scored = score_series(pd.DataFrame({"timestamp": _TS, "value": value}))
    assert scored["is_anomaly"].sum() <= 3


def test_warmup_day_is_scored_but_never_flagged() -> None:
    # A stuck-at-zero hour on the first day needs no seasonal baseline, so only the warm-up holds
    # it back: with history that short, zero for an hour may be the series' normal night.
    value = np.where(_HOURS < 12, 20.0, 80.0)
    value[36:48] = 0.0  # 03:00-04:00 on day 1
    frame = pd.DataFrame({"timestamp": _TS, "value": value})
    eager = score_series(frame, warmup=pd.Timedelta(0))
    first_day = eager["timestamp"] < _TS[0] + pd.Timedelta(days=1)
    assert eager.loc[first_day, "is_anomaly"].sum() > 0
    settled = score_series(frame)
    assert not settled.loc[first_day, "is_anomaly"].any()
    assert np.array_equal(settled["score"], eager["score"])  # only the flag waits for history


def test_synthetic_spike_found_and_clean_series_quiet() -> None:
    rng = np.random.default_rng(0)
    ts = pd.date_range("2024-01-01", periods=2016, freq="5min")
    hours = ts.hour + ts.minute / 60
    value = np.asarray(50 + 20 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 1, len(ts)))
    clean = score_series(pd.DataFrame({"timestamp": ts, "value": value}))
    assert clean["is_anomaly"].sum() == 0
    spiked = value.copy()
    spiked[1212] += 40  # a Friday: two earlier weekdays give the daily baseline
    scored = score_series(pd.DataFrame({"timestamp": ts, "value": spiked}))
    assert scored["is_anomaly"].iloc[1212]
    assert scored["is_anomaly"].sum() <= 3


def test_missing_column_raises() -> None:
    with pytest.raises(KeyError, match="value"):
        score_series(
            pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=3, freq="5min")})
        )


def test_daily_transitions_of_a_noisy_pattern_are_not_flagged() -> None:
    # Like NAB's art_daily_* files: a business-hours plateau with noise. The 24 h robust z and the
    # 1 h mean z jump at every ramp (248 flags before the seasonal-evidence rule, 52 of them on
    # days without two earlier days of their kind); only a deviation from the same time of earlier
    # days may flag.
    rng = np.random.default_rng(1)
    value = np.where((_HOURS >= 9) & (_HOURS < 18), 80.0, 20.0) + rng.normal(0, 1, len(_TS))
    scored = score_series(pd.DataFrame({"timestamp": _TS, "value": value}))
    assert scored["is_anomaly"].sum() == 0
    shifted = value.copy()
    shifted[10 * 288 + 60 : 10 * 288 + 84] += 40  # day 11, 05:00-07:00: night load at daytime level
    scored = score_series(pd.DataFrame({"timestamp": _TS, "value": shifted}))
    flagged = np.flatnonzero(scored["is_anomaly"].to_numpy())
    assert flagged.size > 0 and flagged.min() >= 10 * 288 + 60 and flagged.max() < 10 * 288 + 84
