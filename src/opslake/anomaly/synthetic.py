"""A small seeded generator of labelled node-metric series, for tests and quality benchmarks.

Normal behaviour: diurnal + weekly load with AR(1) noise at 5-minute resolution. Injected anomaly
kinds (one of each requested kind per node, at non-overlapping positions after a 2-day warm-up):

* ``spike`` — 1-3 points far above normal on ``cpu_util`` or ``net_mbps``;
* ``level_shift`` — ``cpu_util`` moves by ±0.3 for 3-8 hours;
* ``stuck_zero`` — a metric reads exactly 0 for 1-3 hours;
* ``memory_leak`` — ``mem_util`` creeps linearly to ~0.98 over 12-36 hours; only the second half of
  the creep is labelled (the first half is indistinguishable from load).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from opslake.anomaly.features import METRICS

ANOMALY_KINDS: tuple[str, ...] = ("spike", "level_shift", "stuck_zero", "memory_leak")
STEP = pd.Timedelta(minutes=5)
LABEL_COLUMNS: list[str] = ["node_id", "ts", "metric", "anomaly_type"]


def _ar1(n: int, sigma: float, rng: np.random.Generator, phi: float = 0.7) -> np.ndarray:
    shocks = rng.normal(0.0, sigma * np.sqrt(1.0 - phi**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sigma)
    for k in range(1, n):
        out[k] = phi * out[k - 1] + shocks[k]
    return out


def _free_start(
    rng: np.random.Generator, n: int, length: int, taken: list[tuple[int, int]], lo: int
) -> int | None:
    """A start index whose ``[start, start+length)`` (plus margin) avoids ``taken`` intervals."""
    margin = 36
    for _ in range(200):
        hi = n - length - margin
        if hi <= lo:
            return None
        start = int(rng.integers(lo, hi))
        if all(start + length + margin <= a or start >= b + margin for a, b in taken):
            return start
    return None


def make_node_series(
    n_points: int,
    seed: int,
    inject: Sequence[str] = ANOMALY_KINDS,
    node_id: str = "node-0000",
    start: str = "2024-01-01",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate one node's metrics and the labels of the anomalies injected into them.

    Args:
        n_points: Number of 5-minute rows (at least 3 days, 864, is needed to inject).
        seed: Seed of the random generator; the same seed gives the same output.
        inject: Anomaly kinds to inject, each at most once (kinds that do not fit are skipped).
        node_id: Value of the ``node_id`` column.
        start: First timestamp (UTC).

    Returns:
        ``(metrics, labels)``: metrics with ``ts, node_id, provider, region`` and the metric
        columns; labels with one row per anomalous point: ``node_id, ts, metric, anomaly_type``.

    Raises:
        ValueError: On an unknown anomaly kind.
    """
    unknown = set(inject) - set(ANOMALY_KINDS)
    if unknown:
        raise ValueError(f"unknown anomaly kinds: {sorted(unknown)}")
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=n_points, freq=STEP, tz="UTC")
    hours = np.asarray(ts.hour + ts.minute / 60.0, dtype=float)
    diurnal = np.sin((hours - 9.0) / 24.0 * 2.0 * np.pi)
    weekly = np.where(np.isin(np.asarray(ts.dayofweek), [5, 6]), -0.12, 0.0)
    amp = rng.uniform(0.08, 0.2)
    cpu = rng.uniform(0.25, 0.55) + amp * diurnal + weekly + _ar1(n_points, 0.02, rng)
    mem = rng.uniform(0.35, 0.6) + 0.4 * amp * diurnal + _ar1(n_points, 0.008, rng)
    disk = rng.uniform(0.2, 0.7) + np.cumsum(rng.normal(2e-5, 1e-5, n_points))
    values = {
        "cpu_util": np.clip(cpu, 0.01, 0.97),
        "mem_util": np.clip(mem, 0.05, 0.9),
        "disk_util": np.clip(disk, 0.05, 0.95),
        "net_mbps": np.maximum(0.0, 200.0 * cpu + _ar1(n_points, 15.0, rng)),
    }
    labels: list[pd.DataFrame] = []
    taken: list[tuple[int, int]] = []
    warmup = 2 * 288
    for kind in inject:
        metric, length, label_offset = _plan(kind, rng)
        begin = _free_start(rng, n_points, length, taken, warmup)
        if begin is None:
            continue
        taken.append((begin, begin + length))
        _apply(kind, metric, values[metric], begin, length, rng)
        first = begin + label_offset
        labels.append(
            pd.DataFrame(
                {
                    "node_id": node_id,
                    "ts": ts[first : begin + length],
                    "metric": metric,
                    "anomaly_type": kind,
                }
            )
        )
    metrics = pd.DataFrame(
        {"ts": ts, "node_id": node_id, "provider": "aws", "region": "eu-west-1", **values}
    )
    label_frame = (
        pd.concat(labels, ignore_index=True).sort_values("ts", ignore_index=True)
        if labels
        else pd.DataFrame({c: pd.Series(dtype=object) for c in LABEL_COLUMNS})
    )
    return metrics[["ts", "node_id", "provider", "region", *METRICS]], label_frame


def _plan(kind: str, rng: np.random.Generator) -> tuple[str, int, int]:
    """(metric, affected length, offset of the first labelled row) of one injection."""
    if kind == "spike":
        return str(rng.choice(["cpu_util", "net_mbps"])), int(rng.integers(1, 4)), 0
    if kind == "level_shift":
        return "cpu_util", int(rng.integers(36, 97)), 0
    if kind == "stuck_zero":
        return str(rng.choice(["cpu_util", "net_mbps", "disk_util"])), int(rng.integers(12, 37)), 0
    length = int(rng.integers(144, 433))
    return "mem_util", length, length // 2


def _apply(
    kind: str, metric: str, series: np.ndarray, start: int, length: int, rng: np.random.Generator
) -> None:
    """Inject ``kind`` into ``series[start:start+length]`` of ``metric`` in place."""
    window = slice(start, start + length)
    if kind == "spike":
        if metric != "net_mbps":
            series[window] = rng.uniform(0.97, 1.0, length)
        else:
            series[window] *= rng.uniform(5.0, 8.0)
    elif kind == "level_shift":
        series[window] = np.clip(series[window] + rng.choice([-1.0, 1.0]) * 0.3, 0.0, 1.0)
    elif kind == "stuck_zero":
        series[window] = 0.0
    else:
        ramp = np.linspace(series[start], 0.98, length)
        series[window] = np.maximum(series[window], ramp)


def make_fleet(
    n_nodes: int,
    n_points: int,
    seed: int,
    anomalous_share: float = 0.5,
    kinds: Sequence[str] = ANOMALY_KINDS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Several nodes from :func:`make_node_series`, concatenated.

    A share ``anomalous_share`` of the nodes gets one or two random kinds from ``kinds``; the
    others are clean. With 14 days per node and the default share, about 1-2 % of points are
    anomalous, like the production telemetry.

    Args:
        n_nodes: Number of nodes.
        n_points: Rows per node.
        seed: Seed; node ``i`` uses ``seed * 1000 + i`` for its own series.
        anomalous_share: Probability that a node receives anomalies.
        kinds: Kinds to draw from.

    Returns:
        ``(metrics, labels)`` for all nodes.
    """
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    for i in range(n_nodes):
        chosen: list[str] = []
        if rng.random() < anomalous_share:
            size = int(rng.integers(1, 3))
            chosen = [str(k) for k in rng.choice(list(kinds), size=size, replace=False)]
        m, lab = make_node_series(n_points, seed * 1000 + i, chosen, node_id=f"node-{i:04d}")
        frames.append(m)
        labels.append(lab)
    non_empty = [lab for lab in labels if not lab.empty]
    label_frame = (
        pd.concat(non_empty, ignore_index=True)
        if non_empty
        else pd.DataFrame({c: pd.Series(dtype=object) for c in LABEL_COLUMNS})
    )
    return pd.concat(frames, ignore_index=True), label_frame
