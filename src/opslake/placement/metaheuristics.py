"""Genetic algorithm and simulated annealing, both seeded from FFD/BFD and never worse.

* :func:`annealing`: repeated bin elimination (see :mod:`opslake.placement.search`) whose moves
  are accepted by the Metropolis rule on the weight left outside the bins.
* :func:`genetic`: a grouping GA (Falkenauer 1996): individuals are sets of bins; crossover injects
  a random subset of the second parent's bins into the first, drops the first parent's bins that
  now hold duplicates, and repairs with first-fit decreasing; every child is improved by the tabu
  bin-elimination search. Fitness is fewer bins, then higher mean squared fill.

Both first run the bin-oriented perturbation search of :mod:`opslake.placement.mbs` (MBS' with
exact subset-sum fills on 1-D integer instances; a greedy-fill variant otherwise, after multi-start
constructive packing on vectors, see :mod:`opslake.placement.construct`), then bin elimination.
Both keep the incumbent (the best of FFD and BFD to start with) and stop at the lower bound or at
the end of their iteration :class:`~opslake.placement.budget.Budget`, which the phases share in
fixed proportions (never by time, so a seed fixes the answer). Randomness comes only from
``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from opslake.placement.budget import Budget, first_fit_cost
from opslake.placement.construct import multi_start
from opslake.placement.heuristics import best_fit, decreasing_order, first_fit, sort_values
from opslake.placement.mbs import integer_instance, mbs_search, vector_search
from opslake.placement.search import BinEliminator, assignment_from_bins, bins_from_assignment

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Shares of the work budget (the defaults split it as the former time limits split the clock):
# on vectors, constructive restarts get CONSTRUCT_SHARE, the perturbation search PERTURB_SHARE of
# what is left, bin elimination the rest; on 1-D integer sizes, MBS' gets MBS_SHARE.
CONSTRUCT_SHARE = 0.3
PERTURB_SHARE = 0.5
MBS_SHARE = 0.8


def seed_solution(sizes: FloatArray, cap: FloatArray, sort_key: str) -> IntArray:
    """The better of FFD and BFD under ``sort_key`` (FFD on ties)."""
    order = decreasing_order(sizes, cap, sort_key)
    ffd = first_fit(sizes, cap, order)
    if sizes.shape[0] == 0 or sizes.shape[0] > 20000:
        return ffd
    bfd = best_fit(sizes, cap, order, sort_key)
    return bfd if int(bfd.max()) < int(ffd.max()) else ffd


def _fitness(sizes: FloatArray, cap: FloatArray, bins: list[list[int]]) -> tuple[int, float]:
    fill = np.asarray([(sizes[b].sum(axis=0) / cap).mean() for b in bins])
    return (len(bins), -float((fill * fill).mean()))


def _lns_phase(
    sizes: FloatArray,
    cap: FloatArray,
    bins: list[list[int]],
    target: int,
    rng: np.random.Generator,
    budget: Budget,
) -> list[list[int]]:
    """Bin-oriented perturbation search (:mod:`opslake.placement.mbs`) before bin elimination.

    1-D integer instances run MBS' with exact subset-sum fills, others the greedy-fill variant
    (after constructive restarts on vectors), each on its share of the budget.
    """
    if len(bins) <= target:
        return bins
    icap = integer_instance(sizes, cap)
    if icap is not None:
        ints = [int(x) for x in sizes[:, 0].tolist()]
        return mbs_search(ints, icap, bins, target, rng, budget.share(MBS_SHARE))
    # Multi-vector instances: restarts of FF / dot-product packing under several item keys first
    # (one FFD order is a poor start when dimensions conflict), then the greedy-fill search.
    if sizes.shape[1] > 1:
        bins = multi_start(sizes, cap, bins, target, rng, budget.share(CONSTRUCT_SHARE))
        if len(bins) <= target:
            return bins
    return vector_search(sizes, cap, bins, target, rng, budget.share(PERTURB_SHARE))


def annealing(
    sizes: FloatArray,
    cap: FloatArray,
    target: int,
    seed: int,
    budget: Budget,
    sort_key: str = "max_share",
) -> IntArray:
    """Simulated-annealing bin elimination seeded from FFD/BFD.

    Args:
        sizes: ``(n, d)`` placeable sizes.
        cap: ``(d,)`` effective capacity.
        target: Stop when this many bins are reached (a lower bound).
        seed: Random seed.
        budget: Iteration budget (the answer depends only on the inputs, the seed and the
            budget, unless the budget's safety clock fires).
        sort_key: Sort key of the seed heuristics.

    Returns:
        Bin index per item, never using more bins than the seed.
    """
    n = sizes.shape[0]
    start = seed_solution(sizes, cap, sort_key)
    if n == 0:
        return start
    bins = bins_from_assignment(start)
    rng = np.random.default_rng(seed)
    bins = _lns_phase(sizes, cap, bins, target, rng, budget)
    elim = BinEliminator(sizes, cap, rng)
    bins = elim.improve(bins, target, budget, policy="anneal")
    return assignment_from_bins(bins, n) if len(bins) <= int(start.max()) + 1 else start


def _ffd_repair(
    sizes: FloatArray, cap: FloatArray, bins: list[list[int]], free: list[int], rank: FloatArray
) -> list[list[int]]:
    """First-fit decreasing of ``free`` items into existing bins, opening bins when needed."""
    d = sizes.shape[1]
    loads = np.zeros((len(bins) + len(free), d))
    for j, b in enumerate(bins):
        if b:
            loads[j] = sizes[b].sum(axis=0)
    nb = len(bins)
    for i in sorted(free, key=lambda x: -rank[x]):
        s = sizes[i]
        ok = np.all(loads[:nb] + s <= cap, axis=1)
        j = int(np.argmax(ok)) if nb and ok.any() else nb
        if j == nb:
            bins.append([])
            nb += 1
        bins[j].append(i)
        loads[j] += s
    return bins


def _crossover(
    sizes: FloatArray,
    cap: FloatArray,
    p1: list[list[int]],
    p2: list[list[int]],
    rng: np.random.Generator,
    rank: FloatArray,
) -> list[list[int]]:
    take = max(1, len(p2) // 3)
    idx = rng.choice(len(p2), size=min(take, len(p2)), replace=False)
    injected = [list(p2[int(j)]) for j in idx]
    used = {x for b in injected for x in b}
    child: list[list[int]] = []
    free: list[int] = []
    for b in p1:
        if any(x in used for x in b):
            free.extend(x for x in b if x not in used)
        else:
            child.append(list(b))
    child = injected + child
    return _ffd_repair(sizes, cap, child, free, rank)


def _mutate(
    sizes: FloatArray,
    cap: FloatArray,
    bins: list[list[int]],
    rng: np.random.Generator,
    rank: FloatArray,
) -> list[list[int]]:
    k = min(len(bins), 2 + int(rng.integers(0, 3)))
    drop = set(rng.choice(len(bins), size=k, replace=False).tolist())
    free = [x for j in drop for x in bins[j]]
    kept = [list(b) for j, b in enumerate(bins) if j not in drop]
    return _ffd_repair(sizes, cap, kept, free, rank)


def genetic(
    sizes: FloatArray,
    cap: FloatArray,
    target: int,
    seed: int,
    budget: Budget,
    sort_key: str = "max_share",
    population: int = 8,
) -> IntArray:
    """Grouping genetic algorithm with FFD repair and tabu bin elimination, seeded from FFD/BFD.

    Args:
        sizes: ``(n, d)`` placeable sizes.
        cap: ``(d,)`` effective capacity.
        target: Stop when this many bins are reached (a lower bound).
        seed: Random seed.
        budget: Iteration budget: one per child plus the moves of its bin elimination (the
            answer depends only on the inputs, the seed and the budget, unless the budget's
            safety clock fires).
        sort_key: Sort key of the seed heuristics.
        population: Population size.

    Returns:
        Bin index per item, never using more bins than the seed.
    """
    n = sizes.shape[0]
    start = seed_solution(sizes, cap, sort_key)
    if n == 0:
        return start
    rng = np.random.default_rng(seed)
    elim = BinEliminator(sizes, cap, rng)
    rank = sort_values(sizes, cap, sort_key)
    best = bins_from_assignment(start)
    best = _lns_phase(sizes, cap, best, target, rng, budget)
    best = elim.improve(best, target, budget, max_attempts=2)
    pop = [best]
    step = first_fit_cost(n, sizes.shape[1])  # a first-fit run, a crossover or a mutation
    while len(pop) < population and len(best) > target and budget.take(step):
        noisy = rank * (1.0 + 0.2 * rng.random(n))
        order = np.asarray(np.argsort(-noisy, kind="stable"), dtype=np.int64)
        ind = bins_from_assignment(first_fit(sizes, cap, order))
        ind = elim.improve(ind, target, budget, max_attempts=2)
        pop.append(ind)
        if len(ind) < len(best):
            best = ind
    fits = [_fitness(sizes, cap, b) for b in pop]
    while len(best) > target and len(pop) > 1 and budget.take(step):
        i, j = (int(x) for x in rng.choice(len(pop), size=2, replace=False))
        k, m = (int(x) for x in rng.choice(len(pop), size=2, replace=False))
        a = i if fits[i] < fits[j] else j
        b = k if fits[k] < fits[m] else m
        if a == b:
            b = (b + 1) % len(pop)
        child = _crossover(sizes, cap, pop[a], pop[b], rng, rank)
        if rng.random() < 0.3:
            child = _mutate(sizes, cap, child, rng, rank)
        child = elim.improve(child, target, budget, max_attempts=3)
        fc = _fitness(sizes, cap, child)
        worst = max(range(len(pop)), key=lambda x: fits[x])
        if fc < fits[worst] and fc not in fits:
            pop[worst] = child
            fits[worst] = fc
        if len(child) < len(best):
            best = child
    return assignment_from_bins(best, n) if len(best) <= int(start.max()) + 1 else start
