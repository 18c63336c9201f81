"""Contextual (KNN-CAD style) streaming detector, an alternative to the envelope detector (issue 10).

Kept for comparison in ``benchmarks/nab.py`` (row ``opslake-contextual``); the product's detector
is still :func:`opslake.anomaly.detector.detect_series`, because this one does not beat it on NAB's
real sets (see the benchmark table in the commit that added this module).

**Causal.** Row ``t`` uses rows ``<= t`` only: appending rows never changes earlier scores, flags or
events. Work is done in blocks that start at fixed rows (``min_reference + j * block_rows``), and
each block's scale comes from rows before the block, so block boundaries do not depend on the
series' length.

**Score.** Each row is represented by its *context*: its last ``context_rows`` values divided by a
robust scale of the previous ``reference_rows`` values (IQR, floored at an eighth of the min-max
spread), plus, for series sampled finely enough to hold a daily season, the time of day as a point
on a circle of radius ``phase_weight`` (so a context is compared with the same part of other days).
Its *nonconformity* is the mean distance to its ``neighbours`` nearest contexts among rows
``[t - reference_rows, t - context_rows]`` (no overlap with the current context). The score is how
far the nonconformity lies above the max of the previous ``calibration_rows`` nonconformities, in
units of that max minus their median: a conformal-style calibration per series, with no threshold
on raw values. A level shift makes contexts new for about ``context_rows + neighbours`` rows, then
the new level has neighbours and the series is quiet again.

**Events.** As in :mod:`opslake.anomaly.detector`: exceeding rows after ``warmup_rows`` merge into
one alert while no more than ``cooldown_rows`` apart.

**Hyper-parameters** were chosen on NAB's artificial sets only, one configuration for every file:
among thresholds {0.1, 0.3, 0.6, 1.0}, context lengths {4, 8, 12, 16}, phase weights {0, 1, 3} and
neighbours {1, 3}, the rule was: no false-alarm run on artificialNoAnomaly, then the highest
window F1 on artificialWithAnomaly (0.91: 5 of 6 windows), then the highest NAB score there.

**Tried and not adopted** (same rule): NAB's anomaly likelihood (tail probability of the 10-row
mean nonconformity under the previous 1000 rows' normal fit) at -log10 thresholds 4, 6, 9 (false
alarms on artificialNoAnomaly at 4, artificialWithAnomaly F1 <= 0.73); z-normalised contexts
(matrix-profile discords; 1 of 6 artificial windows); a "record" rule (alert only when the score
beats every score of the previous 1000 rows). Taking the max with the envelope detector's features
reaches F1 1.0 on artificialWithAnomaly but pools lower on the real sets than the envelope alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from opslake.anomaly.detector import SEASON, Detection, alert_events, season_rows

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
#: Version string written with every event of this detector.
CONTEXTUAL_VERSION = "contextual-knn-v0"


@dataclass(frozen=True)
class ContextConfig:
    """The one configuration of the contextual detector (module docstring: how it was chosen)."""

    context_rows: int = 8
    reference_rows: int = 1500
    neighbours: int = 3
    calibration_rows: int = 1000
    min_reference: int = 100
    warmup_rows: int = 150
    threshold: float = 0.3
    cooldown_rows: int = 300
    block_rows: int = 512
    phase_weight: float = 3.0
    season: pd.Timedelta = SEASON


DEFAULT_CONTEXT = ContextConfig()


def contexts(x: FloatArray, width: int) -> FloatArray:
    """Row ``t`` holds ``x[t - width + 1 .. t]``; rows before the start repeat ``x[0]``."""
    padded = np.r_[np.full(width - 1, x[0]), x]
    return np.lib.stride_tricks.sliding_window_view(padded, width).astype(float)


def robust_scale(history: FloatArray) -> float:
    """IQR of ``history``, floored at an eighth of its range and a relative epsilon."""
    q1, q3 = np.quantile(history, [0.25, 0.75])
    spread = float(history.max() - history.min()) / 8.0
    return max(float(q3 - q1), spread, 1e-3 * abs(float(np.median(history))) + 1e-9)


def knn_nonconformity(
    values: npt.ArrayLike, period: int = 0, config: ContextConfig = DEFAULT_CONTEXT
) -> FloatArray:
    """Mean distance of each row's context to its nearest past contexts (NaN before enough exist).

    Args:
        values: The series in time order, no NaN.
        period: Rows per season; the phase feature is used when ``period > 2``.
        config: Detector configuration.

    Returns:
        One non-negative value per row in robust-scale units, NaN for rows with fewer than
        ``max(min_reference, neighbours)`` reference contexts.
    """
    x = np.asarray(values, dtype=float)
    n, width, lag = len(x), config.context_rows, config.reference_rows
    out = np.full(n, np.nan)
    if n == 0:
        return out
    raw = contexts(x, width)
    phase = None
    if period > 2 and config.phase_weight > 0:
        angle = 2.0 * np.pi * np.arange(n) / period
        phase = config.phase_weight * np.c_[np.sin(angle), np.cos(angle)]
    need = max(config.min_reference, config.neighbours)
    for a in range(config.min_reference, n, config.block_rows):
        b = min(n, a + config.block_rows)
        lo, hi = max(0, a - lag), b - width  # candidate reference rows [lo, hi]
        if hi < lo:
            continue
        ctx = raw[lo:b] / robust_scale(x[lo:a])
        if phase is not None:
            ctx = np.c_[ctx, phase[lo:b]]
        sq = np.einsum("ij,ij->i", ctx, ctx)
        query, ref = ctx[a - lo :], ctx[: hi + 1 - lo]
        d2 = sq[a - lo :, None] + sq[None, : hi + 1 - lo] - 2.0 * (query @ ref.T)
        rows = np.arange(a, b)[:, None]
        cols = np.arange(lo, hi + 1)[None, :]
        valid = (cols <= rows - width) & (cols >= rows - lag)
        d2 = np.where(valid, np.maximum(d2, 0.0), np.inf)
        k = min(config.neighbours, d2.shape[1])
        nearest = np.partition(d2, k - 1, axis=1)[:, :k]
        with np.errstate(invalid="ignore"):
            alpha = np.sqrt(nearest.mean(axis=1) / width)
        alpha[valid.sum(axis=1) < need] = np.nan
        out[a:b] = alpha
    return out


def calibrated(alpha: FloatArray, rows: int, min_rows: int = 50) -> FloatArray:
    """How far ``alpha`` lies above the max of its previous ``rows`` values, in (max - median) units.

    NaN values score 0 and are not history.
    """
    past = pd.Series(alpha).shift(1).rolling(rows, min_periods=min_rows)
    hi, med = past.max().to_numpy(), past.median().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (alpha - hi) / np.maximum(hi - med, 1e-12)
    result: FloatArray = np.nan_to_num(np.maximum(ratio, 0.0), nan=0.0, posinf=0.0)
    return result


def detect_contextual(
    values: npt.ArrayLike, period: int = 0, config: ContextConfig = DEFAULT_CONTEXT
) -> Detection:
    """Score one series by context novelty and turn exceedances into alert events.

    Args:
        values: The series in time order (NaN = missing: carried forward; leading NaN = 0).
        period: Rows per season (see :func:`opslake.anomaly.detector.season_rows`).
        config: Detector configuration.

    Returns:
        A :class:`~opslake.anomaly.detector.Detection`; ``reason`` is 0 (``"context"``) everywhere.
    """
    x = pd.Series(np.asarray(values, dtype=float)).ffill().fillna(0.0).to_numpy()
    score = calibrated(knn_nonconformity(x, period, config), config.calibration_rows)
    exceeds = score >= config.threshold
    exceeds[: config.warmup_rows] = False
    reason = np.zeros(len(score), dtype=np.int64)
    return Detection(score, reason, exceeds, alert_events(exceeds, score, config.cooldown_rows))


def detect_series_contextual(
    frame: pd.DataFrame,
    value: str = "value",
    ts: str = "timestamp",
    config: ContextConfig = DEFAULT_CONTEXT,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows and events of one ``ts, value`` series, in the format of ``detector.detect_series``.

    Raises:
        KeyError: If a column is missing.
    """
    missing = [c for c in (ts, value) if c not in frame.columns]
    if missing:
        raise KeyError(f"detect_series_contextual: missing columns {missing}")
    ordered = frame.sort_values(ts, kind="mergesort").reset_index(drop=True)
    found = detect_contextual(
        pd.to_numeric(ordered[value], errors="coerce").to_numpy(dtype=float),
        season_rows(pd.to_datetime(ordered[ts]), config.season),
        config,
    )
    rows = pd.DataFrame(
        {
            ts: ordered[ts],
            "score": found.score,
            "is_anomaly": found.exceeds,
            "alert_start": found.alert_starts,
            "reason": "context",
        }
    )
    starts, ends, peaks = (np.array([e[k] for e in found.events], dtype=np.int64) for k in range(3))
    stamps = ordered[ts]
    exceeding = np.r_[0, np.cumsum(found.exceeds)]
    events = pd.DataFrame(
        {
            "start_ts": stamps.iloc[starts].reset_index(drop=True),
            "end_ts": stamps.iloc[ends].reset_index(drop=True),
            "peak_ts": stamps.iloc[peaks].reset_index(drop=True),
            "peak_score": found.score[peaks].astype(float),
            "rows": (exceeding[ends + 1] - exceeding[starts]).astype(np.int64),
            "reason": pd.Series(["context"] * len(starts), dtype=object),
            "detector_version": pd.Series([CONTEXTUAL_VERSION] * len(starts), dtype=object),
        }
    )
    return rows, events
