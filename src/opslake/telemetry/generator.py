"""Seeded, realistic telemetry: node pools, node metrics, workloads, grid intensity and anomaly labels.

Load follows a diurnal cycle (local-time peak in the afternoon) and a weekly one (weekends lighter, by
UTC date), with AR(1) noise. Anomalies are injected and *labelled* so detectors can be scored: spikes,
level shifts, stuck-at-zero readings and slow memory leaks. Every affected point is labelled, including
the early part of a leak that a detector cannot yet tell from load.

This is the only anomaly injector: the pipeline lands its output, and the anomaly tests and the
quality benchmark score the detector on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opslake.telemetry.catalog import GRID_MEAN, INSTANCE_TYPES, REGIONS

STEP = pd.Timedelta(minutes=5)
ANOMALY_TYPES = ("spike", "level_shift", "stuck_zero", "memory_leak")
# Rough UTC offset of each region, for the local-time diurnal cycle.
UTC_OFFSET_H = {
    "us-east-1": -5, "us-west-2": -8, "eu-west-1": 0, "eu-central-1": 1, "ap-southeast-1": 8,
    "us-central1": -6, "europe-west1": 1, "europe-north1": 2, "asia-east1": 8,
    "eastus": -5, "westeurope": 1, "northeurope": 0, "southeastasia": 8,
}  # fmt: skip


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. Defaults match ``opslake run``: 7 days x 200 nodes at 5 min, 2,000 workloads."""

    start: pd.Timestamp = pd.Timestamp("2026-11-16", tz="UTC")  # noqa: RUF009 - immutable
    days: int = 7
    nodes: int = 200
    workloads: int = 2000
    seed: int = 7
    anomalous_node_share: float = 0.35  # share of nodes that get one or more injected anomalies


@dataclass(frozen=True)
class Telemetry:
    """One generated batch of every telemetry source."""

    node_pools: pd.DataFrame
    node_metrics: pd.DataFrame
    workloads: pd.DataFrame
    grid_intensity: pd.DataFrame
    anomaly_labels: pd.DataFrame


def generate(config: GeneratorConfig = GeneratorConfig()) -> Telemetry:
    """Generate a full, reproducible telemetry batch."""
    rng = np.random.default_rng(config.seed)
    pools = node_pools(rng)
    metrics, labels = node_metrics(pools, config, rng)
    return Telemetry(
        node_pools=pools,
        node_metrics=metrics,
        workloads=workloads(config, rng),
        grid_intensity=grid_intensity(config, rng),
        anomaly_labels=labels,
    )


def node_pools(rng: np.random.Generator) -> pd.DataFrame:
    """One pool per (region, instance type) of the provider, with capacity limits and latency."""
    rows = []
    for provider, regions in REGIONS.items():
        types = [t for t in INSTANCE_TYPES if t.provider == provider]
        for region, latency in regions.items():
            for itype in types:
                if itype.gpu and region not in ("us-east-1", "us-west-2"):
                    continue  # GPU capacity only in a couple of regions, as in real life
                rows.append(
                    {
                        "pool_id": f"{provider}-{region}-{itype.name}",
                        "provider": provider,
                        "region": region,
                        "instance_type": itype.name,
                        "vcpus": float(itype.vcpus),
                        "memory_gb": float(itype.memory_gb),
                        "gpu": itype.gpu,
                        # Regional price differences of a few percent.
                        "price_per_hour": round(itype.price_per_hour * rng.uniform(0.95, 1.12), 4),
                        "max_nodes": int(rng.choice([20, 40, 80])),
                        "latency_ms": latency,
                    }
                )
    frame = pd.DataFrame(rows)
    return frame.astype({"gpu": "int32", "max_nodes": "int32"})


def _timeline(config: GeneratorConfig) -> pd.DatetimeIndex:
    periods = config.days * 24 * 12
    return pd.date_range(config.start, periods=periods, freq=STEP)


def node_metrics(
    pools: pd.DataFrame, config: GeneratorConfig, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics for ``config.nodes`` nodes spread over the non-GPU pools, plus anomaly labels."""
    ts = _timeline(config)
    n_t = len(ts)
    cpu_pools = pools[pools["gpu"] == 0].reset_index(drop=True)
    pool_idx = rng.integers(0, len(cpu_pools), size=config.nodes)
    frames = []
    labels: list[pd.DataFrame] = []
    hours_utc = ts.hour.to_numpy() + ts.minute.to_numpy() / 60.0
    weekday = ts.dayofweek.to_numpy()
    for i in range(config.nodes):
        pool = cpu_pools.iloc[pool_idx[i]]
        node_id = f"node-{i:04d}"
        local_h = (hours_utc + UTC_OFFSET_H[pool["region"]]) % 24
        diurnal = np.sin((local_h - 9.0) / 24.0 * 2 * np.pi)  # peaks mid-afternoon
        weekly = np.where(np.isin(weekday, [5, 6]), -0.12, 0.0)
        base = rng.uniform(0.25, 0.55)
        amp = rng.uniform(0.08, 0.2)
        cpu = base + amp * diurnal + weekly + _ar1(n_t, 0.02, rng)
        mem = rng.uniform(0.35, 0.6) + 0.4 * amp * diurnal + _ar1(n_t, 0.008, rng)
        disk = rng.uniform(0.2, 0.7) + np.cumsum(rng.normal(2e-5, 1e-5, n_t))
        net = np.maximum(0.0, 200 * cpu + _ar1(n_t, 15.0, rng))
        values = {
            "cpu_util": np.clip(cpu, 0.01, 0.97),
            "mem_util": np.clip(mem, 0.05, 0.9),
            "disk_util": np.clip(disk, 0.05, 0.95),
            "net_mbps": net,
        }
        if rng.random() < config.anomalous_node_share:
            for kind in rng.choice(ANOMALY_TYPES, size=rng.integers(1, 3), replace=False):
                labels.append(inject_anomaly(str(kind), values, ts, node_id, rng))
        frame = pd.DataFrame({"ts": ts, "node_id": node_id, **values})
        frame["pool_id"] = pool["pool_id"]
        frame["provider"] = pool["provider"]
        frame["region"] = pool["region"]
        frames.append(frame)
    metrics = pd.concat(frames, ignore_index=True)
    columns = ["ts", "node_id", "pool_id", "provider", "region", *_METRIC_ORDER]
    label_frame = (
        pd.concat(labels, ignore_index=True).drop_duplicates(["node_id", "ts", "metric"])
        if labels
        else pd.DataFrame(columns=["ts", "node_id", "metric", "anomaly_type"])
    )
    return metrics[columns], label_frame


_METRIC_ORDER = ("cpu_util", "mem_util", "disk_util", "net_mbps")


def _ar1(n: int, sigma: float, rng: np.random.Generator, phi: float = 0.7) -> np.ndarray:
    """AR(1) noise with stationary standard deviation ``sigma``."""
    shocks = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sigma)
    for k in range(1, n):
        out[k] = phi * out[k - 1] + shocks[k]
    return out


def inject_anomaly(
    kind: str,
    values: dict[str, np.ndarray],
    ts: pd.DatetimeIndex,
    node_id: str,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Inject one anomaly of ``kind`` into one node's series, in place, and label it.

    Args:
        kind: One of :data:`ANOMALY_TYPES`.
        values: The node's metric arrays by name; the chosen metric is modified in place.
        ts: Timestamps of the rows.
        node_id: Value of the labels' ``node_id``.
        rng: Random generator (draws the metric, the position and the size).

    Returns:
        Labels ``ts, node_id, metric, anomaly_type``: one row per point of the injected window,
        which is the whole anomaly (a leak is labelled from its first step).
    """
    n = len(ts)

    def window(min_len: int, max_len: int) -> tuple[int, int]:
        """A random [start, start+length) inside the series, shortened for short series."""
        length = min(int(rng.integers(min_len, max_len)), n // 3)
        return int(rng.integers(12, max(13, n - length - 12))), length

    if kind == "spike":
        metric = str(rng.choice(["cpu_util", "net_mbps"]))
        start, length = window(1, 4)
        if metric == "cpu_util":
            values[metric][start : start + length] = rng.uniform(0.97, 1.0, length)
        else:
            values[metric][start : start + length] *= rng.uniform(5.0, 8.0)
    elif kind == "level_shift":
        metric = "cpu_util"
        start, length = window(36, 96)  # 3-8 h
        shifted = values[metric][start : start + length] + rng.choice([-1, 1]) * 0.3
        values[metric][start : start + length] = np.clip(shifted, 0.0, 1.0)
    elif kind == "stuck_zero":
        metric = str(rng.choice(["cpu_util", "net_mbps", "disk_util"]))
        start, length = window(12, 36)  # 1-3 h
        values[metric][start : start + length] = 0.0
    else:  # memory_leak: linear creep to ~0.98 over 12-36 h, then stays saturated until restart
        metric = "mem_util"
        start, length = window(144, 432)
        level = values[metric][start]
        ramp = np.linspace(level, 0.98, length)
        values[metric][start : start + length] = np.maximum(
            values[metric][start : start + length], ramp
        )
        # The whole creep is labelled: the leak is real from its first step, even if a detector can
        # only tell it from load once it has grown.
    return pd.DataFrame(
        {
            "ts": ts[start : start + length],
            "node_id": node_id,
            "metric": metric,
            "anomaly_type": kind,
        }
    )


def workloads(config: GeneratorConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Batch workloads submitted over the period, with realistic shapes and constraints."""
    n = config.workloads
    span_s = config.days * 86400
    submitted = config.start + pd.to_timedelta(np.sort(rng.integers(0, span_s, n)), unit="s")
    cpu = rng.choice([0.5, 1, 2, 4, 8], size=n, p=[0.2, 0.3, 0.25, 0.17, 0.08])
    memory = np.round(cpu * rng.choice([1, 2, 4, 8], size=n, p=[0.2, 0.4, 0.3, 0.1]), 1)
    gpu = (rng.random(n) < 0.01).astype("int32")
    eu = "eu-west-1,eu-central-1,europe-west1,europe-north1,westeurope,northeurope"
    us = "us-east-1,us-west-2,us-central1,eastus"
    allowed = rng.choice(["", eu, us], size=n, p=[0.6, 0.25, 0.15])
    return pd.DataFrame(
        {
            "workload_id": [f"wl-{i:06d}" for i in range(n)],
            "submitted_at": submitted,
            "cpu": cpu.astype(float),
            "memory_gb": memory.astype(float),
            "gpu": gpu,
            "duration_h": np.round(np.clip(rng.lognormal(0.5, 0.8, n), 0.1, 48), 2),
            "latency_sla_ms": rng.choice([100.0, 150.0, 250.0, 400.0], size=n),
            "allowed_regions": allowed,
            "provider_preference": rng.choice(
                ["", "aws", "gcp", "azure"], size=n, p=[0.7, 0.1, 0.1, 0.1]
            ),
            "priority": rng.integers(0, 4, n).astype("int32"),
            "deferrable_hours": rng.choice([0, 4, 12, 24], size=n, p=[0.4, 0.2, 0.2, 0.2]).astype(
                "int32"
            ),
        }
    )


def grid_intensity(config: GeneratorConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Hourly grid carbon intensity per region: mean x (daily solar dip, evening peak) + noise."""
    hours = pd.date_range(config.start, periods=config.days * 24, freq="h")
    frames = []
    for provider, regions in REGIONS.items():
        for region in regions:
            local_h = (hours.hour.to_numpy() + UTC_OFFSET_H[region]) % 24
            solar_dip = -0.18 * np.exp(-(((local_h - 13.0) / 3.0) ** 2))
            evening_peak = 0.12 * np.exp(-(((local_h - 19.0) / 2.0) ** 2))
            noise = _ar1(len(hours), 0.05, rng, phi=0.9)
            value = GRID_MEAN[region] * (1 + solar_dip + evening_peak + noise)
            frames.append(
                pd.DataFrame(
                    {
                        "ts": hours,
                        "provider": provider,
                        "region": region,
                        "gco2_per_kwh": np.round(np.maximum(value, 10.0), 2),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def malformed_node_metrics(config: GeneratorConfig) -> pd.DataFrame:
    """A small batch with one row of each defect real sources send, as text (like a CSV export).

    Validation must quarantine every row here except the first, which is a clean control row.
    """
    day = config.start + pd.Timedelta(hours=12)
    good = {"ts": day.isoformat(), "node_id": "node-ext-1", "pool_id": "aws-us-east-1-m5.xlarge",
            "provider": "aws", "region": "us-east-1", "cpu_util": "0.42", "mem_util": "0.51",
            "disk_util": "0.33", "net_mbps": "80.5"}  # fmt: skip
    later = (day + STEP).isoformat()
    rows = [
        good,  # control: accepted
        {**good, "node_id": None, "ts": later},  # null key
        {**good, "ts": later, "cpu_util": "1.7"},  # utilisation out of range
        {**good, "ts": later, "node_id": "node-ext-2", "region": "mars-north-1"},  # unknown region
        {**good, "ts": "2099-01-01T00:00:00+00:00"},  # future timestamp
        dict(good),  # exact duplicate of the control row
        {**good, "ts": later, "node_id": "node-ext-3", "mem_util": "n/a"},  # wrong type
    ]
    return pd.DataFrame(rows).astype(object)
