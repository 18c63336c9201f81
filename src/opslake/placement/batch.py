"""Pack the workloads of one node pool onto its nodes (the body of a Spark applyInPandas).

Sizes are (cpu, memory) per workload, plus gpu as a third dimension when the pool has gpus; a node
is one bin with the pool's (vcpus, memory_gb[, gpu]). When more nodes than ``max_nodes`` would be
needed, the nodes beyond the limit (the last ones opened, the least filled after the search) are
dropped and their workloads reported unplaced with reason ``exceeds max_nodes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from opslake.placement.core import pack

PLACEMENT_COLUMNS: list[tuple[str, str]] = [
    ("workload_id", "string"),
    ("pool_id", "string"),
    ("node_index", "int64"),
    ("placed", "bool"),
    ("reason", "string"),
]
SUMMARY_COLUMNS: list[tuple[str, str]] = [
    ("pool_id", "string"),
    ("algorithm", "string"),
    ("n_workloads", "int64"),
    ("nodes_used", "int64"),
    ("lower_bound", "int64"),
    ("gap", "float64"),
    ("cpu_utilisation", "float64"),
    ("mem_utilisation", "float64"),
    ("cost_per_hour", "float64"),
    ("runtime_s", "float64"),
    ("n_unplaced", "int64"),
]

REASON_TOO_BIG = "does not fit one node"
REASON_MAX_NODES = "exceeds max_nodes"
REASON_NO_GPU = "needs gpu, pool has none"


def place_pool(
    workloads: pd.DataFrame,
    pool: Mapping[str, Any],
    algorithm: str = "ffd",
    seed: int = 0,
    *,
    search_budget: int | None = None,
    safety_limit_s: float | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Bin-pack one pool's workloads onto its nodes.

    Args:
        workloads: Rows with ``workload_id``, ``cpu``, ``memory_gb`` and optionally ``gpu``.
        pool: The pool row (``pool_id``, ``vcpus``, ``memory_gb``, ``gpu``, ``price_per_hour``,
            ``max_nodes``).
        algorithm: Any algorithm accepted by :func:`opslake.placement.pack`.
        seed: Seed of the stochastic algorithms.
        search_budget: Search budget (weighted iterations) of the stochastic algorithms (``None``: the default of
            :func:`opslake.placement.pack`).
        safety_limit_s: Wall-clock safety stop of the stochastic algorithms (``None``: default).

    Returns:
        ``(placements, summary)``: one row per workload with ``PLACEMENT_COLUMNS`` (``node_index``
        is -1 when not placed) and a dict with the keys of ``SUMMARY_COLUMNS``.

    Raises:
        ValueError: If required columns are missing or the pool has no capacity.
    """
    for c in ("workload_id", "cpu", "memory_gb"):
        if c not in workloads.columns:
            raise ValueError(f"workloads is missing column {c!r}")
    pool_id = str(pool["pool_id"])
    pool_gpu = int(pool.get("gpu", 0) or 0)
    cols = ["cpu", "memory_gb"] + (["gpu"] if pool_gpu > 0 else [])
    wl = workloads.reset_index(drop=True)
    sizes = np.zeros((len(wl), len(cols)), dtype=np.float64)
    for k, c in enumerate(cols):
        if c in wl.columns:
            sizes[:, k] = wl[c].fillna(0).to_numpy(dtype=np.float64)
    cap = np.asarray(
        [float(pool["vcpus"]), float(pool["memory_gb"])] + ([pool_gpu] if pool_gpu else [])
    )
    # Workloads asking for gpus on a gpu-less pool cannot be placed there.
    needs_gpu = (
        wl["gpu"].fillna(0).to_numpy(dtype=np.float64) > 0
        if ("gpu" in wl.columns and pool_gpu == 0)
        else np.zeros(len(wl), dtype=bool)
    )
    eligible = np.flatnonzero(~needs_gpu)
    res = pack(
        sizes[eligible],
        cap,
        algorithm=algorithm,
        seed=seed,
        search_budget=search_budget,
        safety_limit_s=safety_limit_s,
    )
    node = np.full(len(wl), -1, dtype=np.int64)
    node[eligible] = res.assignment
    reason: list[str | None] = [None] * len(wl)
    for i in eligible[res.assignment < 0].tolist():
        reason[i] = REASON_TOO_BIG
    for i in np.flatnonzero(needs_gpu).tolist():
        reason[i] = REASON_NO_GPU
    max_nodes = int(pool.get("max_nodes", res.bins_used) or 0)
    used = np.unique(node[node >= 0])
    if used.size > max_nodes:
        # Keep the fullest max_nodes nodes; renumber them 0..max_nodes-1.
        load = np.zeros(int(used.max()) + 1)
        np.add.at(load, node[node >= 0], (sizes[node >= 0] / cap).max(axis=1))
        keep = used[np.argsort(-load[used], kind="stable")[:max_nodes]]
        keep_sorted = np.sort(keep)
        mapping = np.full(int(used.max()) + 1, -1, dtype=np.int64)
        mapping[keep_sorted] = np.arange(keep_sorted.size)
        for i in np.flatnonzero(node >= 0).tolist():
            new = int(mapping[node[i]])
            if new < 0:
                reason[i] = REASON_MAX_NODES
            node[i] = new
    placed = node >= 0
    nodes_used = int(np.unique(node[placed]).size)
    loads = np.zeros((max(nodes_used, 1), len(cols)))
    if nodes_used:
        np.add.at(loads, node[placed], sizes[placed])
    util = loads[:nodes_used].mean(axis=0) / cap if nodes_used else np.zeros(len(cols))
    placements = pd.DataFrame(
        {
            "workload_id": wl["workload_id"].astype(str).to_numpy(),
            "pool_id": pool_id,
            "node_index": node.astype(np.int64),
            "placed": placed,
            "reason": pd.Series(reason, dtype=object),
        }
    )
    summary: dict[str, Any] = {
        "pool_id": pool_id,
        "algorithm": algorithm,
        "n_workloads": len(wl),
        "nodes_used": nodes_used,
        "lower_bound": res.lower_bound,
        "gap": (nodes_used - res.lower_bound) / res.lower_bound if res.lower_bound else 0.0,
        "cpu_utilisation": float(util[0]),
        "mem_utilisation": float(util[1]),
        "cost_per_hour": nodes_used * float(pool.get("price_per_hour", 0.0)),
        "runtime_s": res.runtime_s,
        "n_unplaced": int((~placed).sum()),
    }
    return placements, summary
