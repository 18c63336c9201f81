"""Multi-cloud scoring: choose one node pool per workload (pure numpy/pandas).

Hard constraints remove a (workload, pool) pair: the pool's region must be in the workload's
allow-list (when the list is non-empty), the workload must fit in one node of the pool (cpu,
memory, gpu) and the pool's latency must be within the workload's SLA. Among the remaining pools
the lowest weighted score wins. Each component is min-max normalised with :class:`ScoringBounds`,
the min and max over the feasible pairs of the *whole input* (partial bounds of each batch from
:func:`scoring_bounds`, merged), so a workload's choice does not depend on the batch it is scored
in:

* cost: the pool's price per vCPU-hour times the workload's cpu and duration,
* latency: pool latency in ms,
* carbon: the pool's mean grid intensity times the workload's cpu and duration (a proxy for its
  operational emissions).

A pool of the preferred provider gets ``preference_bonus`` subtracted from its score. Ties go to the
lower ``pool_id`` so that results are deterministic. A pool without grid intensity has a NaN carbon
component and score: it is chosen only when no other pool is feasible. ``est_cost`` is the pool's price times the
workload's largest share of a node (cpu or memory) times its duration.

The work is done on ``(workloads x pools)`` numpy matrices, in row blocks of bounded memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

WORKLOAD_COLUMNS = (
    "workload_id",
    "cpu",
    "memory_gb",
    "gpu",
    "duration_h",
    "latency_sla_ms",
    "allowed_regions",
    "provider_preference",
    "priority",
    "deferrable_hours",
)
POOL_COLUMNS = (
    "pool_id",
    "provider",
    "region",
    "instance_type",
    "vcpus",
    "memory_gb",
    "gpu",
    "price_per_hour",
    "max_nodes",
    "latency_ms",
    "grid_gco2_per_kwh",
)
SCORE_COLUMNS = (
    "workload_id",
    "pool_id",
    "score",
    "cost_component",
    "latency_component",
    "carbon_component",
    "preference_bonus",
    "est_cost",
    "n_feasible_pools",
    "reason",
)


@dataclass(frozen=True)
class ScoringWeights:
    """Weights of the soft score (lower score is better).

    Attributes:
        cost: Weight of the normalised cost.
        latency: Weight of the normalised latency.
        carbon: Weight of the normalised carbon proxy.
        preference_bonus: Subtracted from the score of pools of the preferred provider.
    """

    cost: float = 0.5
    latency: float = 0.2
    carbon: float = 0.3
    preference_bonus: float = 0.05

    def __post_init__(self) -> None:
        if min(self.cost, self.latency, self.carbon, self.preference_bonus) < 0:
            raise ValueError("scoring weights must be non-negative")


REASON_NO_POOLS = "no pools"
REASON_REGION = "no pool in allowed regions"
REASON_FIT = "does not fit any node in allowed regions"
REASON_LATENCY = "no pool meets the latency SLA"
_BLOCK_CELLS = 4_000_000  # (workload, pool) cells per block: ~32 MB per float matrix
_TINY = 1e-9  # cpu and duration floor of the cost and carbon proxies


@dataclass(frozen=True)
class ScoringBounds:
    """Min and max of each raw score component over feasible (workload, pool) pairs.

    Normalising with the bounds of the whole input (not of whatever batch a task holds) makes a
    workload's choice independent of how the input was split. Bounds of parts combine with
    :meth:`merge` (min of the mins, max of the maxes); :meth:`empty` (no pair seen) is its
    identity. A component whose bounds are empty or equal normalises to 0.

    Attributes:
        cost_min: Smallest raw cost (price per vCPU-hour x cpu x duration).
        cost_max: Largest raw cost.
        latency_min: Smallest pool latency (ms).
        latency_max: Largest pool latency (ms).
        carbon_min: Smallest raw carbon proxy (grid intensity x cpu x duration).
        carbon_max: Largest raw carbon proxy.
    """

    cost_min: float = np.inf
    cost_max: float = -np.inf
    latency_min: float = np.inf
    latency_max: float = -np.inf
    carbon_min: float = np.inf
    carbon_max: float = -np.inf

    @classmethod
    def empty(cls) -> ScoringBounds:
        """The bounds of no pair: the identity of :meth:`merge`."""
        return cls()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Field names in order (``*_min`` aggregate with min, ``*_max`` with max)."""
        return tuple(f.name for f in fields(cls))

    @property
    def is_empty(self) -> bool:
        """True when no feasible pair contributed."""
        return self == ScoringBounds.empty()

    def merge(self, other: ScoringBounds) -> ScoringBounds:
        """Bounds of the union of both inputs."""
        return ScoringBounds(
            *(
                min(a, b) if name.endswith("_min") else max(a, b)
                for name, a, b in zip(
                    self.field_names(), astuple(self), astuple(other), strict=True
                )
            )
        )

    def to_dict(self) -> dict[str, float]:
        """Plain ``{field: float}`` (infinite when empty), e.g. for a Spark row."""
        return {name: float(v) for name, v in zip(self.field_names(), astuple(self), strict=True)}

    @classmethod
    def from_dict(cls, values: Mapping[str, float | None]) -> ScoringBounds:
        """From :meth:`to_dict` output; a missing, null or NaN value means "no pair seen"."""
        out: dict[str, float] = {}
        for name, default in zip(cls.field_names(), astuple(cls.empty()), strict=True):
            v = values.get(name)
            out[name] = default if v is None or np.isnan(float(v)) else float(v)
        return cls(**out)

    def to_frame(self) -> pd.DataFrame:
        """One-row frame of :meth:`to_dict` (the schema of a partial-bounds ``mapInPandas``)."""
        return pd.DataFrame([self.to_dict()], columns=list(self.field_names()))


def _check_columns(df: pd.DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing columns: {missing}")


def _regions(text: object) -> frozenset[str]:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return frozenset()
    return frozenset(r.strip() for r in str(text).split(",") if r.strip())


def _floats(frame: pd.DataFrame, column: str) -> FloatArray:
    """A numeric column as float64 (nulls as NaN, which fail every constraint)."""
    try:
        return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {column!r} must be numeric ({exc})") from exc


def _finite_range(x: FloatArray) -> tuple[float, float]:
    """(min, max) of the non-NaN values, ``(inf, -inf)`` when there are none."""
    x = x[~np.isnan(x)]
    return (float(x.min()), float(x.max())) if x.size else (np.inf, -np.inf)


class _Pools:
    """Pool columns as arrays, ordered by ``pool_id`` (so argmin breaks ties to the lower id)."""

    def __init__(self, pools: pd.DataFrame) -> None:
        ids = pools["pool_id"].astype(str).to_numpy()
        order = np.argsort(ids, kind="stable")
        pl = pools.iloc[order].reset_index(drop=True)
        self.size = len(pl)
        self.ids = ids[order]
        self.provider = pl["provider"].astype(str).to_numpy()
        self.region = pl["region"].astype(str).to_numpy()
        self.vcpus = _floats(pl, "vcpus")
        self.memory = _floats(pl, "memory_gb")
        self.gpu = _floats(pl, "gpu")
        self.price = _floats(pl, "price_per_hour")
        self.latency = _floats(pl, "latency_ms")
        self.grid = _floats(pl, "grid_gco2_per_kwh")
        self.price_per_vcpu = self.price / self.vcpus


class _Block:
    """Feasibility and raw components of a block of workloads against every pool."""

    def __init__(self, wl: pd.DataFrame, pools: _Pools) -> None:
        self.cpu = _floats(wl, "cpu")
        self.memory = _floats(wl, "memory_gb")
        self.gpu = _floats(wl, "gpu")
        self.duration = _floats(wl, "duration_h")
        sla = _floats(wl, "latency_sla_ms")
        # Region allow-lists repeat a lot: one pool mask per distinct list.
        codes, lists = pd.factorize(wl["allowed_regions"].fillna("").astype(str), sort=False)
        masks = (
            np.stack(
                [
                    np.isin(pools.region, sorted(_regions(t)))
                    if _regions(t)
                    else np.ones(pools.size, bool)
                    for t in lists
                ]
            )
            if len(lists)
            else np.ones((0, pools.size), dtype=bool)
        )
        self.region_ok: BoolArray = masks[codes] if len(codes) else np.zeros((0, pools.size), bool)
        self.fits: BoolArray = (
            (pools.vcpus[None, :] >= self.cpu[:, None])
            & (pools.memory[None, :] >= self.memory[:, None])
            & (pools.gpu[None, :] >= self.gpu[:, None])
        )
        self.feasible: BoolArray = (
            self.region_ok & self.fits & (pools.latency[None, :] <= sla[:, None])
        )
        cpu = np.maximum(self.cpu, _TINY)[:, None]
        duration = np.maximum(self.duration, _TINY)[:, None]
        # Same operation order as the scalar formulas, so every cell is bit-identical to them.
        self.cost_raw: FloatArray = pools.price_per_vcpu[None, :] * cpu * duration
        self.carbon_raw: FloatArray = pools.grid[None, :] * cpu * duration
        self.latency: FloatArray = np.broadcast_to(pools.latency, self.feasible.shape)

    def bounds(self) -> ScoringBounds:
        f = self.feasible
        # NaN components (a pool without grid intensity) never win and do not bound the others.
        return ScoringBounds(
            *_finite_range(self.cost_raw[f]),
            *_finite_range(self.latency[f]),
            *_finite_range(self.carbon_raw[f]),
        )


def _blocks(workloads: pd.DataFrame, pools: _Pools) -> list[tuple[int, int]]:
    step = max(1, _BLOCK_CELLS // max(1, pools.size))
    return [(lo, min(lo + step, len(workloads))) for lo in range(0, len(workloads), step)]


def _prepare(workloads: pd.DataFrame, pools: pd.DataFrame) -> tuple[pd.DataFrame, _Pools]:
    _check_columns(workloads, WORKLOAD_COLUMNS, "workloads")
    _check_columns(pools, POOL_COLUMNS, "pools")
    return workloads.reset_index(drop=True), _Pools(pools)


def scoring_bounds(workloads: pd.DataFrame, pools: pd.DataFrame) -> ScoringBounds:
    """Bounds over the feasible pairs of one batch (merge the batches' bounds for the whole input).

    Args:
        workloads: One row per workload (columns in ``WORKLOAD_COLUMNS``).
        pools: One row per node pool (columns in ``POOL_COLUMNS``).

    Returns:
        The batch's bounds (:meth:`ScoringBounds.empty` when no pair is feasible).

    Raises:
        ValueError: If a required column is missing.
    """
    wl, pl = _prepare(workloads, pools)
    out = ScoringBounds.empty()
    for lo, hi in _blocks(wl, pl):
        out = out.merge(_Block(wl.iloc[lo:hi], pl).bounds())
    return out


def _normalise(x: FloatArray, lo: float, hi: float) -> FloatArray:
    """Min-max scaling to [0, 1]; 0 when the bounds are empty or equal; NaN stays NaN."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 0:
        return np.where(np.isnan(x), np.nan, 0.0)
    return (x - lo) / (hi - lo)


def _score_block(
    wl: pd.DataFrame, pools: _Pools, w: ScoringWeights, b: ScoringBounds
) -> pd.DataFrame:
    blk = _Block(wl, pools)
    n = len(wl)
    cost = _normalise(blk.cost_raw, b.cost_min, b.cost_max)
    latency = _normalise(blk.latency, b.latency_min, b.latency_max)
    carbon = _normalise(blk.carbon_raw, b.carbon_min, b.carbon_max)
    pref = wl["provider_preference"].fillna("").astype(str).str.strip().to_numpy()
    bonus = np.where(
        (pref[:, None] != "") & (pref[:, None] == pools.provider[None, :]), w.preference_bonus, 0.0
    )
    score = w.cost * cost + w.latency * latency + w.carbon * carbon - bonus
    n_feasible = blk.feasible.sum(axis=1).astype(np.int64)
    rows = np.arange(n)
    has = n_feasible > 0
    best = np.zeros(n, dtype=np.int64)
    if pools.size:
        # Columns are in pool_id order: argmin's first minimum is the lowest pool_id among ties.
        # A NaN score (no grid intensity) loses to any number; all-NaN rows take the first pool.
        key = np.where(blk.feasible & ~np.isnan(score), score, np.inf)
        best = np.argmin(key, axis=1)
        only_nan = has & ~np.isfinite(key[rows, best])
        best[only_nan] = np.argmax(blk.feasible[only_nan], axis=1)

    def pick(m: FloatArray) -> FloatArray:
        return np.where(has, m[rows, best], np.nan) if pools.size else np.full(n, np.nan)

    share = np.maximum(
        blk.cpu[:, None] / pools.vcpus[None, :], blk.memory[:, None] / pools.memory[None, :]
    )
    est_cost = pools.price[None, :] * share * blk.duration[:, None]
    reason = np.full(n, None, dtype=object)
    if pools.size == 0:
        reason[:] = REASON_NO_POOLS
    else:
        in_region = blk.region_ok.any(axis=1)
        fits_in_region = (blk.region_ok & blk.fits).any(axis=1)
        reason[~has & ~in_region] = REASON_REGION
        reason[~has & in_region & ~fits_in_region] = REASON_FIT
        reason[~has & fits_in_region] = REASON_LATENCY
    pool_id = np.full(n, None, dtype=object)
    if pools.size:
        pool_id[has] = pools.ids[best[has]]
    return pd.DataFrame(
        {
            "workload_id": wl["workload_id"].astype(str).to_numpy(),
            "pool_id": pool_id,
            "score": pick(score),
            "cost_component": pick(cost),
            "latency_component": pick(latency),
            "carbon_component": pick(carbon),
            "preference_bonus": pick(bonus),
            "est_cost": pick(est_cost),
            "n_feasible_pools": n_feasible,
            "reason": reason,
        }
    )


def score_pools(
    workloads: pd.DataFrame,
    pools: pd.DataFrame,
    weights: ScoringWeights | None = None,
    bounds: ScoringBounds | None = None,
) -> pd.DataFrame:
    """Choose the best feasible pool for every workload.

    Args:
        workloads: One row per workload (columns in ``WORKLOAD_COLUMNS``).
        pools: One row per node pool (columns in ``POOL_COLUMNS``).
        weights: Score weights (defaults: cost 0.5, latency 0.2, carbon 0.3).
        bounds: Normalisation bounds of the whole input, e.g. the merged
            :func:`scoring_bounds` of every batch. ``None``: this batch's own bounds (for
            single-batch use only: the choice then depends on what else is in the batch).

    Returns:
        One row per workload, in input order, with ``SCORE_COLUMNS`` (the components are the
        normalised ones): ``pool_id`` is null and ``reason`` says why when no pool satisfies the
        hard constraints. A row depends only on its workload, the pools, weights and bounds.

    Raises:
        ValueError: If a required column is missing.
    """
    w_cfg = weights or ScoringWeights()
    wl, pl = _prepare(workloads, pools)
    b = bounds if bounds is not None else scoring_bounds(wl, pools)
    parts = [_score_block(wl.iloc[lo:hi], pl, w_cfg, b) for lo, hi in _blocks(wl, pl)]
    if not parts:
        return _score_block(wl, pl, w_cfg, b)[list(SCORE_COLUMNS)]
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return out[list(SCORE_COLUMNS)]
