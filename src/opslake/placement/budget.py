"""Search budget of the placement searches, with a wall-clock safety stop.

Every search loop (a move of bin elimination, a repack of the perturbation search, a constructive
restart, a GA child) calls :meth:`Budget.take` once per iteration with the iteration's cost and
stops when it returns ``False``. Costs are computed from the sizes of what the iteration works on
(bins, candidate moves, items), never measured, so the budget is a count of weighted iterations:
the same input, seed and budget give the same packing on any machine, and one unit is about the
same time (~0.1 ms) on a small instance as on a large one.

The deadline is only a safety stop for pathological inputs: when it fires, :attr:`Budget.timed_out`
is set and the caller logs a warning (the result then depends on machine speed).
"""

from __future__ import annotations

import math
import time


class Budget:
    """A count of weighted search iterations shared by the phases of one search.

    Args:
        units: Units that may be spent (``>= 0``).
        deadline: ``time.perf_counter()`` value of the safety stop (``math.inf``: none).
        parent: Budget charged as well (children of :meth:`share`).
    """

    def __init__(
        self, units: int, deadline: float = math.inf, parent: Budget | None = None
    ) -> None:
        if units < 0:
            raise ValueError(f"a search budget must be >= 0, got {units}")
        self.limit = int(units)
        self.used = 0
        self.deadline = deadline
        self.parent = parent
        self._timed_out = False

    @property
    def left(self) -> int:
        """Units still available here (and in every parent)."""
        own = self.limit - self.used
        return min(own, self.parent.left) if self.parent is not None else own

    @property
    def timed_out(self) -> bool:
        """Whether the safety stop fired on this budget or a parent."""
        return self._timed_out or (self.parent is not None and self.parent.timed_out)

    def expired(self) -> bool:
        """Check the safety clock (without spending anything)."""
        if self.timed_out:
            return True
        if time.perf_counter() > self.deadline:
            self._timed_out = True
        elif self.parent is not None:
            return self.parent.expired()
        return self._timed_out

    def take(self, cost: int = 1) -> bool:
        """Spend ``cost`` units; ``False`` (nothing spent) when none is left or time is up.

        The last step may overdraw the budget by less than its cost; it is then empty.
        """
        if self.left <= 0 or self.expired():
            return False
        self._charge(max(1, cost))
        return True

    def charge(self, cost: int) -> None:
        """Spend ``cost`` units of work already done (may overdraw the budget)."""
        self._charge(max(0, cost))

    def _charge(self, cost: int) -> None:
        self.used += cost
        if self.parent is not None:
            self.parent._charge(cost)

    def share(self, fraction: float) -> Budget:
        """A child budget of ``floor(fraction * left)`` units.

        The child's spending is charged here too; what it does not spend stays available.
        """
        return Budget(int(max(0.0, fraction) * self.left), self.deadline, parent=self)


# Costs in budget units. One unit is about 0.1 ms of this code's work on a 2-core 2020s machine
# (fitted on the public benchmark and generator pools); the weights only need to be roughly
# proportional to work so that a budget means a similar time on small and large instances.


def move_cost(bins: int, bin_options: int, free_options: int, d: int) -> int:
    """Units of one bin-elimination move: per-bin bookkeeping plus the (option x option) grid."""
    return 3 + bins // 70 + bin_options * free_options * d // 4000


def pair_cost(evaluations: int) -> int:
    """Units of a pair-exchange step making ``evaluations`` (option pair x dimension) checks."""
    return evaluations // 700


def repack_cost(checks: int) -> int:
    """Units of a repack of the perturbation search making ``checks`` item checks."""
    return 1 + checks // 250


def first_fit_cost(n: int, d: int) -> int:
    """Units of a first-fit run (or a GA crossover with repair) over ``n`` items of ``d`` dims."""
    return 1 + n * d // 7


def bin_centric_cost(n: int, d: int) -> int:
    """Units of a bin-centric run: one numpy pass over the remaining items per placed item."""
    return 5 + n * (20 + n * d // 50) // 94
