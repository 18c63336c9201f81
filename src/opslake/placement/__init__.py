"""Placement: bin packing of workloads onto nodes (pure numpy/pandas, no I/O).

``pack`` runs one of ``ffd``, ``bfd``, ``least_loaded``, ``genetic`` or ``annealing`` on scalar or
vector sizes and reports bins used, lower bounds (L1, Martello–Toth L2), gap, utilisation and
runtime. The searches stop on a seeded work budget (:mod:`opslake.placement.budget`), so the same
input and seed give the same packing on any machine. ``scoring`` chooses a node pool per workload
across clouds with normalisation bounds of the whole input; ``batch`` packs one pool (the function
a Spark ``groupBy(pool_id).applyInPandas`` calls).
"""

from opslake.placement.bounds import l1_bound, l2_bound, lower_bound
from opslake.placement.budget import Budget
from opslake.placement.core import (
    ALGORITHMS,
    DEFAULT_SAFETY_LIMIT_S,
    DEFAULT_SEARCH_BUDGET,
    PackingResult,
    pack,
)
from opslake.placement.heuristics import SORT_KEYS

__all__ = [
    "ALGORITHMS",
    "DEFAULT_SAFETY_LIMIT_S",
    "DEFAULT_SEARCH_BUDGET",
    "SORT_KEYS",
    "Budget",
    "PackingResult",
    "l1_bound",
    "l2_bound",
    "lower_bound",
    "pack",
]
