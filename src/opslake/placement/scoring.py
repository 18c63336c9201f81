"""Multi-cloud scoring: choose one node pool per workload (pure pandas).

Hard constraints remove a (workload, pool) pair: the pool's region must be in the workload's
allow-list (when the list is non-empty), the workload must fit in one node of the pool (cpu,
memory, gpu) and the pool's latency must be within the workload's SLA. Among the remaining pools
the lowest weighted score wins; each component is min-max normalised over the feasible pairs of
the batch:

* cost: price per vCPU-hour of the pool times the workload's share of a node (its largest share of
  cpu or memory) times its duration,
* latency: pool latency in ms,
* carbon: the pool's mean grid intensity times the workload's cpu share and duration (a proxy for
  its operational emissions).

A pool of the preferred provider gets ``preference_bonus`` subtracted from its score. Ties go to the
lower ``pool_id`` so that results are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def _check_columns(df: pd.DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing columns: {missing}")


def _regions(text: object) -> frozenset[str]:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return frozenset()
    return frozenset(r.strip() for r in str(text).split(",") if r.strip())


@dataclass(frozen=True)
class ScoringBounds:
    """Min and max of each raw score component over the feasible (workload, pool) pairs of the
    whole input. Normalising with these (not with whatever batch a task holds) makes a workload's
    choice independent of how the input was split; ``merge`` combines partial bounds."""

    cost_min: float = np.inf
    cost_max: float = -np.inf
    latency_min: float = np.inf
    latency_max: float = -np.inf
    carbon_min: float = np.inf
    carbon_max: float = -np.inf

    @classmethod
    def empty(cls) -> ScoringBounds:
        """The identity of ``merge``."""
        return cls()

    def merge(self, other: ScoringBounds) -> ScoringBounds:
        return ScoringBounds(
            min(self.cost_min, other.cost_min), max(self.cost_max, other.cost_max),
            min(self.latency_min, other.latency_min), max(self.latency_max, other.latency_max),
            min(self.carbon_min, other.carbon_min), max(self.carbon_max, other.carbon_max),
        )  # fmt: skip

    def to_dict(self) -> dict[str, float]:
        return {f: float(getattr(self, f)) for f in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, values: dict[str, float | None]) -> ScoringBounds:
        """From ``to_dict`` output; missing or null values mean "no feasible pair seen"."""
        default = cls().to_dict()
        return cls(**{k: default[k] if values.get(k) is None else float(values[k]) for k in default})  # type: ignore[arg-type]


def _minmax(x: pd.Series, lo: float, hi: float) -> pd.Series:
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 0:
        return pd.Series(0.0, index=x.index)
    return (x - lo) / (hi - lo)


def _reason(w: pd.Series, pools: pd.DataFrame) -> str:
    allowed = _regions(w["allowed_regions"])
    in_region = pools if not allowed else pools[pools["region"].isin(allowed)]
    if in_region.empty:
        return "no pool in allowed regions"
    fits = in_region[
        (in_region["vcpus"] >= w["cpu"])
        & (in_region["memory_gb"] >= w["memory_gb"])
        & (in_region["gpu"] >= w["gpu"])
    ]
    if fits.empty:
        return "does not fit any node in allowed regions"
    return "no pool meets the latency SLA"


def _feasible_pairs(
    workloads: pd.DataFrame, pools: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(workloads indexed 0..n-1 in ``_w``, pools, feasible pairs with the raw components)."""
    _check_columns(workloads, WORKLOAD_COLUMNS, "workloads")
    _check_columns(pools, POOL_COLUMNS, "pools")
    wl = workloads.reset_index(drop=True).copy()
    wl["_w"] = np.arange(len(wl))
    pl = pools.reset_index(drop=True).copy()
    pair = wl.merge(pl, how="cross", suffixes=("", "_pool"))
    allowed: list[frozenset[str]] = [_regions(x) for x in wl["allowed_regions"].tolist()]
    region_ok = np.asarray(
        [
            not allowed[int(i)] or str(r) in allowed[int(i)]
            for i, r in zip(pair["_w"].tolist(), pair["region"].tolist(), strict=True)
        ],
        dtype=bool,
    )
    fits = (
        (pair["vcpus"].to_numpy(dtype=float) >= pair["cpu"].to_numpy(dtype=float))
        & (pair["memory_gb_pool"].to_numpy(dtype=float) >= pair["memory_gb"].to_numpy(dtype=float))
        & (pair["gpu_pool"].to_numpy(dtype=float) >= pair["gpu"].to_numpy(dtype=float))
    )
    latency_ok = pair["latency_ms"].to_numpy(dtype=float) <= pair["latency_sla_ms"].to_numpy(
        dtype=float
    )
    feas = pair[region_ok & fits & latency_ok].copy()
    feas["cost_raw"] = (
        feas["price_per_hour"]
        / feas["vcpus"]
        * feas["cpu"].clip(lower=1e-9)
        * feas["duration_h"].clip(lower=1e-9)
    )
    feas["carbon_raw"] = (
        feas["grid_gco2_per_kwh"]
        * feas["cpu"].clip(lower=1e-9)
        * feas["duration_h"].clip(lower=1e-9)
    )
    return wl, pl, feas


def scoring_bounds(workloads: pd.DataFrame, pools: pd.DataFrame) -> ScoringBounds:
    """Partial bounds over the feasible pairs of one batch (merge them for the whole input)."""
    _wl, _pl, feas = _feasible_pairs(workloads, pools)
    if feas.empty:
        return ScoringBounds.empty()
    latency = feas["latency_ms"].astype(float)
    return ScoringBounds(
        float(feas["cost_raw"].min()), float(feas["cost_raw"].max()),
        float(latency.min()), float(latency.max()),
        float(feas["carbon_raw"].min()), float(feas["carbon_raw"].max()),
    )  # fmt: skip


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
        bounds: Normalisation bounds of the whole input (``None``: this batch's own, which makes
            the choice depend on the batch; Spark jobs always pass the global ones).

    Returns:
        One row per workload, in input order, with ``SCORE_COLUMNS``: ``pool_id`` is null and
        ``reason`` says why when no pool satisfies the hard constraints.

    Raises:
        ValueError: If a required column is missing.
    """
    w_cfg = weights or ScoringWeights()
    wl, pl, feas = _feasible_pairs(workloads, pools)
    b = bounds if bounds is not None else scoring_bounds(workloads, pools)
    share = np.maximum(feas["cpu"] / feas["vcpus"], feas["memory_gb"] / feas["memory_gb_pool"])
    feas["est_cost"] = feas["price_per_hour"] * share * feas["duration_h"]
    feas["cost_component"] = _minmax(feas["cost_raw"], b.cost_min, b.cost_max)
    feas["latency_component"] = _minmax(
        feas["latency_ms"].astype(float), b.latency_min, b.latency_max
    )
    feas["carbon_component"] = _minmax(feas["carbon_raw"], b.carbon_min, b.carbon_max)
    pref = feas["provider_preference"].fillna("").astype(str).str.strip()
    feas["preference_bonus"] = np.where(
        (pref != "") & (pref == feas["provider"].astype(str)), w_cfg.preference_bonus, 0.0
    )
    feas["score"] = (
        w_cfg.cost * feas["cost_component"]
        + w_cfg.latency * feas["latency_component"]
        + w_cfg.carbon * feas["carbon_component"]
        - feas["preference_bonus"]
    )
    feas = feas.sort_values(by=["_w", "score", "pool_id"], kind="mergesort")
    n_feasible = feas.groupby("_w").size()
    best = feas.drop_duplicates("_w", keep="first").set_index("_w")
    out = pd.DataFrame({"workload_id": wl["workload_id"].astype(str)})
    cols = ["pool_id", "score", "cost_component", "latency_component", "carbon_component"]
    for c in [*cols, "preference_bonus", "est_cost"]:
        out[c] = best[c].reindex(wl["_w"]).to_numpy()
    out["pool_id"] = [None if pd.isna(p) else str(p) for p in out["pool_id"].tolist()]
    counts = n_feasible.reindex(wl["_w"]).fillna(0).to_numpy(dtype=np.int64)
    out["n_feasible_pools"] = counts
    reasons: list[str | None] = []
    for i in range(len(wl)):
        if int(counts[i]) > 0:
            reasons.append(None)
        else:
            reasons.append(_reason(wl.iloc[i], pl) if len(pl) else "no pools")
    out["reason"] = reasons
    return out[list(SCORE_COLUMNS)]
