"""Bin-oriented perturbation search (MBS' with subset-sum fills, vector variant)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opslake.placement import Budget, lower_bound, pack
from opslake.placement.mbs import best_fill, integer_instance, mbs_pack, mbs_search, vector_search


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=0, max_size=10), room=st.integers(0, 80))
def test_best_fill_is_optimal(sizes: list[int], room: int) -> None:
    items = sorted(range(len(sizes)), key=lambda x: -sizes[x])
    got = best_fill(items, sizes, room)
    assert len(set(got)) == len(got) and sum(sizes[x] for x in got) <= room
    best = max(
        (
            sum(c)
            for r in range(len(sizes) + 1)
            for c in itertools.combinations(sizes, r)
            if sum(c) <= room
        ),
        default=0,
    )
    assert sum(sizes[x] for x in got) == best


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 100), min_size=1, max_size=60), seed=st.integers(0, 3))
def test_mbs_search_feasible_and_never_worse(sizes: list[int], seed: int) -> None:
    start = mbs_pack(list(range(len(sizes))), sizes, 100)
    out = mbs_search(sizes, 100, start, 0, np.random.default_rng(seed), Budget(200))
    assert sorted(x for b in out for x in b) == list(range(len(sizes)))
    assert all(sum(sizes[x] for x in b) <= 100 for b in out)
    assert len(out) <= len(start)


def test_mbs_reaches_bound_on_random_uniform_instance() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.integers(20, 101, size=250)
    lb = lower_bound(sizes, 150)
    for alg in ("annealing", "genetic"):
        r = pack(sizes, 150, alg, seed=0)
        assert r.bins_used == lb
        assert r.runtime_s < 5


def test_integer_instance_detection() -> None:
    assert integer_instance(np.array([[3.0], [4.0]]), np.array([10.0 * (1 + 1e-9)])) == 10
    assert integer_instance(np.array([[3.5], [4.0]]), np.array([10.0])) is None
    assert integer_instance(np.array([[3.0, 1.0]]), np.array([10.0, 10.0])) is None


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=40),
    seed=st.integers(0, 3),
)
def test_vector_search_feasible_and_never_worse(items: list[tuple[int, int]], seed: int) -> None:
    sizes = np.asarray(items, dtype=np.float64)
    cap = np.array([100.0, 80.0])
    start = [[i] for i in range(len(items))]
    out = vector_search(sizes, cap, start, 0, np.random.default_rng(seed), Budget(300))
    assert sorted(x for b in out for x in b) == list(range(len(items)))
    for b in out:
        assert np.all(sizes[b].sum(axis=0) <= cap)
    assert len(out) <= len(start)
