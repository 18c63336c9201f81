"""Lower bounds: hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from opslake.placement import l1_bound, l2_bound, lower_bound


def test_l1_is_ceil_of_total_over_capacity() -> None:
    assert l1_bound([3, 3, 3, 2], 10) == 2  # 11 / 10 -> 2
    assert l1_bound([5, 5], 10) == 1
    assert l1_bound([], 10) == 0


def test_l2_beats_l1_when_large_items_cannot_share() -> None:
    # Three 7s need a bin each; a 4 cannot join a 7 (11 > 10); the two 4s share one more bin.
    sizes = [7, 7, 7, 4, 4]
    assert l1_bound(sizes, 10) == 3  # ceil(29 / 10)
    assert l2_bound(sizes, 10) == 4  # alpha = 4: |J1| = 3, ceil(8 / 10) = 1


def test_l2_counts_items_above_half_capacity() -> None:
    assert l1_bound([6, 6, 6], 10) == 2
    assert l2_bound([6, 6, 6], 10) == 3


def test_l2_uses_free_space_of_large_item_bins() -> None:
    # J2 = {6, 6, 6} leaves 12 units free, J3 = {4, 4} (8 units) fits there: bound stays 3.
    assert l2_bound([6, 6, 6, 4, 4], 10) == 3


def test_vector_bound_is_max_over_dimensions() -> None:
    sizes = np.array([[6, 1], [6, 1], [6, 1], [1, 2]])
    assert l1_bound(sizes, [10, 10]) == 2
    assert l2_bound(sizes, [10, 10]) == 3  # dimension 0: three items > 5
    assert lower_bound(sizes, np.array([10, 10])) == 3


def test_bounds_reject_bad_capacity() -> None:
    with pytest.raises(ValueError, match="positive"):
        l1_bound([1, 2], 0)
