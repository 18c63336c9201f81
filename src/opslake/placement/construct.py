"""Multi-start constructive heuristics for vector bin packing.

One first-fit decreasing run depends a lot on how a vector is reduced to a scalar size. This
module tries several reductions and two packing rules and keeps the packing with the fewest bins
(then the largest sum of squared normalised loads, i.e. the most concentrated slack):

* item keys (on the shares ``x = size / capacity``): largest share, sum, Euclidean norm, product,
  a surrogate sum weighted by the total demand of each dimension (Caprara & Toth 2001), and then
  random positive weightings with multiplicative noise;
* first-fit in decreasing key order (the segment tree of :mod:`opslake.placement.heuristics`) and
  a bin-centric dot-product rule (Panigrahy et al. 2011): fill one bin at a time, starting with
  the largest remaining item, then repeatedly adding the fitting item with the largest dot product
  between its shares and the bin's residual shares (weighted by the dimension weights).

Deterministic under the generator passed in; stops at the target or at the end of the iteration
budget (one iteration per start).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from opslake.placement.budget import Budget, bin_centric_cost, first_fit_cost
from opslake.placement.heuristics import first_fit
from opslake.placement.search import bins_from_assignment

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def packing_quality(norm: FloatArray, bins: list[list[int]]) -> tuple[int, float]:
    """Sort key of packings: fewer bins, then a larger sum of squared normalised loads."""
    sq = 0.0
    for b in bins:
        if b:
            tot = norm[b].sum(axis=0)
            sq += float(tot @ tot)
    return (sum(1 for b in bins if b), -sq)


def bin_centric(
    sizes: FloatArray, cap: FloatArray, key: FloatArray, weights: FloatArray
) -> list[list[int]]:
    """Bin-centric dot-product packing.

    Each bin starts with the remaining item of largest ``key``; then the fitting remaining item
    maximising ``sum_k weights_k * x_ik * residual_k`` (shares ``x``) joins it, until none fits.

    Args:
        sizes: ``(n, d)`` placeable sizes.
        cap: ``(d,)`` effective capacity.
        key: ``(n,)`` opening priority (larger first; ties to the lower index).
        weights: ``(d,)`` positive dimension weights.

    Returns:
        The bins as lists of item indices.
    """
    n = sizes.shape[0]
    norm = sizes / cap
    order = np.argsort(-key, kind="stable")
    rest = np.ones(n, dtype=bool)
    bins: list[list[int]] = []
    pos = 0
    while True:
        while pos < n and not rest[order[pos]]:
            pos += 1
        if pos >= n:
            break
        first = int(order[pos])
        rest[first] = False
        load = sizes[first].copy()
        items = [first]
        idx = np.flatnonzero(rest)
        while idx.size:
            ok = np.all(sizes[idx] + load <= cap, axis=1)
            idx = idx[ok]
            if not idx.size:
                break
            resid = weights * (1.0 - load / cap)
            score = norm[idx] @ resid
            j = int(idx[int(np.argmax(score))])
            rest[j] = False
            load += sizes[j]
            items.append(j)
            idx = idx[idx != j]
        bins.append(items)
    return bins


def base_keys(norm: FloatArray) -> list[tuple[FloatArray, FloatArray]]:
    """The deterministic (key, dimension weights) pairs tried first."""
    d = norm.shape[1]
    ones = np.ones(d)
    demand = norm.sum(axis=0)
    w_dem = demand / demand.sum() * d if demand.sum() > 0 else ones
    keys = [
        norm.max(axis=1),
        norm.sum(axis=1),
        np.sqrt((norm * norm).sum(axis=1)),
        np.prod(norm + 1e-3, axis=1),
        norm @ w_dem,
    ]
    return [(np.asarray(k, dtype=np.float64), w_dem) for k in keys]


def multi_start(
    sizes: FloatArray,
    cap: FloatArray,
    start: list[list[int]],
    target: int,
    rng: np.random.Generator,
    budget: Budget,
) -> list[list[int]]:
    """Best packing among ``start`` and FF/bin-centric runs under several item keys.

    Args:
        sizes: ``(n, d)`` placeable sizes.
        cap: ``(d,)`` effective capacity.
        start: A feasible packing (kept unless something better is found).
        target: Stop as soon as a packing with this many bins is found.
        rng: Random generator (the only randomness).
        budget: Work budget (see :mod:`opslake.placement.budget`): the deterministic keys (first-fit and
            bin-centric for each) first, then randomised starts until it is spent.

    Returns:
        The best packing found (never more bins than ``start``).
    """
    n, d = sizes.shape
    if n == 0:
        return start
    norm = sizes / cap
    best = [list(b) for b in start if b]
    best_q = packing_quality(norm, best)

    def consider(bins: list[list[int]]) -> bool:
        nonlocal best, best_q
        q = packing_quality(norm, bins)
        if q < best_q:
            best, best_q = bins, q
        return best_q[0] <= target

    ff_cost, bc_cost = first_fit_cost(n, d), bin_centric_cost(n, d)
    for key, w in base_keys(norm):
        if not budget.take(ff_cost):
            return best
        order = np.asarray(np.argsort(-key, kind="stable"), dtype=np.int64)
        if consider(bins_from_assignment(first_fit(sizes, cap, order))):
            return best
        if not budget.take(bc_cost):
            return best
        if consider(bin_centric(sizes, cap, key, w)):
            return best
    while budget.left > 0:
        w = rng.dirichlet(np.ones(d)) * d
        key = (norm @ w) * (1.0 + 0.3 * rng.random(n)) if rng.random() < 0.5 else norm.max(axis=1)
        key = key * (1.0 + 0.2 * rng.random(n))
        if rng.random() < 0.5:
            if not budget.take(ff_cost):
                break
            order = np.asarray(np.argsort(-key, kind="stable"), dtype=np.int64)
            done = consider(bins_from_assignment(first_fit(sizes, cap, order)))
        else:
            if not budget.take(bc_cost):
                break
            done = consider(bin_centric(sizes, cap, key, w))
        if done:
            break
    return best
