"""Bin-oriented search for 1-D integer sizes: minimum bin slack with exact subset-sum fills.

* :func:`best_fill`: the subset of candidate items with the largest total not exceeding a residual
  capacity, by an exact subset-sum DP held in a Python integer bitset (bit ``v`` set = total ``v``
  reachable), reconstructed from the per-stage bitsets. Ties prefer larger items.
* :func:`mbs_pack`: Gupta & Ho's minimum bin slack with the largest item forced in (MBS'): open a
  bin with the largest remaining item and fill its residual with :func:`best_fill`.
* :func:`mbs_search`: large-neighbourhood perturbation in the spirit of Fleszar & Charalambous
  (2011): dissolve the lightest bin and a few random bins, repack their items with MBS', keep the
  result when it uses no more bins and its squared loads do not decrease (concentrating the slack
  until a bin empties). Stops at the target or at the end of the iteration budget.

Only used when every size and the capacity are integers (exact arithmetic).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from opslake.placement.budget import Budget, repack_cost

IntArray = npt.NDArray[np.int64]


def integer_instance(sizes: npt.NDArray[np.float64], cap: npt.NDArray[np.float64]) -> int | None:
    """The integer capacity when ``sizes`` is ``(n, 1)`` of integers and ``floor(cap)`` is small."""
    if sizes.ndim != 2 or sizes.shape[1] != 1 or sizes.shape[0] == 0:
        return None
    c = int(np.floor(float(cap[0])))
    if c <= 0 or c > 1_000_000:
        return None
    s = sizes[:, 0]
    if not np.all(s == np.floor(s)) or float(s.max()) > c:
        return None
    return c


def best_fill(items: list[int], size: list[int], room: int) -> list[int]:
    """Subset of ``items`` (ordered largest first) of maximum total size ``<= room``.

    Args:
        items: Candidate item ids, by decreasing size.
        size: Size of every item id.
        room: Residual capacity.

    Returns:
        The chosen ids (ties between equal totals prefer the earlier, larger items).
    """
    if room <= 0 or not items:
        return []
    mask = (1 << (room + 1)) - 1
    full = 1 << room
    reach = 1
    hist: list[int] = []
    used: list[int] = []
    last = -1
    per_size = 0
    for i in items:
        s = size[i]
        if s > room:
            continue
        # At most room // s copies of one size can be useful.
        if s == last:
            per_size += 1
            if per_size > room // s:
                continue
        else:
            last = s
            per_size = 1
        hist.append(reach)
        used.append(i)
        reach |= (reach << s) & mask
        if reach & full:
            break
    t = reach.bit_length() - 1
    chosen: list[int] = []
    for k in range(len(used) - 1, -1, -1):
        if t == 0:
            break
        if (hist[k] >> t) & 1:
            continue
        i = used[k]
        chosen.append(i)
        t -= size[i]
    return chosen


def mbs_pack(
    items: list[int], size: list[int], cap: int, key: Mapping[int, float] | None = None
) -> list[list[int]]:
    """MBS' on ``items``: each bin is the largest remaining item plus a best fill of its residual.

    ``key`` (default: the sizes) replaces the size as the priority order of the items.
    """
    if key is None:
        rest = sorted(items, key=lambda x: -size[x])
    else:
        rest = sorted(items, key=lambda x: -key[x])
    bins: list[list[int]] = []
    while rest:
        first = rest[0]
        fill = best_fill(rest[1:], size, cap - size[first])
        b = [first, *fill]
        bins.append(b)
        if fill:
            taken = set(b)
            rest = [x for x in rest if x not in taken]
        else:
            rest = rest[1:]
    return bins


def mbs_search(
    sizes: list[int],
    cap: int,
    start: list[list[int]],
    target: int,
    rng: np.random.Generator,
    budget: Budget,
    noise_amp: float = 0.6,
    accept_worse: float = 0.0,
    pool_bins: int = 8,
) -> list[list[int]]:
    """Perturbation search from the better of ``start`` and MBS'.

    Args:
        sizes: Integer size of every item.
        cap: Integer capacity.
        start: A feasible packing (lists of item ids).
        target: Stop when this many bins are reached (a lower bound).
        rng: Random generator (the only randomness).
        budget: Work budget (each repack costs :func:`~opslake.placement.budget.repack_cost`).

    Returns:
        A feasible packing with no more bins than ``start``.
    """
    n = len(sizes)
    mbs = mbs_pack(list(range(n)), sizes, cap)
    bins = [list(b) for b in start if b]
    if len(mbs) <= len(bins):
        bins = mbs
    loads = [sum(sizes[x] for x in b) for b in bins]
    words = cap // 64 + 1
    while len(bins) > max(target, 1):
        nb = len(bins)
        light = min(range(nb), key=loads.__getitem__)
        k = min(nb - 1, 1 + int(rng.integers(0, pool_bins)))
        others = rng.choice(nb - 1, size=k, replace=False)
        pick = [light] + [int(j) + (1 if j >= light else 0) for j in others]
        pool = [x for j in pick for x in bins[j]]
        # Each bin of the repack runs a subset-sum over the pooled items on a cap-bit integer.
        if not budget.take(repack_cost(len(pool) * len(pick) * words)):
            break
        noise = rng.random(len(pool)) * noise_amp
        key = {x: sizes[x] * (1.0 + float(e)) for x, e in zip(pool, noise, strict=True)}
        new = mbs_pack(pool, sizes, cap, key)
        if len(new) > len(pick):
            continue
        new_loads = [sum(sizes[x] for x in b) for b in new]
        old_sq = sum(loads[j] * loads[j] for j in pick)
        new_sq = sum(v * v for v in new_loads)
        if len(new) == len(pick) and new_sq < old_sq and rng.random() >= accept_worse:
            continue
        keep = set(pick)
        bins = [b for j, b in enumerate(bins) if j not in keep] + new
        loads = [v for j, v in enumerate(loads) if j not in keep] + new_loads
    return bins


def _greedy_pack(
    items: list[int],
    rows: list[tuple[float, ...]],
    cap: tuple[float, ...],
    key: Mapping[int, float],
) -> list[list[int]]:
    """Bin-oriented first fit: open a bin with the first remaining item (by ``key``), then add
    every remaining item that still fits, in ``key`` order."""
    rest = sorted(items, key=lambda x: -key[x])
    d = len(cap)
    bins: list[list[int]] = []
    while rest:
        load = list(rows[rest[0]])
        b = [rest[0]]
        left: list[int] = []
        for x in rest[1:]:
            r = rows[x]
            if all(load[k] + r[k] <= cap[k] for k in range(d)):
                for k in range(d):
                    load[k] += r[k]
                b.append(x)
            else:
                left.append(x)
        bins.append(b)
        rest = left
    return bins


def vector_search(
    sizes: npt.NDArray[np.float64],
    cap: npt.NDArray[np.float64],
    start: list[list[int]],
    target: int,
    rng: np.random.Generator,
    budget: Budget,
    noise_amp: float = 0.3,
    pool_bins: int = 12,
) -> list[list[int]]:
    """The perturbation search of :func:`mbs_search` for vectors, with greedy bin fills.

    Args:
        sizes: ``(n, d)`` sizes.
        cap: ``(d,)`` effective capacity.
        start: A feasible packing.
        target: Stop at this many bins.
        rng: Random generator.
        budget: Work budget (each repack costs :func:`~opslake.placement.budget.repack_cost`).
        noise_amp: Relative noise on the item priorities of each repack.
        pool_bins: Up to this many random bins join the lightest one in each repack.

    Returns:
        A feasible packing with no more bins than ``start``.
    """
    norm = sizes / cap
    rows = [tuple(r) for r in sizes.tolist()]
    capt = tuple(float(c) for c in cap.tolist())
    weight = norm.sum(axis=1).tolist()
    prio = norm.max(axis=1).tolist()
    bins = [list(b) for b in start if b]
    nrm = norm.tolist()

    def sq(b: list[int]) -> float:
        tot = [0.0] * len(capt)
        for x in b:
            for k, v in enumerate(nrm[x]):
                tot[k] += v
        return sum(v * v for v in tot)

    sqs = [sq(b) for b in bins]
    wts = [sum(weight[x] for x in b) for b in bins]
    while len(bins) > max(target, 1):
        nb = len(bins)
        light = min(range(nb), key=wts.__getitem__)
        k = min(nb - 1, 1 + int(rng.integers(0, pool_bins)))
        others = rng.choice(nb - 1, size=k, replace=False)
        pick = [light] + [int(j) + (1 if j >= light else 0) for j in others]
        pool = [x for j in pick for x in bins[j]]
        # A greedy repack checks each pooled item against each bin it opens.
        if not budget.take(repack_cost(len(pool) * len(pick) * len(capt))):
            break
        noise = rng.random(len(pool)) * noise_amp
        key = {x: prio[x] * (1.0 + float(e)) for x, e in zip(pool, noise, strict=True)}
        new = _greedy_pack(pool, rows, capt, key)
        if len(new) > len(pick):
            continue
        new_sqs = [sq(b) for b in new]
        if len(new) == len(pick) and sum(new_sqs) < sum(sqs[j] for j in pick):
            continue
        keep = set(pick)
        bins = [b for j, b in enumerate(bins) if j not in keep] + new
        sqs = [v for j, v in enumerate(sqs) if j not in keep] + new_sqs
        wts = [v for j, v in enumerate(wts) if j not in keep] + [
            sum(weight[x] for x in b) for b in new
        ]
    return bins
