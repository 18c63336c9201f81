"""Lower bounds on the number of bins: L1 (continuous) and Martello–Toth L2.

Both work per dimension; for vectors the bound is the maximum over dimensions, which is valid
because a packing of vectors is also a packing of every single coordinate.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_REL_TOL = 1e-9


def _as_2d(sizes: npt.ArrayLike, capacity: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    s = np.asarray(sizes, dtype=np.float64)
    if s.ndim == 1:
        s = s.reshape(-1, 1)
    if s.ndim != 2:
        raise ValueError(f"sizes must be (n,) or (n, d), got shape {s.shape}")
    c = np.broadcast_to(np.asarray(capacity, dtype=np.float64), (s.shape[1],)).copy()
    if np.any(c <= 0):
        raise ValueError("capacity must be positive in every dimension")
    return s, c


def _ceil(x: float) -> int:
    """Ceiling that forgives float noise (1e-9 relative) so that 3.0000000001 counts as 3."""
    return max(0, math.ceil(x - _REL_TOL * max(1.0, abs(x))))


def l1_bound(sizes: npt.ArrayLike, capacity: npt.ArrayLike) -> int:
    """Continuous lower bound: ``max_k ceil(sum_i s_ik / C_k)``.

    Args:
        sizes: ``(n,)`` or ``(n, d)`` non-negative item sizes.
        capacity: Scalar or ``(d,)`` bin capacity.

    Returns:
        The L1 bound (0 for no items).
    """
    s, c = _as_2d(sizes, capacity)
    if s.shape[0] == 0:
        return 0
    return max(_ceil(float(s[:, k].sum()) / float(c[k])) for k in range(s.shape[1]))


def _l2_1d(s: FloatArray, cap: float) -> int:
    """Martello–Toth L2 for one dimension, every alpha among the distinct sizes <= C/2, O(n log n)."""
    n = s.shape[0]
    if n == 0:
        return 0
    x = np.sort(s)
    tol = _REL_TOL * cap
    half = cap / 2.0
    csum = np.concatenate(([0.0], np.cumsum(x)))
    total = float(csum[-1])
    best = _ceil(total / cap)
    # Candidate alphas: 0 and every distinct size <= C/2.
    alphas = np.unique(np.concatenate(([0.0], x[x <= half + tol])))
    # Index boundaries in the sorted array (all vectorised).
    i_half = int(np.searchsorted(x, half + tol, side="right"))  # items > C/2 start here
    j3_lo = np.searchsorted(x, alphas - tol, side="left")  # items >= alpha start here
    j1_lo = np.searchsorted(x, cap - alphas + tol, side="right")  # items > C - alpha start here
    j1_lo = np.maximum(j1_lo, i_half)
    n_j1 = n - j1_lo
    n_j2 = j1_lo - i_half
    sum_j2 = csum[j1_lo] - csum[i_half]
    sum_j3 = csum[i_half] - csum[j3_lo]
    free_j2 = n_j2 * cap - sum_j2
    extra = np.maximum(0.0, (sum_j3 - free_j2) / cap)
    vals = n_j1 + n_j2 + np.ceil(extra - _REL_TOL * np.maximum(1.0, extra))
    return max(best, int(vals.max()))


def l2_bound(sizes: npt.ArrayLike, capacity: npt.ArrayLike) -> int:
    """Martello–Toth L2 bound (1-D), maximised over dimensions for vectors.

    For a threshold ``alpha`` in ``[0, C/2]``: ``J1`` = items larger than ``C - alpha`` (each needs a
    bin of its own), ``J2`` = items in ``(C/2, C - alpha]`` (one per bin), ``J3`` = items in
    ``[alpha, C/2]``. Then ``L(alpha) = |J1| + |J2| + max(0, ceil((sum J3 - free space in J2 bins) / C))``
    and ``L2 = max_alpha L(alpha)``. The maximum is attained at ``alpha = 0`` or at a distinct item
    size ``<= C/2``; all of them are evaluated with one sort and prefix sums.

    Args:
        sizes: ``(n,)`` or ``(n, d)`` non-negative item sizes (each should fit in an empty bin).
        capacity: Scalar or ``(d,)`` bin capacity.

    Returns:
        The bound, never smaller than :func:`l1_bound`.
    """
    s, c = _as_2d(sizes, capacity)
    return max([l1_bound(s, c)] + [_l2_1d(s[:, k], float(c[k])) for k in range(s.shape[1])])


def lower_bound(sizes: npt.ArrayLike, capacity: npt.ArrayLike) -> int:
    """Best of the bounds implemented here (``max(L1, L2)``)."""
    return l2_bound(sizes, capacity)
