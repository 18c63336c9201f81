"""``pack``: one entry point for every placement algorithm, and its result type."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from opslake.placement.bounds import lower_bound
from opslake.placement.budget import Budget
from opslake.placement.heuristics import (
    SORT_KEYS,
    best_fit,
    decreasing_order,
    first_fit,
    least_loaded,
)
from opslake.placement.metaheuristics import annealing, genetic

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

logger = logging.getLogger(__name__)

ALGORITHMS = ("ffd", "bfd", "least_loaded", "genetic", "annealing")
# Search budget of genetic/annealing when the caller gives none: a count of search iterations, each
# weighted by its work (units of about 0.1 ms, see opslake.placement.budget). A pool of ~150
# workloads takes about 0.3 s; more budget does not pack the pipeline's pools tighter.
DEFAULT_SEARCH_BUDGET = 2000
# Safety stop of the searches: far beyond what the default budget needs on a pool of a few hundred
# workloads, so it only fires on pathological inputs (logged as a warning).
DEFAULT_SAFETY_LIMIT_S = 30.0
_FLOAT_EPS = 1e-9


@dataclass(frozen=True)
class PackingResult:
    """Outcome of :func:`pack`.

    Attributes:
        assignment: ``(n,)`` bin index per item, ``-1`` for an unplaceable item (larger than an
            empty bin in some dimension).
        bins_used: Number of bins holding at least one item.
        lower_bound: ``max(L1, L2)`` over dimensions, on the placeable items.
        gap: ``(bins_used - lower_bound) / lower_bound`` (0 when both are 0).
        unplaced: Indices of unplaceable items.
        loads: ``(bins_used, d)`` total size per bin and dimension.
        utilisation: ``(d,)`` mean fill of the used bins per dimension (load / capacity).
        runtime_s: Wall time of the call.
        algorithm: Algorithm name.
        capacity: ``(d,)`` capacity used.
        budget_used: Search budget spent, in work units (0 for the constructive heuristics).
        safety_stop: True when the wall-clock safety limit ended the search (the assignment then
            depends on machine speed; a warning was logged).
    """

    assignment: IntArray
    bins_used: int
    lower_bound: int
    gap: float
    unplaced: IntArray
    loads: FloatArray
    utilisation: FloatArray
    runtime_s: float
    algorithm: str
    capacity: FloatArray
    budget_used: int = 0
    safety_stop: bool = False

    @property
    def optimal(self) -> bool:
        """True when the packing provably uses the minimum number of bins."""
        return self.bins_used == self.lower_bound


def _validate(
    sizes: npt.ArrayLike, capacity: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, bool]:
    raw = np.asarray(sizes)
    if raw.dtype == object or not (
        np.issubdtype(raw.dtype, np.number) or np.issubdtype(raw.dtype, np.bool_)
    ):
        raise TypeError(f"sizes must be numeric, got dtype {raw.dtype}")
    integral = bool(np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.bool_))
    s = raw.astype(np.float64)
    if s.ndim == 1:
        s = s.reshape(-1, 1)
    if s.ndim != 2 or s.shape[1] == 0:
        raise ValueError(f"sizes must have shape (n,) or (n, d), got {raw.shape}")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("sizes must be finite and non-negative")
    craw = np.asarray(capacity)
    if craw.ndim > 1 or (craw.ndim == 1 and craw.shape[0] not in (1, s.shape[1])):
        raise ValueError(f"capacity must be a scalar or shape ({s.shape[1]},), got {craw.shape}")
    integral = integral and bool(np.issubdtype(craw.dtype, np.integer))
    c = np.broadcast_to(craw.astype(np.float64), (s.shape[1],)).copy()
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("capacity must be finite and positive")
    eff = c if integral else c * (1.0 + _FLOAT_EPS)
    return s, c, eff, integral


def pack(
    sizes: npt.ArrayLike,
    capacity: npt.ArrayLike,
    algorithm: str = "ffd",
    seed: int = 0,
    *,
    search_budget: int | None = None,
    safety_limit_s: float | None = None,
    sort_key: str = "max_share",
    target_bins: int | None = None,
) -> PackingResult:
    """Pack items (scalars or vectors) into the fewest identical bins.

    Args:
        sizes: ``(n,)`` or ``(n, d)`` non-negative sizes.
        capacity: Scalar or ``(d,)`` capacity of one bin.
        algorithm: ``ffd``, ``bfd``, ``least_loaded``, ``genetic`` or ``annealing``.
        seed: Seed of the stochastic algorithms: the same input, seed and search budget give
            the same assignment on any machine.
        search_budget: Budget of ``genetic``/``annealing``: search iterations weighted by their
            work (units of about 0.1 ms, see :mod:`opslake.placement.budget`; default
            ``DEFAULT_SEARCH_BUDGET``); ignored by the constructive heuristics.
        safety_limit_s: Wall-clock safety stop of the searches (default
            ``DEFAULT_SAFETY_LIMIT_S``). When it fires, the best packing so far is returned,
            ``safety_stop`` is set and a warning is logged.
        sort_key: Item order of the decreasing heuristics and seeds: ``max_share``, ``l2``, ``sum``.
        target_bins: Optional externally known lower bound: the search stops when reaching it.

    Returns:
        The :class:`PackingResult`. No bin exceeds the capacity in any dimension (exactly for
        integer inputs, within a relative 1e-9 for floats).

    Raises:
        ValueError: On unknown algorithm/sort key, invalid sizes/capacity or a negative budget.
        TypeError: On non-numeric sizes.
    """
    start = time.perf_counter()
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    if sort_key not in SORT_KEYS:
        raise ValueError(f"unknown sort_key {sort_key!r}; expected one of {SORT_KEYS}")
    s, cap, eff, _ = _validate(sizes, capacity)
    n, d = s.shape
    fits = np.all(s <= eff, axis=1)
    placeable = np.flatnonzero(fits).astype(np.int64)
    ps = s[placeable]
    lb = lower_bound(ps, cap) if ps.shape[0] else 0
    lb_stop = max(lb, int(target_bins)) if target_bins is not None else lb
    order = decreasing_order(ps, cap, sort_key)
    budget: Budget | None = None
    if algorithm == "ffd":
        sub = first_fit(ps, eff, order)
    elif algorithm == "bfd":
        sub = best_fit(ps, eff, order, sort_key)
    elif algorithm == "least_loaded":
        sub = least_loaded(ps, eff, order, sort_key)
    else:
        units = DEFAULT_SEARCH_BUDGET if search_budget is None else int(search_budget)
        limit = DEFAULT_SAFETY_LIMIT_S if safety_limit_s is None else float(safety_limit_s)
        budget = Budget(units, deadline=start + max(0.0, limit))
        solver = genetic if algorithm == "genetic" else annealing
        sub = solver(ps, eff, lb_stop, seed=seed, budget=budget, sort_key=sort_key)
        if budget.timed_out:
            logger.warning(
                "%s stopped on its %.3g s safety limit after %d of %d budget units (%d items); "
                "the packing depends on machine speed, raise the limit or lower the budget",
                algorithm, limit, budget.used, units, n,
            )  # fmt: skip
    assignment = np.full(n, -1, dtype=np.int64)
    assignment[placeable] = sub
    bins_used = int(sub.max()) + 1 if sub.size else 0
    loads = np.zeros((bins_used, d), dtype=np.float64)
    np.add.at(loads, sub, ps)
    if np.any(loads > eff):
        raise AssertionError("internal error: a bin overflows")  # pragma: no cover
    gap = (bins_used - lb) / lb if lb > 0 else 0.0
    util = loads.mean(axis=0) / cap if bins_used else np.zeros(d, dtype=np.float64)
    return PackingResult(
        assignment=assignment,
        bins_used=bins_used,
        lower_bound=lb,
        gap=float(gap),
        unplaced=np.flatnonzero(~fits).astype(np.int64),
        loads=loads,
        utilisation=np.asarray(util, dtype=np.float64),
        runtime_s=time.perf_counter() - start,
        algorithm=algorithm,
        capacity=cap,
        budget_used=budget.used if budget is not None else 0,
        safety_stop=budget is not None and budget.timed_out,
    )
