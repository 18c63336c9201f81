"""Multi-cloud scoring and per-pool packing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opslake.placement.batch import PLACEMENT_COLUMNS, SUMMARY_COLUMNS, place_pool
from opslake.placement.scoring import ScoringWeights, score_pools


def _pools() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pool_id": ["aws-use1", "gcp-euw4", "az-neu", "aws-gpu"],
            "provider": ["aws", "gcp", "azure", "aws"],
            "region": ["us-east-1", "europe-west4", "northeurope", "us-east-1"],
            "instance_type": ["m5.2xlarge", "n2-standard-8", "D8s_v5", "p3.2xlarge"],
            "vcpus": [8.0, 8.0, 8.0, 8.0],
            "memory_gb": [32.0, 32.0, 32.0, 61.0],
            "gpu": [0, 0, 0, 1],
            "price_per_hour": [0.384, 0.388, 0.384, 3.06],
            "max_nodes": [10, 10, 10, 2],
            "latency_ms": [20.0, 80.0, 60.0, 20.0],
            "grid_gco2_per_kwh": [380.0, 330.0, 280.0, 380.0],
        }
    )


def _workloads() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "workload_id": ["eu-only", "fast", "gpu", "huge", "any"],
            "cpu": [2.0, 2.0, 4.0, 16.0, 1.0],
            "memory_gb": [4.0, 4.0, 16.0, 8.0, 2.0],
            "gpu": [0, 0, 1, 0, 0],
            "duration_h": [1.0, 1.0, 2.0, 1.0, 1.0],
            "latency_sla_ms": [100.0, 30.0, 100.0, 100.0, 100.0],
            "allowed_regions": ["europe-west4,northeurope", "", "", "", ""],
            "provider_preference": ["", "", "", "", "gcp"],
            "priority": [1, 1, 1, 1, 1],
            "deferrable_hours": [0, 0, 0, 0, 0],
        }
    )


def test_hard_constraints_and_reasons() -> None:
    out = score_pools(_workloads(), _pools(), ScoringWeights())
    by = out.set_index("workload_id")
    # Region allow-list respected: only EU pools.
    assert by.loc["eu-only", "pool_id"] in {"gcp-euw4", "az-neu"}
    assert by.loc["eu-only", "n_feasible_pools"] == 2
    # Latency SLA 30 ms leaves only the 20 ms pools; the cheaper, non-gpu one wins.
    assert by.loc["fast", "pool_id"] == "aws-use1"
    # A gpu workload only fits the gpu pool.
    assert by.loc["gpu", "pool_id"] == "aws-gpu"
    # 16 vCPU does not fit any 8 vCPU node: null pool and a reason.
    assert by.loc["huge", "pool_id"] is None
    assert by.loc["huge", "reason"] == "does not fit any node in allowed regions"
    assert by.loc["huge", "n_feasible_pools"] == 0
    assert list(out["workload_id"]) == list(_workloads()["workload_id"])


def test_carbon_weight_moves_choice_to_greener_region() -> None:
    wl = _workloads().iloc[[0]]
    green = score_pools(wl, _pools(), ScoringWeights(cost=0.0, latency=0.0, carbon=1.0))
    assert green["pool_id"].iat[0] == "az-neu"  # 280 g/kWh beats 330
    fast = score_pools(wl, _pools(), ScoringWeights(cost=0.0, latency=1.0, carbon=0.0))
    assert fast["pool_id"].iat[0] == "az-neu"  # 60 ms beats 80 ms
    cheap = score_pools(wl, _pools(), ScoringWeights(cost=1.0, latency=0.0, carbon=0.0))
    assert cheap["pool_id"].iat[0] == "az-neu"  # 0.384 beats 0.388


def test_provider_preference_breaks_near_ties() -> None:
    wl = _workloads().iloc[[0]].assign(provider_preference="gcp")
    w = ScoringWeights(cost=1.0, latency=0.0, carbon=0.0, preference_bonus=2.0)
    assert score_pools(wl, _pools(), w)["pool_id"].iat[0] == "gcp-euw4"


def test_no_region_match_reason() -> None:
    wl = _workloads().iloc[[0]].assign(allowed_regions="ap-south-1")
    out = score_pools(wl, _pools())
    assert out["pool_id"].iat[0] is None
    assert out["reason"].iat[0] == "no pool in allowed regions"


def test_missing_column_is_an_error() -> None:
    with pytest.raises(ValueError, match="latency_sla_ms"):
        score_pools(_workloads().drop(columns=["latency_sla_ms"]), _pools())


def _pool(max_nodes: int, gpu: int = 0) -> dict[str, object]:
    return {
        "pool_id": "p1",
        "vcpus": 8.0,
        "memory_gb": 32.0,
        "gpu": gpu,
        "price_per_hour": 0.5,
        "max_nodes": max_nodes,
    }


def test_place_pool_packs_and_summarises() -> None:
    wl = pd.DataFrame(
        {"workload_id": [f"w{i}" for i in range(6)], "cpu": [4.0] * 6, "memory_gb": [8.0] * 6}
    )
    rows, summary = place_pool(wl, _pool(10), "ffd", seed=0)
    assert list(rows.columns) == [c for c, _ in PLACEMENT_COLUMNS]
    assert set(summary) == {c for c, _ in SUMMARY_COLUMNS}
    assert rows["placed"].all() and summary["nodes_used"] == 3
    assert summary["lower_bound"] == 3 and summary["gap"] == 0.0
    assert summary["cost_per_hour"] == pytest.approx(1.5)
    assert summary["cpu_utilisation"] == pytest.approx(1.0)
    assert summary["mem_utilisation"] == pytest.approx(0.5)
    per_node = rows.groupby("node_index")["workload_id"].count()
    assert per_node.tolist() == [2, 2, 2]


def test_place_pool_reports_max_nodes_overflow() -> None:
    wl = pd.DataFrame(
        {"workload_id": [f"w{i}" for i in range(6)], "cpu": [4.0] * 6, "memory_gb": [8.0] * 6}
    )
    rows, summary = place_pool(wl, _pool(2), "bfd", seed=0)
    assert summary["nodes_used"] == 2 and summary["n_unplaced"] == 2
    assert rows.loc[~rows["placed"], "reason"].tolist() == ["exceeds max_nodes"] * 2
    assert set(rows.loc[rows["placed"], "node_index"]) == {0, 1}
    assert (rows.loc[~rows["placed"], "node_index"] == -1).all()


def test_place_pool_gpu_dimension_and_too_big() -> None:
    wl = pd.DataFrame(
        {
            "workload_id": ["a", "b", "c", "big"],
            "cpu": [1.0, 1.0, 1.0, 64.0],
            "memory_gb": [1.0, 1.0, 1.0, 1.0],
            "gpu": [1, 1, 0, 0],
        }
    )
    rows, summary = place_pool(wl, _pool(10, gpu=1), "annealing", seed=3, search_budget=200)
    by = rows.set_index("workload_id")
    assert by.loc["a", "node_index"] != by.loc["b", "node_index"]  # one gpu per node
    assert by.loc["big", "reason"] == "does not fit one node" and not by.loc["big", "placed"]
    assert summary["nodes_used"] == 2
    rows2, _ = place_pool(wl, _pool(10, gpu=0), "ffd", seed=0)
    assert rows2.set_index("workload_id").loc["a", "reason"] == "needs gpu, pool has none"


def test_place_pool_is_deterministic() -> None:
    rng = np.random.default_rng(7)
    wl = pd.DataFrame(
        {
            "workload_id": [f"w{i}" for i in range(60)],
            "cpu": rng.integers(1, 5, 60).astype(float),
            "memory_gb": rng.integers(1, 17, 60).astype(float),
        }
    )
    a, sa = place_pool(wl, _pool(100), "genetic", seed=5)
    b, sb = place_pool(wl, _pool(100), "genetic", seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert sa["nodes_used"] == sb["nodes_used"] >= sa["lower_bound"]
