"""Window features for node-metric anomaly detection.

All features are **causal**: the value at row ``t`` only uses rows ``<= t`` (baselines only use rows
``< t``), so the same code serves batch back-fills and streaming scoring, and a detection is never
"helped" by data from the future. Warm-up rows (where a window is not yet full) use whatever
history exists; where no history exists at all the feature is filled with its neutral value (0 for
deviations and slopes, the current value for means), so the output never holds NaN.

Per metric ``m`` the features are:

* ``m`` — the level itself;
* ``m_delta`` — change from the previous row;
* ``m_mean_1h``, ``m_std_1h``, ``m_mean_6h``, ``m_std_6h`` — trailing rolling mean / std;
* ``m_rz`` — robust z-score against the trailing 24 h median / MAD (excluding the current row);
* ``m_hod_z`` — robust z of the deviation from the same time of day on the previous (up to 7)
  days of the same kind (weekday / weekend), or the nearer of two such days; until two exist it
  falls back to ``m_rz`` (so the first weekend of a series is scored less sensitively);
* ``m_mean_1h_z`` — robust z of the 1 h mean against the trailing 24 h baseline (catches bursts
  of short spikes and short shifts);
* ``m_zero_run`` — number of consecutive rows, ending at this row, whose value is exactly 0;
* ``m_zero_run_prev_max`` — the longest zero run in the 7 days before the current run began
  (tells a metric that is often 0 for a while from one that is stuck at 0);
* ``m_slope_24h`` — least-squares slope per hour over the trailing 24 h (memory leaks);
* ``m_slope_z`` — that slope times 24 h divided by the robust scale of the de-seasonalised
  residual, i.e. how many "noise units" the level drifts per day;
* ``m_dev`` — the metric's overall robust deviation: ``max(|rz|, |hod_z|)``, raised to
  ``|mean_1h_z|`` where the point itself deviates by ``MEAN_GATE_Z`` or more, and set to
  ``Z_CLIP`` while a zero run is "stuck" (at least ``MIN_ZERO_RUN`` rows and more than
  ``STUCK_RUN_FACTOR`` times the longest zero run of the previous 7 days).

Plus ``hour_sin`` / ``hour_cos`` (hour of day, UTC).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("cpu_util", "mem_util", "disk_util", "net_mbps")
ID_COLUMNS: tuple[str, ...] = ("ts", "node_id", "provider", "region")

#: Per-metric feature suffixes, in output order.
SUFFIXES: tuple[str, ...] = (
    "",
    "_delta",
    "_mean_1h",
    "_std_1h",
    "_mean_6h",
    "_std_6h",
    "_rz",
    "_hod_z",
    "_mean_1h_z",
    "_zero_run",
    "_zero_run_prev_max",
    "_slope_24h",
    "_slope_z",
    "_dev",
)
#: Scale-free suffixes fed to the IsolationForest by default. Measured on synthetic fleets, a forest
#: on the four per-metric ``_dev`` columns ranks anomalies far better (average precision 0.43)
#: than one on all 20 z-type columns (0.05): with one deviating metric among 20 dimensions, random
#: splits rarely pick the deviating one.
MODEL_SUFFIXES: tuple[str, ...] = ("_dev",)
#: A run of exact zeros counts as "stuck" when it has at least this many rows and is more than
#: ``STUCK_RUN_FACTOR`` times longer than any zero run of the previous 7 days.
MIN_ZERO_RUN = 4
STUCK_RUN_FACTOR = 2.0
#: ``|mean_1h_z|`` only counts as deviation where the point itself deviates at least this much,
#: so the hour after a short spike is not flagged because its rolling mean is still high.
MEAN_GATE_Z = 2.0

Z_CLIP = 50.0
_MAD_TO_SIGMA = 1.4826
_DEFAULT_STEP = pd.Timedelta(minutes=5)
_SEASON_DAYS = 7


def feature_columns(metrics: Sequence[str] = METRICS) -> list[str]:
    """All feature column names produced for ``metrics``, plus the hour-of-day encodings."""
    return [f"{m}{s}" for m in metrics for s in SUFFIXES] + ["hour_sin", "hour_cos"]


def model_feature_columns(metrics: Sequence[str] = METRICS) -> list[str]:
    """The scale-free subset of :func:`feature_columns` fed to the IsolationForest."""
    return [f"{m}{s}" for m in metrics for s in MODEL_SUFFIXES]


FEATURE_COLUMNS: list[str] = feature_columns()
MODEL_FEATURE_COLUMNS: list[str] = model_feature_columns()


def infer_step(ts: pd.Series | pd.DatetimeIndex) -> pd.Timedelta:
    """Median sampling step of ``ts`` (5 minutes when it cannot be inferred)."""
    values = pd.DatetimeIndex(ts)
    if len(values) < 2:
        return _DEFAULT_STEP
    diffs = np.diff(values.to_numpy(dtype="datetime64[ns]").astype(np.int64))
    step = float(np.median(diffs))
    return pd.Timedelta(int(step), unit="ns") if step > 0 else _DEFAULT_STEP


def points_per(step: pd.Timedelta, span: pd.Timedelta) -> int:
    """How many rows of ``step`` cover ``span`` (at least 1)."""
    return max(1, round(span / step))


def _zero_run(x: np.ndarray) -> np.ndarray:
    """Length of the run of exact zeros ending at each index (0 where the value is not 0)."""
    is_zero = x == 0.0
    idx = np.arange(len(x))
    last_nonzero = np.where(is_zero, -1, idx)
    last_nonzero = np.maximum.accumulate(last_nonzero) if len(x) else last_nonzero
    return np.where(is_zero, idx - last_nonzero, 0).astype(float)


def _prev_run_max(zero_run: np.ndarray, window: int) -> np.ndarray:
    """Longest zero run within ``window`` rows before the start of the run at each row."""
    if len(zero_run) == 0:
        return zero_run.copy()
    rmax = pd.Series(zero_run).rolling(window, min_periods=1).max().to_numpy()
    before = np.arange(len(zero_run)) - zero_run.astype(int) - 1
    return np.where(before >= 0, rmax[np.maximum(before, 0)], 0.0)


def _rolling_slope(x: pd.Series, window: int, per_hour: float) -> pd.Series:
    """Trailing least-squares slope of ``x`` per hour (0 where fewer than 3 points)."""
    t = pd.Series(np.arange(len(x), dtype=float), index=x.index)
    mean_t = t.rolling(window, min_periods=3).mean()
    mean_x = x.rolling(window, min_periods=3).mean()
    mean_tx = (t * x).rolling(window, min_periods=3).mean()
    mean_tt = (t * t).rolling(window, min_periods=3).mean()
    var_t = mean_tt - mean_t**2
    slope = (mean_tx - mean_t * mean_x) / var_t.where(var_t > 0)
    result: pd.Series = (slope * per_hour).fillna(0.0)
    return result


def seasonal_history(n: int, period: int, day_class: np.ndarray | None = None) -> np.ndarray:
    """Per row, how many of the ``1.._SEASON_DAYS`` earlier periods exist (of the same day class).

    ``m_hod_z`` is a true same-time-of-day comparison where this is at least 2 and the 24 h robust z
    elsewhere (see :func:`_seasonal_median`).
    """
    count = np.zeros(n, dtype=np.int64)
    for k in range(1, _SEASON_DAYS + 1):
        lag = k * period
        if lag < n:
            same = np.ones(n - lag, dtype=bool)
            if day_class is not None:
                same = day_class[lag:] == day_class[: n - lag]
            count[lag:] += same
    return count


def _seasonal_median(
    x: np.ndarray,
    period: int,
    days: int,
    day_class: np.ndarray | None = None,
    min_days: int = 3,
) -> np.ndarray:
    """Median of the values exactly 1..``days`` periods earlier (NaN where none exist).

    With ``day_class`` (e.g. 1 on weekends, 0 on weekdays), only earlier days of the same class
    are used, so Saturdays are compared with weekends, not Fridays. With fewer than ``min_days``
    usable days the median is not robust (a spike yesterday would look like a dip today): two days
    give the value nearer to ``x``, fewer give NaN.
    """
    n = len(x)
    lagged = np.full((days, n), np.nan)
    for k in range(1, days + 1):
        lag = k * period
        if lag < n:
            lagged[k - 1, lag:] = x[: n - lag]
    if day_class is not None:
        same = np.zeros((days, n), dtype=bool)
        for k in range(1, days + 1):
            lag = k * period
            if lag < n:
                same[k - 1, lag:] = day_class[lag:] == day_class[: n - lag]
        lagged = np.where(same, lagged, np.nan)
    count = np.sum(~np.isnan(lagged), axis=0)
    out = np.full(n, np.nan)
    robust = count >= min_days
    if robust.any():
        out[robust] = np.nanmedian(lagged[:, robust], axis=0)
    few = (count >= 2) & ~robust
    if few.any():
        # Two days: the nearer of the two, so one odd day (a spike) cannot fake a deviation.
        dist = np.abs(lagged[:, few] - x[few])
        nearest = np.nanargmin(np.where(np.isnan(dist), np.inf, dist), axis=0)
        out[few] = lagged[nearest, np.flatnonzero(few)]
    return out


def _scale_floor(x: pd.Series, window: int) -> pd.Series:
    """A small positive floor for robust scales, so constant stretches do not divide by 0."""
    spread = x.shift(1).rolling(window, min_periods=2).std().fillna(0.0)
    level = x.shift(1).abs().rolling(window, min_periods=1).median().fillna(x.abs())
    return pd.Series(np.maximum(0.05 * spread, 1e-3 * level + 1e-6), index=x.index)


def series_features(
    values: pd.Series,
    step: pd.Timedelta,
    prefix: str,
    day_class: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Causal features of one numeric series (see module docstring).

    Args:
        values: The series, in time order, with a default RangeIndex.
        step: Sampling step.
        prefix: Name prefix of the returned columns (the metric name).
        day_class: Optional class of each row's day (1 = weekend, 0 = weekday) for the
            same-time-of-day baseline.

    Returns:
        Column name -> NaN-free float array, in :data:`SUFFIXES` order.
    """
    x = values.astype(float).reset_index(drop=True)
    x = x.ffill().fillna(0.0)
    arr = x.to_numpy()
    per_hour = points_per(step, pd.Timedelta(hours=1))
    h1, h6 = per_hour, points_per(step, pd.Timedelta(hours=6))
    day = points_per(step, pd.Timedelta(days=1))
    floor = _scale_floor(x, day)

    prev = x.shift(1)
    med = prev.rolling(day, min_periods=h1).median()
    mad = (prev - med).abs().rolling(day, min_periods=h1).median()
    scale = np.maximum(_MAD_TO_SIGMA * mad.fillna(np.inf), floor)
    rz: pd.Series = ((x - med) / scale).clip(-Z_CLIP, Z_CLIP).fillna(0.0)

    # Same kind of day only: falling back to weekdays on the first weekend flags the weekly dip
    # (measured: event precision 0.66 -> 0.44 on held-out synthetic fleets).
    seasonal = pd.Series(_seasonal_median(arr, day, _SEASON_DAYS, day_class))
    resid = x - seasonal
    resid_mad = resid.abs().shift(1).rolling(_SEASON_DAYS * day, min_periods=h1).median()
    resid_scale = np.maximum(_MAD_TO_SIGMA * resid_mad.fillna(np.inf), floor)
    hod = (resid / resid_scale).clip(-Z_CLIP, Z_CLIP)
    # Before a full day (or a usable residual scale) exists, fall back to the 24 h robust z.
    hod = hod.where(seasonal.notna() & resid_mad.notna(), rz).fillna(0.0)

    mean_1h = x.rolling(h1, min_periods=1).mean()
    prev_m1 = mean_1h.shift(h1)
    m1_med = prev_m1.rolling(day, min_periods=h6).median()
    m1_mad = (prev_m1 - m1_med).abs().rolling(day, min_periods=h6).median()
    m1_scale = np.maximum(_MAD_TO_SIGMA * m1_mad.fillna(np.inf), floor)
    m1_z = ((mean_1h - m1_med) / m1_scale).clip(-Z_CLIP, Z_CLIP).fillna(0.0)

    zero_run = _zero_run(arr)

    slope = _rolling_slope(x, day, float(per_hour))
    trend_scale = np.maximum(_MAD_TO_SIGMA * resid_mad.fillna(mad).fillna(np.inf), floor)
    slope_z = (slope * 24.0 / trend_scale).clip(-Z_CLIP, Z_CLIP).fillna(0.0)

    point_dev = np.maximum(np.abs(rz.to_numpy()), np.abs(hod.to_numpy()))
    mean_dev = np.where(point_dev >= MEAN_GATE_Z, np.abs(m1_z.to_numpy()), 0.0)
    prev_max = _prev_run_max(zero_run, _SEASON_DAYS * day)
    stuck = (zero_run >= MIN_ZERO_RUN) & (zero_run > STUCK_RUN_FACTOR * prev_max)
    dev = np.where(stuck, Z_CLIP, np.maximum(point_dev, mean_dev))

    out = {
        prefix: arr,
        f"{prefix}_delta": x.diff().fillna(0.0).to_numpy(),
        f"{prefix}_mean_1h": mean_1h.to_numpy(),
        f"{prefix}_std_1h": x.rolling(h1, min_periods=1).std().fillna(0.0).to_numpy(),
        f"{prefix}_mean_6h": x.rolling(h6, min_periods=1).mean().to_numpy(),
        f"{prefix}_std_6h": x.rolling(h6, min_periods=1).std().fillna(0.0).to_numpy(),
        f"{prefix}_rz": rz.fillna(0.0).to_numpy(),
        f"{prefix}_hod_z": hod.to_numpy(),
        f"{prefix}_mean_1h_z": m1_z.to_numpy(),
        f"{prefix}_zero_run": zero_run,
        f"{prefix}_zero_run_prev_max": prev_max,
        f"{prefix}_slope_24h": slope.to_numpy(),
        f"{prefix}_slope_z": slope_z.to_numpy(),
        f"{prefix}_dev": dev,
    }
    return {k: np.nan_to_num(np.asarray(v, dtype=float)) for k, v in out.items()}


def _utc_index(ts: pd.Series) -> pd.DatetimeIndex:
    stamps = pd.DatetimeIndex(pd.to_datetime(ts))
    return stamps.tz_convert("UTC") if stamps.tz is not None else stamps


def _hours_of_day(ts: pd.Series) -> np.ndarray:
    stamps = _utc_index(ts)
    return np.asarray(stamps.hour + stamps.minute / 60.0, dtype=float)


def weekend_class(ts: pd.Series) -> np.ndarray:
    """1.0 for rows on a Saturday or Sunday (UTC), else 0.0."""
    return np.asarray(_utc_index(ts).dayofweek >= 5, dtype=float)


def window_features(df: pd.DataFrame) -> pd.DataFrame:
    """Causal window features for the rows of ONE node.

    Args:
        df: Node metrics with ``ts``, ``node_id``, ``provider``, ``region`` and the columns in
            :data:`METRICS`. Rows are sorted by ``ts`` here if they are not already.

    Returns:
        ``ts, node_id, provider, region`` followed by :data:`FEATURE_COLUMNS`, one row per input
        row (in ``ts`` order), with no NaN.

    Raises:
        KeyError: If a required column is missing.
    """
    missing = [c for c in (*ID_COLUMNS, *METRICS) if c not in df.columns]
    if missing:
        raise KeyError(f"window_features: missing columns {missing}")
    frame = df.sort_values("ts", kind="stable").reset_index(drop=True)
    step = infer_step(frame["ts"])
    hours = _hours_of_day(frame["ts"])
    weekend = weekend_class(frame["ts"])
    columns: dict[str, np.ndarray] = {}
    for metric in METRICS:
        columns.update(series_features(frame[metric], step, metric, weekend))
    angle = 2.0 * np.pi * hours / 24.0
    columns["hour_sin"] = np.sin(angle)
    columns["hour_cos"] = np.cos(angle)
    out = frame[list(ID_COLUMNS)].copy()
    feats = pd.DataFrame(columns, index=out.index)[FEATURE_COLUMNS]
    return pd.concat([out, feats], axis=1)
