"""Score normalisation with whole-input bounds: scoring in pieces equals scoring whole."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opslake.placement.scoring import ScoringBounds, ScoringWeights, score_pools, scoring_bounds
from opslake.telemetry.catalog import GRID_MEAN
from opslake.telemetry.generator import GeneratorConfig, node_pools
from opslake.telemetry.generator import workloads as generated_workloads

REGIONS = ("eu-1", "eu-2", "us-1")


def _pools() -> pd.DataFrame:
    # Rows deliberately not in pool_id order; "b-twin" and "a-twin" are identical (a tie), and
    # "c-nogrid" has no grid intensity (a NaN carbon component).
    return pd.DataFrame(
        {
            "pool_id": ["b-twin", "a-twin", "c-nogrid", "d-big", "e-gpu", "f-far"],
            "provider": ["aws", "aws", "gcp", "azure", "aws", "gcp"],
            "region": ["eu-1", "eu-1", "eu-2", "us-1", "us-1", "eu-2"],
            "instance_type": ["m", "m", "n", "d", "p", "c"],
            "vcpus": [8.0, 8.0, 8.0, 16.0, 8.0, 4.0],
            "memory_gb": [32.0, 32.0, 32.0, 64.0, 61.0, 16.0],
            "gpu": [0, 0, 0, 0, 1, 0],
            "price_per_hour": [0.4, 0.4, 0.41, 0.77, 3.06, 0.2],
            "max_nodes": [10, 10, 10, 10, 2, 10],
            "latency_ms": [20.0, 20.0, 90.0, 35.0, 20.0, 210.0],
            "grid_gco2_per_kwh": [380.0, 380.0, np.nan, 454.0, 380.0, 133.0],
        }
    )


workload_rows = st.lists(
    st.tuples(
        st.sampled_from([0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]),  # cpu (32: fits nowhere)
        st.sampled_from([1.0, 2.0, 4.0, 16.0, 48.0]),  # memory_gb
        st.sampled_from([0, 0, 0, 1]),  # gpu
        st.floats(0.1, 48.0, allow_nan=False),  # duration_h
        st.sampled_from([10.0, 30.0, 100.0, 400.0]),  # latency_sla_ms
        st.sampled_from(["", "", "eu-1", "eu-1,eu-2", "us-1", "ap-9"]),  # allowed_regions
        st.sampled_from(["", "", "aws", "gcp", "azure"]),  # provider_preference
    ),
    min_size=1,
    max_size=60,
)


def _workloads(rows: list[tuple[float, float, int, float, float, str, str]]) -> pd.DataFrame:
    cpu, mem, gpu, dur, sla, regions, pref = (list(c) for c in zip(*rows, strict=True))
    n = len(rows)
    return pd.DataFrame(
        {
            "workload_id": [f"w{i:03d}" for i in range(n)],
            "cpu": cpu,
            "memory_gb": mem,
            "gpu": gpu,
            "duration_h": dur,
            "latency_sla_ms": sla,
            "allowed_regions": regions,
            "provider_preference": pref,
            "priority": [1] * n,
            "deferrable_hours": [0] * n,
        }
    )


def _pieces(frame: pd.DataFrame, cuts: list[int]) -> list[pd.DataFrame]:
    edges = sorted({0, len(frame), *(c % (len(frame) + 1) for c in cuts)})
    return [frame.iloc[lo:hi] for lo, hi in pairwise(edges) if hi > lo]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=workload_rows, cuts=st.lists(st.integers(0, 60), max_size=6), shuffle=st.booleans())
def test_scoring_in_pieces_equals_scoring_whole(
    rows: list[tuple[float, float, int, float, float, str, str]], cuts: list[int], shuffle: bool
) -> None:
    wl = _workloads(rows)
    if shuffle:  # a Spark batch holds any subset, in any order
        wl = wl.iloc[::-1]
    pools = _pools()
    pieces = _pieces(wl, cuts)
    # Partial bounds merged = one aggregate over the whole input.
    merged = ScoringBounds.empty()
    for piece in pieces:
        merged = merged.merge(scoring_bounds(piece, pools))
    assert merged == scoring_bounds(wl, pools)
    whole = score_pools(wl, pools, ScoringWeights(), merged)
    parts = pd.concat([score_pools(p, pools, ScoringWeights(), merged) for p in pieces])
    pd.testing.assert_frame_equal(parts.reset_index(drop=True), whole, check_exact=True)
    # Without bounds, the whole input normalises with its own: the same answer.
    pd.testing.assert_frame_equal(score_pools(wl, pools), whole, check_exact=True)


def test_batch_bounds_change_choices_global_bounds_do_not() -> None:
    # The reproduction: 600 generated workloads scored in batches of 50. With each batch's
    # own min-max many change pool; with the bounds of the whole input none does.
    rng = np.random.default_rng(7)
    pools = node_pools(rng).assign(grid_gco2_per_kwh=lambda p: p["region"].map(GRID_MEAN))
    wl = generated_workloads(GeneratorConfig(workloads=600), rng)
    whole = score_pools(wl, pools)
    batches = [wl.iloc[i : i + 50] for i in range(0, len(wl), 50)]
    own = pd.concat([score_pools(b, pools) for b in batches], ignore_index=True)
    assert (own["pool_id"] != whole["pool_id"]).sum() > 10
    bounds = scoring_bounds(wl, pools)
    fixed = pd.concat([score_pools(b, pools, bounds=bounds) for b in batches], ignore_index=True)
    pd.testing.assert_frame_equal(fixed, whole, check_exact=True)


def test_bounds_merge_identity_and_round_trip() -> None:
    a = ScoringBounds(1.0, 5.0, 20.0, 90.0, 10.0, 400.0)
    b = ScoringBounds(0.5, 3.0, 35.0, 210.0, 50.0, 50.0)
    assert a.merge(b) == b.merge(a) == ScoringBounds(0.5, 5.0, 20.0, 210.0, 10.0, 400.0)
    assert a.merge(ScoringBounds.empty()) == a and ScoringBounds.empty().is_empty
    assert ScoringBounds.from_dict(a.to_dict()) == a
    assert list(a.to_frame().columns) == list(ScoringBounds.field_names())
    assert a.to_frame().iloc[0].to_dict() == a.to_dict()
    # Nulls from an aggregate over no feasible pair (Spark) mean "empty".
    nulls: dict[str, float | None] = {"cost_min": None, "cost_max": float("nan")}
    assert ScoringBounds.from_dict(nulls) == ScoringBounds.empty()


def test_no_feasible_pair_gives_empty_bounds_and_zero_components() -> None:
    wl = _workloads([(32.0, 1.0, 0, 1.0, 100.0, "", "")])
    assert scoring_bounds(wl, _pools()).is_empty
    out = score_pools(wl, _pools())
    assert out["pool_id"].iat[0] is None
    assert out["reason"].iat[0] == "does not fit any node in allowed regions"
    # A single feasible pair: equal bounds normalise every component to 0.
    one = score_pools(_workloads([(2.0, 4.0, 0, 1.0, 10.0, "eu-2", "")]), _pools())
    assert one["reason"].iat[0] == "no pool meets the latency SLA"
    single = _workloads([(2.0, 4.0, 0, 1.0, 100.0, "eu-2", "")])
    got = score_pools(single, _pools().drop(index=2), ScoringWeights())  # only f-far is left
    assert got["pool_id"].iat[0] is None  # f-far: 210 ms > 100 ms SLA
    got = score_pools(single.assign(latency_sla_ms=400.0), _pools().drop(index=2))
    assert got["pool_id"].iat[0] == "f-far"
    assert got[["cost_component", "latency_component", "carbon_component"]].iloc[0].tolist() == [
        0.0,
        0.0,
        0.0,
    ]


def test_ties_go_to_the_lower_pool_id_and_nan_carbon_never_wins() -> None:
    wl = _workloads([(1.0, 2.0, 0, 1.0, 100.0, "eu-1", ""), (1.0, 2.0, 0, 1.0, 100.0, "eu-2", "")])
    out = score_pools(wl, _pools()).set_index("workload_id")
    assert out.loc["w000", "pool_id"] == "a-twin"  # b-twin is listed first, same score
    assert out.loc["w000", "n_feasible_pools"] == 2
    # In eu-2 the pool without grid data has a NaN score: any feasible pool with a number wins...
    far = score_pools(wl.assign(latency_sla_ms=400.0), _pools()).set_index("workload_id")
    assert far.loc["w001", "pool_id"] == "f-far" and far.loc["w001", "n_feasible_pools"] == 2
    # ...and it is chosen only as the sole feasible pool (f-far's 210 ms misses a 100 ms SLA).
    alone = out.loc["w001"]
    assert alone["pool_id"] == "c-nogrid" and alone["n_feasible_pools"] == 1
    assert np.isnan(alone["score"]) and np.isnan(alone["carbon_component"])


def test_scoring_scales_to_many_workloads_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Blocks bound the memory of the (workloads x pools) matrices; results do not depend on them.
    import opslake.placement.scoring as scoring

    rows = [
        (1.0 + i % 4, 2.0, 0, 0.5 + i % 7, 400.0, "", "aws" if i % 5 else "") for i in range(97)
    ]
    wl = _workloads(rows)
    whole, bounds = score_pools(wl, _pools()), scoring_bounds(wl, _pools())
    monkeypatch.setattr(scoring, "_BLOCK_CELLS", 7 * len(_pools()))  # blocks of 7 workloads
    assert scoring_bounds(wl, _pools()) == bounds
    pd.testing.assert_frame_equal(score_pools(wl, _pools()), whole, check_exact=True)


def test_non_numeric_column_is_a_clear_error() -> None:
    wl = _workloads([(1.0, 2.0, 0, 1.0, 100.0, "", "")]).astype({"cpu": object})
    wl.loc[0, "cpu"] = "lots"
    with pytest.raises(ValueError, match="'cpu' must be numeric"):
        score_pools(wl, _pools())
