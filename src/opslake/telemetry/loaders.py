"""Loaders for external telemetry formats: Prometheus range-query JSON and ``timestamp,value`` CSV series.

Both return plain pandas frames in the canonical column names; they do not validate values (that is the
job of ``opslake.quality``), but a file that is not in the expected format raises ``SourceFileError``
naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from opslake.exceptions import SourceFileError

# Prometheus metric name -> node_metrics column.
DEFAULT_METRIC_MAP: Mapping[str, str] = {
    "node_cpu_utilisation": "cpu_util",
    "node_memory_utilisation": "mem_util",
    "node_filesystem_utilisation": "disk_util",
    "node_network_mbps": "net_mbps",
}


def parse_prometheus_range(
    payload: Mapping[str, Any],
    source: str = "<payload>",
    metric_map: Mapping[str, str] = DEFAULT_METRIC_MAP,
    node_label: str = "instance",
) -> pd.DataFrame:
    """Turn a Prometheus ``/api/v1/query_range`` response (resultType ``matrix``) into node_metrics rows.

    One output row per (node, timestamp) with one column per mapped metric. Labels ``provider``,
    ``region`` and ``pool_id`` are carried over when present. Values stay as Prometheus sent them
    (strings) so that malformed values reach validation and are quarantined, not silently dropped.
    """
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if payload.get("status") != "success" or not isinstance(data, Mapping):
        raise SourceFileError(source, "not a successful Prometheus query_range response")
    if data.get("resultType") != "matrix":
        raise SourceFileError(
            source, f"expected resultType 'matrix', got {data.get('resultType')!r}"
        )
    records: list[dict[str, Any]] = []
    for series in data.get("result", []):
        labels = series.get("metric", {})
        column = metric_map.get(labels.get("__name__", ""))
        if column is None:
            continue
        for ts, value in series.get("values", []):
            records.append(
                {
                    "ts": ts,
                    "node_id": labels.get(node_label),
                    "pool_id": labels.get("pool_id"),
                    "provider": labels.get("provider"),
                    "region": labels.get("region"),
                    "metric": column,
                    "value": value,
                }
            )
    if not records:
        return pd.DataFrame(columns=["ts", "node_id", "pool_id", "provider", "region"])
    long = pd.DataFrame.from_records(records)
    long["ts"] = pd.to_datetime(pd.to_numeric(long["ts"], errors="coerce"), unit="s", utc=True)
    keys = ["ts", "node_id", "pool_id", "provider", "region"]
    wide = long.pivot_table(
        index=keys, columns="metric", values="value", aggfunc="first", dropna=False
    ).reset_index()
    wide.columns.name = None
    return wide.dropna(subset=["ts"], how="all")


def load_prometheus_json(
    path: Path, metric_map: Mapping[str, str] = DEFAULT_METRIC_MAP
) -> pd.DataFrame:
    """Read a saved Prometheus range-query response from ``path``."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SourceFileError(str(path), f"cannot read Prometheus JSON: {exc}") from exc
    return parse_prometheus_range(payload, source=str(path), metric_map=metric_map)


def load_series_csv(path: Path) -> pd.DataFrame:
    """Read a ``timestamp,value`` CSV (e.g. a NAB series) with a UTC ``timestamp`` and float ``value``."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise SourceFileError(str(path), f"cannot read CSV: {exc}") from exc
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise SourceFileError(str(path), f"missing columns {sorted(missing)}")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame["value"] = pd.to_numeric(frame["value"], errors="raise").astype(float)
    return frame[["timestamp", "value"]]
