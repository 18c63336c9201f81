"""The NAB quality measures of issue 10: the window metric and NAB's standard-profile score.

Both work on row positions of one data file: its labelled windows become inclusive ``(first, last)``
row ranges (:func:`window_rows`), and the first ``probation_rows(n)`` rows are never scored.

**Window metric** (:func:`window_counts`): a window is a true positive when at least one flagged row
lies inside it, else a false negative; every maximal run of consecutive flagged rows that touches no
window is one false positive. Counts are pooled over a set's files (:func:`pooled`).

**NAB score** (:func:`sweep_weights`, :func:`corpus_sweep`), as defined by Lavin & Ahmad (2015) and
NAB's scorer: inside a window a detection at relative position ``p`` (``-1`` at the window's first
row, ``-1/width`` at its last) earns ``tpWeight * σ(p) / σ(-1)`` with the scaled sigmoid
``σ(p) = 2 / (1 + e^{5p}) - 1``, and only the best (earliest) detection of a window counts; a window
without detection costs ``fnWeight``; every flagged row outside windows costs
``fpWeight * σ(d)``, ``d`` being its distance past the previous window's last row in units of that
window's width minus one (``σ = -1`` when there is no earlier window or ``d >= 3``). A detector's
continuous score is thresholded at one value for the whole corpus (the one maximising the corpus
total), and the total is normalised so that the null detector (never fires, ``-fnWeight`` per
window) scores 0 and the perfect detector (every window at its first row) scores 100.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

#: Share of a file that is probation, and the cap on probation rows (0.15 * 5000 = 750).
PROBATION_SHARE = 0.15
PROBATION_CAP = 750
#: NAB's standard profile, used when ``config/profiles.json`` is absent.
STANDARD_PROFILE: dict[str, float] = {
    "tpWeight": 1.0,
    "fpWeight": 0.11,
    "fnWeight": 1.0,
    "tnWeight": 1.0,
}
NAB_SETS: tuple[str, ...] = (
    "artificialNoAnomaly",
    "artificialWithAnomaly",
    "realKnownCause",
    "realTraffic",
    "realAdExchange",
)

Rows = tuple[int, int]


def probation_rows(n: int) -> int:
    """Rows at the start of an ``n``-row file that are never flagged or scored."""
    return int(min(math.floor(PROBATION_SHARE * n), PROBATION_CAP))


def window_rows(
    timestamps: Sequence[Any] | pd.Series, windows: Iterable[Sequence[Any]]
) -> list[Rows]:
    """Inclusive row ranges of labelled windows (rows whose timestamp lies in ``[start, end]``).

    Args:
        timestamps: Row timestamps of one file, ascending.
        windows: ``(start, end)`` pairs (strings or timestamps, naive UTC).

    Returns:
        ``(first, last)`` row of each window that holds at least one row, in time order.
    """
    times = pd.DatetimeIndex(pd.to_datetime(list(timestamps)))
    out: list[Rows] = []
    for start, end in windows:
        lo = int(times.searchsorted(pd.Timestamp(start), side="left"))
        hi = int(times.searchsorted(pd.Timestamp(end), side="right")) - 1
        if hi >= lo:
            out.append((lo, hi))
    return sorted(out)


@dataclass(frozen=True)
class WindowCounts:
    """Pooled window-metric counts (true positives, false negatives, false-positive runs)."""

    tp: int = 0
    fn: int = 0
    fp: int = 0

    def __add__(self, other: WindowCounts) -> WindowCounts:
        return WindowCounts(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2.0 * self.tp / (2.0 * self.tp + self.fp + self.fn) if self.tp else 0.0


def _flag_array(flags: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Flags as a fresh bool array with the probation rows cleared."""
    out = np.array(flags, dtype=bool).ravel()
    out[: probation_rows(len(out))] = False
    return out


def window_counts(flags: npt.ArrayLike, windows: Sequence[Rows]) -> WindowCounts:
    """Window-metric counts of one file.

    Args:
        flags: One boolean per row (flags in the probation rows are ignored).
        windows: Inclusive ``(first, last)`` row ranges (see :func:`window_rows`).

    Returns:
        ``tp`` windows with a flagged row, ``fn`` windows without, ``fp`` runs of consecutive
        flagged rows that touch no window.
    """
    flag = _flag_array(flags)
    in_window = np.zeros(len(flag), dtype=bool)
    tp = 0
    for lo, hi in windows:
        in_window[lo : hi + 1] = True
        tp += int(flag[lo : hi + 1].any())
    # Runs of flagged rows: a run starts where a flag follows a non-flag.
    starts = np.flatnonzero(flag & ~np.concatenate(([False], flag[:-1])))
    run_id = np.cumsum(flag & ~np.concatenate(([False], flag[:-1]))) - 1
    touched = np.zeros(len(starts), dtype=bool)
    np.logical_or.at(touched, run_id[flag & in_window], True)
    return WindowCounts(tp=tp, fn=len(windows) - tp, fp=int((~touched).sum()))


def pooled(counts: Iterable[WindowCounts]) -> WindowCounts:
    """Sum of per-file counts."""
    total = WindowCounts()
    for c in counts:
        total = total + c
    return total


def scaled_sigmoid(position: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """NAB's reward curve ``2 / (1 + e^{5p}) - 1``, and ``-1`` from ``p >= 3`` on."""
    p = np.asarray(position, dtype=float)
    value = 2.0 / (1.0 + np.exp(np.minimum(5.0 * p, 700.0))) - 1.0
    return np.where(p >= 3.0, -1.0, value)


@dataclass(frozen=True)
class SweepFile:
    """One file prepared for NAB scoring: per-row weights and window membership.

    Attributes:
        scores: Detector score per scorable row (probation rows dropped).
        weights: NAB weight of a detection at that row (positive in windows, negative outside).
        window: Index of the row's window, or -1 outside windows.
        n_windows: Windows of the file that hold scorable rows.
    """

    scores: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]
    window: npt.NDArray[np.int64]
    n_windows: int


def sweep_weights(
    scores: npt.ArrayLike, windows: Sequence[Rows], profile: Mapping[str, float] = STANDARD_PROFILE
) -> SweepFile:
    """Per-row NAB weights of one file (what a detection at that row would add to the score).

    Args:
        scores: Detector score per row (higher = more anomalous).
        windows: Inclusive ``(first, last)`` row ranges, ascending and disjoint.
        profile: ``tpWeight``, ``fpWeight``, ``fnWeight``.

    Returns:
        The file's :class:`SweepFile`.
    """
    values = np.asarray(scores, dtype=float).ravel()
    n = len(values)
    idx = np.arange(n)
    weights = np.empty(n)
    window = np.full(n, -1, dtype=np.int64)
    max_tp = float(scaled_sigmoid(-1.0))
    # Outside windows: distance past the previous window (none yet: the full FP cost).
    past = np.full(n, 3.0)
    for k, (lo, hi) in enumerate(windows):
        width = hi - lo + 1
        window[lo : hi + 1] = k
        after = idx > hi
        past[after] = np.abs(idx[after] - hi) / max(width - 1, 1)
        pos = -(hi - idx[lo : hi + 1] + 1) / width
        weights[lo : hi + 1] = profile["tpWeight"] * scaled_sigmoid(pos) / max_tp
    outside = window < 0
    weights[outside] = profile["fpWeight"] * scaled_sigmoid(past[outside])
    keep = idx >= probation_rows(n)
    scorable = np.unique(window[keep & ~outside])
    # Window numbers restricted to scorable rows, renumbered 0..k-1 (NAB drops probation rows).
    remap = np.full(len(windows) + 1, -1, dtype=np.int64)
    remap[scorable] = np.arange(len(scorable))
    return SweepFile(
        scores=values[keep],
        weights=weights[keep],
        window=np.where(window[keep] >= 0, remap[window[keep]], -1),
        n_windows=len(scorable),
    )


def raw_score(
    sweep: SweepFile, threshold: float, profile: Mapping[str, float] = STANDARD_PROFILE
) -> float:
    """NAB raw score of one file when rows with ``score >= threshold`` are detections."""
    hit = sweep.scores >= threshold
    fp = float(sweep.weights[hit & (sweep.window < 0)].sum())
    total = fp - profile["fnWeight"] * sweep.n_windows
    for k in range(sweep.n_windows):
        members = hit & (sweep.window == k)
        if members.any():
            total += profile["fnWeight"] + float(sweep.weights[members].max())
    return total


def normalised(
    raw: float, n_windows: int, profile: Mapping[str, float] = STANDARD_PROFILE
) -> float:
    """Raw score on a 0 (null detector) .. 100 (perfect detector) scale."""
    null = -profile["fnWeight"] * n_windows
    perfect = profile["tpWeight"] * n_windows
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def corpus_sweep(
    files: Sequence[SweepFile], profile: Mapping[str, float] = STANDARD_PROFILE
) -> tuple[float, float]:
    """The one threshold that maximises the corpus's total raw score, and that total.

    Every distinct score is a candidate threshold (plus "nothing flagged"). Lowering the threshold
    past a row adds its FP weight, or raises its window's best detection, so the total at each
    candidate is a cumulative sum of per-row increments sorted by score.

    Args:
        files: Prepared files (:func:`sweep_weights`).
        profile: Cost matrix.

    Returns:
        ``(threshold, raw_total)``; the threshold is ``inf`` when flagging nothing is best.
    """
    keys: list[npt.NDArray[np.float64]] = []
    deltas: list[npt.NDArray[np.float64]] = []
    base = 0.0
    for f in files:
        base -= profile["fnWeight"] * f.n_windows
        outside = f.window < 0
        keys.append(f.scores[outside])
        deltas.append(f.weights[outside])
        for k in range(f.n_windows):
            members = np.flatnonzero(f.window == k)
            order = members[np.argsort(-f.scores[members], kind="stable")]
            best = np.maximum.accumulate(f.weights[order])
            prev = np.concatenate(([-profile["fnWeight"]], best[:-1]))
            keys.append(f.scores[order])
            deltas.append(best - prev)
    key = np.concatenate(keys) if keys else np.zeros(0)
    delta = np.concatenate(deltas) if deltas else np.zeros(0)
    if len(key) == 0:
        return math.inf, base
    order = np.argsort(-key, kind="stable")
    key, delta = key[order], delta[order]
    totals = base + np.cumsum(delta)
    # A threshold includes every row with an equal score: evaluate at the last row of each value.
    last = np.flatnonzero(np.concatenate((key[1:] != key[:-1], [True])))
    at = int(np.argmax(totals[last]))
    if totals[last][at] <= base:
        return math.inf, base
    return float(key[last][at]), float(totals[last][at])


def load_profile(nab_root: Path, name: str = "standard") -> dict[str, float]:
    """A cost matrix from ``config/profiles.json`` under ``nab_root``, else the standard one."""
    path = nab_root / "config" / "profiles.json"
    if not path.exists():
        return dict(STANDARD_PROFILE)
    matrix = json.loads(path.read_text())[name]["CostMatrix"]
    return {k: float(v) for k, v in matrix.items()}


@dataclass(frozen=True)
class NabFile:
    """One NAB data file with its labelled windows."""

    set_name: str
    name: str
    frame: pd.DataFrame  # timestamp, value
    windows: list[Rows]


def load_corpus(nab_root: Path, sets: Sequence[str] = NAB_SETS) -> list[NabFile]:
    """The data files of ``sets`` under ``nab_root`` and their windows (``combined_windows.json``).

    Raises:
        FileNotFoundError: If the labels file is missing.
    """
    labels = json.loads((nab_root / "labels" / "combined_windows.json").read_text())
    out: list[NabFile] = []
    for set_name in sets:
        for path in sorted((nab_root / "data" / set_name).glob("*.csv")):
            frame = pd.read_csv(path)
            frame["timestamp"] = pd.to_datetime(frame["timestamp"])
            windows = window_rows(frame["timestamp"], labels.get(f"{set_name}/{path.name}", []))
            out.append(NabFile(set_name, path.name, frame, windows))
    return out
