"""Dead-bin pruning in the best-fit / least-loaded scan never changes the packing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opslake.placement.heuristics import (
    Choice,
    _scan_fit,
    best_fit_choice,
    decreasing_order,
    least_loaded_choice,
)

CAP = np.array([64.0, 256.0])
NEVER = 10**9  # prune_every larger than any n: every open bin is scanned (the plain algorithm)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(st.tuples(st.integers(1, 64), st.integers(1, 256)), max_size=300),
    rule=st.sampled_from([best_fit_choice, least_loaded_choice]),
    every=st.integers(1, 16),
)
def test_pruned_scan_equals_the_full_scan(
    items: list[tuple[int, int]], rule: Callable[[np.ndarray, str], Choice], every: int
) -> None:
    sizes = np.asarray(items, dtype=np.float64).reshape(-1, 2)
    order = decreasing_order(sizes, CAP, "max_share")
    choose = rule(CAP, "max_share")
    pruned = _scan_fit(sizes, CAP, order, choose, prune_every=every)
    assert np.array_equal(pruned, _scan_fit(sizes, CAP, order, choose, prune_every=NEVER))


def test_full_bins_are_pruned_and_never_chosen() -> None:
    # Two 32-wide items fill a bin's first dimension exactly: 128 full bins, in order.
    sizes = np.tile([[32.0, 1.0]], (256, 1))
    order = np.arange(256, dtype=np.int64)
    out = _scan_fit(sizes, CAP, order, best_fit_choice(CAP, "max_share"), prune_every=1)
    assert out.max() + 1 == 128 and np.bincount(out).tolist() == [2] * 128
