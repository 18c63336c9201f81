"""Placement: bin packing of workloads onto nodes (pure numpy/pandas, no I/O).

``pack`` runs one of ``ffd``, ``bfd``, ``least_loaded``, ``genetic`` or ``annealing`` on scalar or
vector sizes and reports bins used, lower bounds (L1, Martello–Toth L2), gap, utilisation and
runtime. ``scoring`` chooses a node pool per workload across clouds; ``batch`` packs one pool (the
function a Spark ``groupBy(pool_id).applyInPandas`` calls).
"""

from opslake.placement.bounds import l1_bound, l2_bound, lower_bound
from opslake.placement.core import ALGORITHMS, PackingResult, pack
from opslake.placement.heuristics import SORT_KEYS
from opslake.placement.instances import Instance, load_public_instances, read_orlib, read_vbp

__all__ = [
    "ALGORITHMS",
    "SORT_KEYS",
    "Instance",
    "PackingResult",
    "l1_bound",
    "l2_bound",
    "load_public_instances",
    "lower_bound",
    "pack",
    "read_orlib",
    "read_vbp",
]
