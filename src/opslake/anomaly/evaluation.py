"""Quality measures for anomaly detectors: point-level, event-level and NAB-style scores.

Point-level scores come from :mod:`sklearn.metrics`. Event-level scores count windows and alert
clusters, which sklearn cannot express; their counts (and counts summed elsewhere, e.g. in Spark)
go through :func:`scores_from_counts`, with sklearn's convention that 0/0 is 0.0
(``zero_division=0``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

Window = tuple[pd.Timestamp, pd.Timestamp]
DEFAULT_GAP = pd.Timedelta(minutes=5)
#: NAB's standard profile (``config/profiles.json``).
NAB_STANDARD: dict[str, float] = {
    "tpWeight": 1.0,
    "fnWeight": 1.0,
    "fpWeight": 0.11,
    "tnWeight": 1.0,
}


def scores_from_counts(tp: float, fp: float, fn: float) -> dict[str, float]:
    """Precision, recall and F1 from confusion counts, for counts that are not point labels.

    Args:
        tp: True positives (detected windows, or flagged labelled points).
        fp: False positives (alert clusters outside every window, or flagged clean points).
        fn: False negatives (missed windows, or unflagged labelled points).

    Returns:
        ``tp, fp, fn`` (as floats) and ``precision, recall, f1``; 0/0 gives 0.0.
    """
    return {
        "tp": float(tp),
        "fp": float(fp),
        "fn": float(fn),
        "precision": float(tp) / (tp + fp) if tp + fp else 0.0,
        "recall": float(tp) / (tp + fn) if tp + fn else 0.0,
        # The form sklearn uses: equal to 2PR / (P + R), and 0.0 when there is no TP.
        "f1": 2.0 * tp / (2.0 * tp + fp + fn) if tp else 0.0,
    }


def precision_recall_f1(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> dict[str, float]:
    """Point-level precision, recall and F1 of boolean predictions (:mod:`sklearn.metrics`).

    Args:
        predicted: Flags, one per point.
        actual: True labels, same length.

    Returns:
        ``tp, fp, fn, tn`` (as floats) and ``precision, recall, f1``; 0/0 gives 0.0.

    Raises:
        ValueError: If the lengths differ or there are no points.
    """
    pred = np.asarray(predicted, dtype=bool).ravel()
    true = np.asarray(actual, dtype=bool).ravel()
    tn, fp, fn, tp = confusion_matrix(true, pred, labels=[False, True]).ravel()
    precision, recall, f1, _ = precision_recall_fscore_support(
        true, pred, average="binary", zero_division=0.0
    )
    return {
        "tp": float(tp),
        "fp": float(fp),
        "fn": float(fn),
        "tn": float(tn),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def _naive_utc(values: Iterable[Any]) -> pd.DatetimeIndex:
    """Timestamps as a naive UTC index (aware values are converted, naive ones taken as UTC)."""
    index = pd.DatetimeIndex(pd.to_datetime(list(values), utc=True))
    return index.tz_localize(None)


def _sorted_times(values: Iterable[Any]) -> pd.DatetimeIndex:
    return _naive_utc(values).sort_values()


def clusters(timestamps: Iterable[Any], max_gap: pd.Timedelta = DEFAULT_GAP) -> list[Window]:
    """Group timestamps into runs whose consecutive members are at most ``max_gap`` apart.

    Args:
        timestamps: Flagged (or labelled) timestamps, any order.
        max_gap: Largest gap inside one run (the sampling step for "consecutive points").

    Returns:
        ``(first, last)`` of each run, in time order.
    """
    times = _sorted_times(timestamps)
    if len(times) == 0:
        return []
    out: list[Window] = []
    start = prev = times[0]
    for t in times[1:]:
        if t - prev > max_gap:
            out.append((start, prev))
            start = t
        prev = t
    out.append((start, prev))
    return out


def label_windows(
    labels: pd.DataFrame, max_gap: pd.Timedelta = DEFAULT_GAP, ts_column: str = "ts"
) -> list[Window]:
    """Anomaly windows of ONE series from point labels: runs of consecutive labelled points.

    Args:
        labels: Label rows (one per anomalous point) of a single node / series.
        max_gap: Largest gap inside one window.
        ts_column: Timestamp column.

    Returns:
        Windows ``(start, end)``, inclusive, in time order.
    """
    return clusters(labels[ts_column].drop_duplicates(), max_gap)


def event_metrics(
    pred_ts: Iterable[Any],
    label_windows: Sequence[Window],
    max_gap: pd.Timedelta = DEFAULT_GAP,
) -> dict[str, float]:
    """Event-level precision, recall and F1 for ONE series.

    A window counts as detected (TP) if any flagged timestamp falls inside it (bounds
    inclusive); otherwise it is a FN. Flagged timestamps are grouped into clusters of consecutive
    points (gap <= ``max_gap``); a cluster with no point inside any window is one FP event.
    Precision is ``TP / (TP + FP)`` and recall ``TP / windows``.

    Args:
        pred_ts: Timestamps flagged by the detector.
        label_windows: Labelled anomaly windows ``(start, end)``.
        max_gap: Largest gap between flagged points of one cluster.

    Returns:
        ``tp, fp, fn`` (floats) and ``precision, recall, f1``.
    """
    times = _sorted_times(pred_ts)
    windows = [(_naive_utc([a])[0], _naive_utc([b])[0]) for a, b in label_windows]
    inside = np.zeros(len(times), dtype=bool)
    tp = 0
    for start, end in windows:
        hit = (times >= start) & (times <= end)
        inside |= np.asarray(hit)
        tp += int(hit.any())
    fp = 0
    for first, last in clusters(times, max_gap):
        members = (times >= first) & (times <= last)
        fp += int(not inside[np.asarray(members)].any())
    return scores_from_counts(tp, fp, len(windows) - tp)


def combine(counts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Sum ``tp, fp, fn`` over several series and recompute precision, recall and F1 (micro)."""
    tp = fp = fn = 0.0
    for c in counts:
        tp, fp, fn = tp + c["tp"], fp + c["fp"], fn + c["fn"]
    return scores_from_counts(tp, fp, fn)


def nab_windows(labels_json: Mapping[str, Any], file_key: str) -> list[Window]:
    """Anomaly windows of one NAB data file from ``combined_windows.json``.

    Args:
        labels_json: The parsed JSON (file key -> list of ``[start, end]`` strings).
        file_key: The key (``"artificialWithAnomaly/art_daily_jumpsup.csv"``) or a unique
            suffix of it such as the file name.

    Returns:
        Windows as naive (UTC) timestamps.

    Raises:
        KeyError: If no key, or more than one key, matches.
    """
    if file_key in labels_json:
        key = file_key
    else:
        matches = [k for k in labels_json if k.endswith("/" + file_key) or k == file_key]
        if len(matches) != 1:
            raise KeyError(f"{file_key!r} matches {len(matches)} NAB label keys")
        key = matches[0]
    return [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in labels_json[key]]


def _scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: ~1 at the left edge of a window (-1), 0 at its right edge, -1 far after."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def nab_score(
    timestamps: Iterable[Any],
    flags: npt.ArrayLike,
    windows: Sequence[Window],
    profile: Mapping[str, float] = NAB_STANDARD,
    probation: float = 0.15,
) -> dict[str, float]:
    """NAB-style score of binary detections on one file.

    Follows the NAB rules (Lavin & Ahmad 2015): rows in the probationary first 15 % (at most
    ``0.15 * 5000`` rows) are ignored; in each window only the earliest detection counts, rewarded
    ``tpWeight * σ(pos) / σ(-1)`` where ``pos`` runs from -1 at the window's left edge to 0 at its
    right edge; a missed window costs ``fnWeight``; each detection outside windows costs
    ``fpWeight`` times ``-σ(pos)``, where ``pos`` is the distance after the previous window's end in
    window lengths (a full ``fpWeight`` when there is no earlier window or it is 3+ lengths away).

    Args:
        timestamps: Row timestamps of the file, in order.
        flags: Detections, one per row.
        windows: Anomaly windows (bounds inclusive).
        profile: Cost matrix (``tpWeight``, ``fpWeight``, ``fnWeight``).
        probation: Probationary share of the file.

    Returns:
        ``raw`` score, ``normalized`` score (100 = perfect, 0 = a detector that never fires),
        ``detected`` windows, ``fp`` detections counted.
    """
    times = _naive_utc(timestamps)
    flag = np.asarray(flags, dtype=bool)
    n = len(times)
    probation_rows = min(math.floor(probation * n), probation * 5000)
    win_idx: list[tuple[int, int]] = []
    for start, end in windows:
        lo, hi = _naive_utc([start])[0], _naive_utc([end])[0]
        members = np.flatnonzero((times >= lo) & (times <= hi))
        if len(members):
            win_idx.append((int(members[0]), int(members[-1])))
    max_tp = _scaled_sigmoid(-1.0)
    raw = 0.0
    detected = 0
    fps = 0
    for left, right in win_idx:
        width = right - left + 1
        hits = [i for i in range(left, right + 1) if flag[i] and i >= probation_rows]
        if hits:
            pos = -(right - hits[0] + 1) / width
            raw += profile["tpWeight"] * _scaled_sigmoid(pos) / max_tp
            detected += 1
        else:
            raw -= profile["fnWeight"]
    in_window = np.zeros(n, dtype=bool)
    for left, right in win_idx:
        in_window[left : right + 1] = True
    for i in np.flatnonzero(flag & ~in_window):
        if i < probation_rows:
            continue
        before = [(lft, r) for lft, r in win_idx if r < i]
        if before:
            lft, r = before[-1]
            pos = abs(r - i) / float(max(r - lft, 1))
        else:
            pos = 3.0
        raw += profile["fpWeight"] * _scaled_sigmoid(pos)
        fps += 1
    perfect = profile["tpWeight"] * len(win_idx)
    null = -profile["fnWeight"] * len(win_idx)
    normalized = 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
    return {"raw": raw, "normalized": normalized, "detected": float(detected), "fp": float(fps)}
