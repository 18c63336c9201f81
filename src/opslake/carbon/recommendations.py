"""Carbon-aware recommendations: time shifting, location shifting, and a merged ranking.

Pure pandas/numpy. Intensities are in gCO2e/kWh, energies in kWh, emissions in gCO2e.

* :func:`time_shift` - for each deferrable workload, the start hour within
  ``[start, start + deferrable_hours]`` that minimises the average grid intensity over the job's
  duration (a rolling mean of the hourly series), versus starting now.
* :func:`location_shift` - for each workload, the lowest-intensity allowed region that still has
  capacity, versus its current region.
* :func:`top_recommendations` - both, in one long table ranked by absolute saving.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import pandas as pd

from opslake.carbon.vectorized import (
    compute_kwh,
    memory_kwh,
    normalise_providers,
    row_coefficients,
)

logger = logging.getLogger(__name__)

CCF_DEFAULT_CPU_UTILIZATION = 0.5
"""CCF ``AVG_CPU_UTILIZATION_2020``: hyperscale average when utilisation is unknown."""

_IMPROVEMENT_RTOL = 1e-12  # a "better" window must beat the current one by more than rounding

TIME_SHIFT_COLUMNS = (
    "workload_id",
    "region",
    "current_start",
    "best_start",
    "shift_hours",
    "current_gco2e",
    "best_gco2e",
    "saving_gco2e",
    "saving_pct",
)
LOCATION_SHIFT_COLUMNS = (
    "workload_id",
    "current_region",
    "best_region",
    "current_gco2e",
    "best_gco2e",
    "saving_gco2e",
    "saving_pct",
)
RECOMMENDATION_COLUMNS = (
    "workload_id",
    "kind",
    "current",
    "suggested",
    "current_gco2e",
    "suggested_gco2e",
    "saving_gco2e",
    "saving_pct",
    "rank",
)


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing required column(s): {', '.join(missing)}")


def workload_energy_kwh(workloads: pd.DataFrame) -> pd.Series:
    """Returns each workload's energy: ``energy_kwh`` if given, else a CCF estimate.

    The estimate is compute at the CCF default 50 % utilisation over ``cpu × duration_h``
    vCPU-hours plus memory over ``memory_gb × duration_h`` GB-hours (if the column exists), with
    the provider's min/max watts and PUE.

    Args:
        workloads: Either an ``energy_kwh`` column, or ``provider, cpu, duration_h``
            (and optionally ``memory_gb``).

    Returns:
        Energy in kWh, aligned with ``workloads.index``.

    Raises:
        ValueError: If neither form is available, or a provider is unknown.
    """
    if "energy_kwh" in workloads.columns:
        energy = pd.to_numeric(workloads["energy_kwh"], errors="raise").astype("float64")
        if (energy < 0).any():
            raise ValueError("energy_kwh must be >= 0")
        return energy
    _require(workloads, "workloads (without energy_kwh)", ("provider", "cpu", "duration_h"))
    coefficients = row_coefficients(normalise_providers(workloads["provider"]))
    hours = workloads["duration_h"].astype("float64")
    estimate = compute_kwh(
        CCF_DEFAULT_CPU_UTILIZATION,
        workloads["cpu"].astype("float64") * hours,
        coefficients.min_watts,
        coefficients.max_watts,
        coefficients.pue,
    )
    if "memory_gb" in workloads.columns:
        memory_gb_hours = workloads["memory_gb"].astype("float64") * hours
        estimate = estimate + memory_kwh(memory_gb_hours, coefficients.pue)
    return pd.Series(estimate, index=workloads.index, name="energy_kwh")


def _utc(values: pd.Series, name: str) -> pd.Series:
    try:
        return pd.to_datetime(values, utc=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be timestamps: {exc}") from exc


def _hourly_grid(
    intensity: pd.DataFrame,
) -> dict[str, tuple[pd.Timestamp, npt.NDArray[np.float64]]]:
    """Region -> (first hour, hourly intensities with NaN for missing hours)."""
    _require(intensity, "intensity", ("region", "ts", "gco2_per_kwh"))
    frame = pd.DataFrame(
        {
            "region": intensity["region"].astype("string"),
            "ts": _utc(intensity["ts"], "intensity.ts").dt.floor("h"),
            "g": pd.to_numeric(intensity["gco2_per_kwh"], errors="raise").astype("float64"),
        }
    )
    if (frame["g"] < 0).any():
        raise ValueError("intensity.gco2_per_kwh must be >= 0")
    duplicated = frame.duplicated(["region", "ts"])
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise ValueError(
            f"intensity has {int(duplicated.sum())} duplicate (region, hour) row(s), "
            f"first: {first['region']} {first['ts']}"
        )
    grids: dict[str, tuple[pd.Timestamp, npt.NDArray[np.float64]]] = {}
    for region, rows in frame.dropna(subset=["g"]).groupby("region", sort=True):
        start, end = rows["ts"].min(), rows["ts"].max()
        hours = ((rows["ts"] - start) // pd.Timedelta(hours=1)).to_numpy(dtype=np.int64)
        values = np.full(int((end - start) // pd.Timedelta(hours=1)) + 1, np.nan)
        values[hours] = rows["g"].to_numpy(dtype=np.float64)
        grids[str(region)] = (start, values)
    return grids


def _window_means(
    values: npt.NDArray[np.float64],
    start_index: npt.NDArray[np.int64],
    duration: npt.NDArray[np.float64],
    deferrable: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Current mean, best mean and best offset (hours) per workload for one region's series.

    A job of ``d`` hours starting at hour ``s`` sees ``mean = (Σ I[s..s+k-1] + f·I[s+k]) / d`` with
    ``k = floor(d)`` and ``f = d − k`` (the last, partial hour weighted by its fraction).
    """
    n = len(values)
    missing = np.isnan(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(missing, 0.0, values))])
    gaps = np.concatenate([[0], np.cumsum(missing)])
    whole = np.floor(duration).astype(np.int64)
    frac = duration - whole
    needed = whole + (frac > 0)  # hours the window touches

    offsets = np.arange(int(deferrable.max(initial=0)) + 1, dtype=np.int64)
    starts = start_index[:, None] + offsets[None, :]
    end = starts + needed[:, None]
    valid = (offsets[None, :] <= deferrable[:, None]) & (starts >= 0) & (end <= n)
    s = np.clip(starts, 0, n)
    e = np.clip(end, 0, n)
    valid &= (gaps[e] - gaps[s]) == 0
    last = np.clip(starts + whole[:, None], 0, n - 1) if n else np.zeros_like(starts)
    partial = np.where(frac[:, None] > 0, frac[:, None] * (values[last] if n else 0.0), 0.0)
    means = (sums[np.clip(starts + whole[:, None], 0, n)] - sums[s] + partial) / duration[:, None]
    means = np.where(valid, means, np.inf)

    current = np.where(valid[:, 0], means[:, 0], np.nan)
    best_offset = np.argmin(means, axis=1).astype(np.int64)
    best = means[np.arange(len(means)), best_offset]
    not_better = ~(best < current * (1 - _IMPROVEMENT_RTOL))
    best_offset = np.where(not_better, 0, best_offset)
    best = np.where(not_better, current, best)
    return current, best, best_offset


def time_shift(intensity: pd.DataFrame, workloads: pd.DataFrame) -> pd.DataFrame:
    """Finds the lowest-carbon start within each workload's deferrable horizon.

    Candidate starts are whole hours ``start, start+1h, …, start+floor(deferrable_hours)``; each is
    scored by the mean intensity over the job's duration (rolling mean of the hourly series; a
    fractional last hour counts by its fraction). The earliest best window wins ties; a window must
    be fully covered by intensity data to be a candidate.

    Args:
        intensity: Hourly grid intensity, columns ``region, ts, gco2_per_kwh`` (one row per region
            and hour; ``ts`` is the start of the hour).
        workloads: Columns ``workload_id, region, duration_h (> 0), deferrable_hours (>= 0)``, a
            start time ``start_ts`` (or ``submitted_at``; floored to the hour), and ``energy_kwh``
            (or what :func:`workload_energy_kwh` needs to estimate it).

    Returns:
        One row per workload, in input order, with columns :data:`TIME_SHIFT_COLUMNS`.
        ``*_gco2e = energy_kwh × window mean``; ``saving_pct`` is in percent. Workloads whose
        current window is not covered by intensity data get NaN/NaT values (kept, not dropped).

    Raises:
        ValueError: On missing columns, non-positive durations, negative horizons or intensities,
            or duplicate (region, hour) intensity rows.
    """
    _require(workloads, "workloads", ("workload_id", "region", "duration_h", "deferrable_hours"))
    start_column = "start_ts" if "start_ts" in workloads.columns else "submitted_at"
    _require(workloads, "workloads", (start_column,))
    grids = _hourly_grid(intensity)

    start = _utc(workloads[start_column], f"workloads.{start_column}").dt.floor("h")
    duration = pd.to_numeric(workloads["duration_h"], errors="raise").to_numpy(dtype=np.float64)
    deferrable = pd.to_numeric(workloads["deferrable_hours"], errors="raise").to_numpy(
        dtype=np.float64
    )
    if not (np.isfinite(duration) & (duration > 0)).all():
        raise ValueError("workloads.duration_h must be finite and > 0")
    if not (np.isfinite(deferrable) & (deferrable >= 0)).all():
        raise ValueError("workloads.deferrable_hours must be finite and >= 0")
    energy = workload_energy_kwh(workloads).to_numpy(dtype=np.float64)
    deferrable_h = np.floor(deferrable).astype(np.int64)

    count = len(workloads)
    current = np.full(count, np.nan)
    best = np.full(count, np.nan)
    offset = np.zeros(count, dtype=np.int64)
    regions = workloads["region"].astype("string").to_numpy(dtype=object)
    for region in pd.unique(regions):
        rows = np.flatnonzero(regions == region)
        if region not in grids:
            logger.warning(
                "time_shift: no intensity data for region %s (%d workloads)", region, len(rows)
            )
            continue
        first, values = grids[region]
        index = ((start.iloc[rows] - first) // pd.Timedelta(hours=1)).to_numpy(dtype=np.int64)
        c, b, o = _window_means(values, index, duration[rows], deferrable_h[rows])
        current[rows], best[rows], offset[rows] = c, b, o

    known = ~np.isnan(current)
    current_g = energy * current
    best_g = energy * best
    saving = current_g - best_g
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(current_g > 0, saving / current_g * 100.0, 0.0)
    shift = pd.to_timedelta(np.where(known, offset, 0), unit="h")
    best_start = (start + shift).where(known, pd.NaT)
    return pd.DataFrame(
        {
            "workload_id": workloads["workload_id"].to_numpy(),
            "region": workloads["region"].to_numpy(),
            "current_start": start.to_numpy(),
            "best_start": best_start.to_numpy(),
            "shift_hours": np.where(known, offset, np.nan),
            "current_gco2e": current_g,
            "best_gco2e": best_g,
            "saving_gco2e": saving,
            "saving_pct": np.where(known, pct, np.nan),
        },
        columns=list(TIME_SHIFT_COLUMNS),
    ).astype({"current_start": "datetime64[ns, UTC]", "best_start": "datetime64[ns, UTC]"})


def _region_means(intensity: pd.DataFrame) -> dict[str, float]:
    _require(intensity, "intensity", ("region", "gco2_per_kwh"))
    values = pd.to_numeric(intensity["gco2_per_kwh"], errors="raise").astype("float64")
    if (values < 0).any():
        raise ValueError("intensity.gco2_per_kwh must be >= 0")
    means = values.groupby(intensity["region"].astype("string")).mean().dropna()
    return {str(k): float(v) for k, v in means.items()}


def _region_capacity(capacity: pd.DataFrame) -> dict[str, float]:
    """Region -> available capacity: ``available``, else Σ ``vcpus × max_nodes`` of node pools."""
    _require(capacity, "capacity", ("region",))
    if "available" in capacity.columns:
        available = pd.to_numeric(capacity["available"], errors="raise").astype("float64")
    elif {"vcpus", "max_nodes"} <= set(capacity.columns):
        available = capacity["vcpus"].astype("float64") * capacity["max_nodes"].astype("float64")
    else:
        raise ValueError("capacity needs an 'available' column, or 'vcpus' and 'max_nodes'")
    totals = available.fillna(0.0).groupby(capacity["region"].astype("string")).sum()
    return {str(k): float(v) for k, v in totals.items()}


def location_shift(
    intensity: pd.DataFrame, capacity: pd.DataFrame, workloads: pd.DataFrame
) -> pd.DataFrame:
    """Moves each workload to the lowest-intensity allowed region that has capacity.

    Greedy and deterministic: workloads are served by descending energy (biggest potential saving
    first, ties by ``workload_id``); a move consumes the workload's ``cpu`` (vCPUs; 0 if the column
    is absent) from the target region's capacity. A workload moves only if the target's intensity
    is strictly lower than its current region's. Energy is assumed the same in every region.

    Args:
        intensity: Columns ``region, gco2_per_kwh``; several rows per region (e.g. hourly) are
            averaged.
        capacity: Columns ``region, available`` (vCPUs free), or node pools with
            ``region, vcpus, max_nodes``; several rows per region are summed.
        workloads: Columns ``workload_id, region, allowed_regions`` (comma-separated, empty or
            null = any region with intensity data), ``energy_kwh`` (or what
            :func:`workload_energy_kwh` needs) and optionally ``cpu``.

    Returns:
        One row per workload, in input order, with columns :data:`LOCATION_SHIFT_COLUMNS`.
        Workloads whose current region has no intensity get NaN emissions and stay.

    Raises:
        ValueError: On missing columns or negative values.
    """
    _require(workloads, "workloads", ("workload_id", "region", "allowed_regions"))
    means = _region_means(intensity)
    remaining = _region_capacity(capacity)
    energy = workload_energy_kwh(workloads).to_numpy(dtype=np.float64)
    demand = (
        workloads["cpu"].astype("float64").fillna(0.0).to_numpy()
        if "cpu" in workloads.columns
        else np.zeros(len(workloads))
    )
    if (demand < 0).any():
        raise ValueError("workloads.cpu must be >= 0")
    regions = workloads["region"].astype("string").fillna("").to_numpy(dtype=object)
    allowed = [
        {r.strip() for r in str(a).split(",") if r.strip()} if isinstance(a, str) else set()
        for a in workloads["allowed_regions"].tolist()
    ]
    everywhere = sorted(means)

    best_region = regions.copy()
    current = np.array([means.get(r, np.nan) for r in regions], dtype=np.float64)
    best = current.copy()
    order = sorted(
        range(len(workloads)), key=lambda i: (-energy[i], str(workloads["workload_id"].iloc[i]))
    )
    for i in order:
        if np.isnan(current[i]):
            continue
        candidates = sorted(allowed[i]) if allowed[i] else everywhere
        feasible = [
            (means[r], r)
            for r in candidates
            if r != regions[i]
            and r in means
            and remaining.get(r, 0.0) >= demand[i]
            and remaining.get(r, 0.0) > 0
        ]
        if not feasible:
            continue
        target_intensity, target = min(feasible)
        if target_intensity < current[i]:
            best_region[i], best[i] = target, target_intensity
            remaining[target] = remaining[target] - demand[i]

    current_g = energy * current
    best_g = energy * best
    saving = current_g - best_g
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(
            current_g > 0, saving / current_g * 100.0, np.where(np.isnan(current_g), np.nan, 0.0)
        )
    return pd.DataFrame(
        {
            "workload_id": workloads["workload_id"].to_numpy(),
            "current_region": regions,
            "best_region": best_region,
            "current_gco2e": current_g,
            "best_gco2e": best_g,
            "saving_gco2e": saving,
            "saving_pct": pct,
        },
        columns=list(LOCATION_SHIFT_COLUMNS),
    )


def _iso(values: pd.Series) -> pd.Series:
    return values.map(lambda t: t.isoformat() if isinstance(t, pd.Timestamp) else None)


def top_recommendations(
    time_shifts: pd.DataFrame, location_shifts: pd.DataFrame, n: int | None = 10
) -> pd.DataFrame:
    """Merges time- and location-shift advice into one table ranked by absolute saving.

    Args:
        time_shifts: Output of :func:`time_shift`.
        location_shifts: Output of :func:`location_shift`.
        n: Keep the top ``n`` rows; ``None`` keeps all.

    Returns:
        Columns :data:`RECOMMENDATION_COLUMNS`: ``kind`` is ``time_shift`` (current/suggested are
        ISO start times) or ``location_shift`` (current/suggested are regions). Only rows with a
        positive saving, sorted by ``saving_gco2e`` descending (ties: workload_id, kind), ranked
        from 1.
    """
    _require(time_shifts, "time_shifts", TIME_SHIFT_COLUMNS)
    _require(location_shifts, "location_shifts", LOCATION_SHIFT_COLUMNS)
    parts = [
        pd.DataFrame(
            {
                "workload_id": time_shifts["workload_id"],
                "kind": "time_shift",
                "current": _iso(time_shifts["current_start"]),
                "suggested": _iso(time_shifts["best_start"]),
                "current_gco2e": time_shifts["current_gco2e"],
                "suggested_gco2e": time_shifts["best_gco2e"],
                "saving_gco2e": time_shifts["saving_gco2e"],
                "saving_pct": time_shifts["saving_pct"],
            }
        ),
        pd.DataFrame(
            {
                "workload_id": location_shifts["workload_id"],
                "kind": "location_shift",
                "current": location_shifts["current_region"],
                "suggested": location_shifts["best_region"],
                "current_gco2e": location_shifts["current_gco2e"],
                "suggested_gco2e": location_shifts["best_gco2e"],
                "saving_gco2e": location_shifts["saving_gco2e"],
                "saving_pct": location_shifts["saving_pct"],
            }
        ),
    ]
    merged = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    if merged.empty:
        return pd.DataFrame(columns=list(RECOMMENDATION_COLUMNS))
    merged = merged[merged["saving_gco2e"].fillna(0) > 0]
    merged = merged.assign(_wid=merged["workload_id"].astype(str)).sort_values(
        ["saving_gco2e", "_wid", "kind"], ascending=[False, True, True], kind="mergesort"
    )
    merged = merged.drop(columns="_wid").reset_index(drop=True)
    if n is not None:
        merged = merged.head(n)
    merged["rank"] = np.arange(1, len(merged) + 1)
    return merged[list(RECOMMENDATION_COLUMNS)]
