"""Anomaly detection quality: precision / recall / F1 against a plain 3-sigma baseline.

Synthetic fleets from the telemetry generator the pipeline lands (opslake.telemetry.generator,
14 days per node, half the nodes with injected anomalies labelled over their whole extent; train
seed 100, held-out test seeds 300-302): point level (sklearn.metrics) and event level (one alert =
flagged points less than 1 h apart; a window is detected if any flagged point falls inside it). The
baseline flags ``|x - mean| > 3 std`` of each raw series (per node and metric), computed in the same
process. The public NAB corpus is measured by :mod:`benchmarks.nab` (issue 10's window metric and
NAB's standard score per set, beside 3-sigma, a naive IsolationForest and the published detectors).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks import nab
from benchmarks.common import BenchRow, Timer, write_results
from opslake.anomaly import score, train, window_features
from opslake.anomaly.evaluation import combine, event_metrics, label_windows, precision_recall_f1
from opslake.anomaly.features import METRICS
from opslake.telemetry import GeneratorConfig, generate

GAP = pd.Timedelta("1h")
NAME = "anomaly_quality"
ANOMALOUS_SHARE = 0.5  # more anomalous nodes than the pipeline's 0.35, for steadier figures


def _three_sigma(values: pd.Series) -> np.ndarray:
    x = values.to_numpy(dtype=float)
    sd = float(np.std(x))
    return np.abs(x - np.mean(x)) > 3.0 * sd if sd > 0 else np.zeros(len(x), dtype=bool)


def _features(metrics: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([window_features(g) for _, g in metrics.groupby("node_id")], ignore_index=True)


def _rows(bench: str, ours: dict[str, float], base: dict[str, float], level: str) -> list[BenchRow]:
    rows = []
    for metric in ("precision", "recall", "f1"):
        target = ">= 1.0x baseline" if metric == "f1" else ""
        # Both at zero is no evidence either way: leave "met" empty rather than claim a win.
        both_zero = ours[metric] == 0 and base[metric] == 0
        met = ours[metric] >= base[metric] if metric == "f1" and not both_zero else None
        rows.append(
            BenchRow(
                benchmark=bench,
                metric=f"{level}_{metric}",
                value=round(ours[metric], 4),
                unit="ratio",
                baseline=round(base[metric], 4),
                baseline_name="3-sigma on raw value",
                target=target,
                met=met,
            )
        )
    return rows


def _fleet(nodes: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(node_metrics, anomaly_labels)`` of 14 days from the pipeline's generator."""
    config = GeneratorConfig(
        days=14, nodes=nodes, workloads=0, seed=seed, anomalous_node_share=ANOMALOUS_SHARE
    )
    telemetry = generate(config)
    return telemetry.node_metrics, telemetry.anomaly_labels


def _is_labelled(frame: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
    key = set(zip(labels["node_id"], labels["ts"], strict=True))
    return np.array([k in key for k in zip(frame["node_id"], frame["ts"], strict=True)])


def _three_sigma_flags(metrics: pd.DataFrame) -> np.ndarray:
    """The baseline's flags for ``metrics`` sorted by node and time (any metric beyond 3 sigma)."""
    flags = np.zeros(len(metrics), dtype=bool)
    for _, idx in metrics.groupby("node_id").groups.items():
        for metric in METRICS:
            flags[np.asarray(idx)] |= _three_sigma(metrics.loc[idx, metric])
    return flags


def synthetic_rows(quick: bool) -> list[BenchRow]:
    """Quality on held-out synthetic fleets."""
    n_nodes = 6 if quick else 12
    test_seeds = (300,) if quick else (300, 301, 302)
    metrics, _ = _fleet(n_nodes, seed=100)
    with Timer() as t_train:
        model = train(_features(metrics), scope="synthetic/all", version="bench", seed=0)
    flags, actual, base_flags, base_actual = [], [], [], []
    events, base_events = [], []
    with Timer() as t_score:
        for seed in test_seeds:
            m, labels = _fleet(n_nodes, seed=seed)
            scored = score(model, _features(m))
            flags.append(scored["is_anomaly"].to_numpy())
            actual.append(_is_labelled(scored, labels))
            m = m.sort_values(["node_id", "ts"], ignore_index=True)
            base_flag = _three_sigma_flags(m)
            base_flags.append(base_flag)
            base_actual.append(_is_labelled(m, labels))
            for node, g in scored.groupby("node_id"):
                lab = labels[labels["node_id"] == node]
                wins = [
                    w
                    for _, lg in lab.groupby(["metric", "anomaly_type"])
                    for w in label_windows(lg)
                ]
                events.append(event_metrics(g.loc[g["is_anomaly"], "ts"], wins, max_gap=GAP))
                node_rows = (m["node_id"] == node).to_numpy()
                base_ts = m.loc[node_rows & base_flag, "ts"]
                base_events.append(event_metrics(base_ts, wins, max_gap=GAP))
    points = precision_recall_f1(np.concatenate(flags), np.concatenate(actual))
    base_points = precision_recall_f1(np.concatenate(base_flags), np.concatenate(base_actual))
    rows = _rows("synthetic", points, base_points, "point")
    rows += _rows("synthetic", combine(events), combine(base_events), "event")
    rows.append(BenchRow("synthetic", "train_seconds", round(t_train.seconds, 3), "s"))
    rows.append(BenchRow("synthetic", "score_seconds", round(t_score.seconds, 3), "s"))
    return rows


def run(quick: bool = False) -> list[BenchRow]:
    """All rows of the anomaly quality benchmark.

    Args:
        quick: Fewer synthetic nodes and one test seed.

    Returns:
        Benchmark rows (value vs same-process 3-sigma baseline); the NAB rows of
        :mod:`benchmarks.nab` (window metric and NAB score per set, opslake and baselines).
    """
    return synthetic_rows(quick) + nab.run(quick)


if __name__ == "__main__":
    import sys

    result = run(quick="--quick" in sys.argv)
    for r in result:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        print(
            f"{r.benchmark:42s} {r.metric:18s} {r.value:>9} base={r.baseline!s:>8} {ratio:>7} {r.note}"
        )
    print(nab.table(result))
    if "--write" in sys.argv:
        print(write_results(NAME, result))
