"""Cloud Carbon Footprint formulas, scalar form.

Units: utilisation is a fraction in [0, 1]; energy is kWh; emissions are in the unit of
``grid intensity x kWh`` (g CO2e when the grid factor is g/kWh). PUE multiplies every energy term,
as in CCF ("after estimating the kilowatt hours for compute, storage and networking, we need to
multiply this by the cloud provider PUE").

The arithmetic lives in the ``*_math`` helpers, written once so that the scalar functions here and
the vectorised ones in :mod:`opslake.carbon.vectorized` perform the very same floating-point
operations in the same order (and therefore agree to the last bit).
"""

from __future__ import annotations

import math
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from opslake.carbon.coefficients import (
    HDD_WH_PER_TB_HOUR,
    MEMORY_KWH_PER_GB_HOUR,
    NETWORK_KWH_PER_GB,
    SERVER_LIFESPAN_HOURS,
    SSD_WH_PER_TB_HOUR,
)

StorageMedium = Literal["ssd", "hdd"]

# float for the scalar API, ndarray for the vectorised one: the formulas are written once.
_N = TypeVar("_N", float, npt.NDArray[np.float64])

STORAGE_WH_PER_TB_HOUR: dict[str, float] = {"ssd": SSD_WH_PER_TB_HOUR, "hdd": HDD_WH_PER_TB_HOUR}


# --- the arithmetic, shared with the vectorised API -------------------------------------------


def compute_kwh_math(u: _N, vcpu_hours: _N, min_w: _N, max_w: _N, pue: _N, rf: _N) -> _N:
    """(min + u·(max − min)) · vCPU-h / 1000 · PUE · replication factor."""
    return (min_w + u * (max_w - min_w)) * vcpu_hours / 1000.0 * pue * rf


def memory_kwh_math(gb_hours: _N, pue: _N, rf: _N) -> _N:
    """GB-h · 0.000392 kWh/GB-h · PUE · replication factor."""
    return gb_hours * MEMORY_KWH_PER_GB_HOUR * pue * rf


def storage_kwh_math(tb_hours: _N, wh_per_tb_hour: _N, pue: _N, rf: _N) -> _N:
    """TB-h · Wh/TB-h / 1000 · PUE · replication factor."""
    return tb_hours * wh_per_tb_hour / 1000.0 * pue * rf


def network_kwh_math(gb: _N, pue: _N) -> _N:
    """GB · 0.001 kWh/GB · PUE."""
    return gb * NETWORK_KWH_PER_GB * pue


def embodied_math(total: _N, hours: _N, vcpus: _N, largest_vcpus: _N, lifespan: _N) -> _N:
    """Total embodied · hours / lifespan · vCPUs / largest vCPUs (CCF/SCI share of the host)."""
    return total * (hours / lifespan) * (vcpus / largest_vcpus)


def co2e_math(kwh: _N, grid_intensity: _N) -> _N:
    """kWh · grid intensity."""
    return kwh * grid_intensity


# --- scalar validation -----------------------------------------------------------------------


def _number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}: {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def _non_negative(name: str, value: float) -> float:
    result = _number(name, value)
    if result < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return result


def _positive(name: str, value: float) -> float:
    result = _number(name, value)
    if result <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return result


def _at_least_one(name: str, value: float) -> float:
    result = _number(name, value)
    if result < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return result


def _fraction(name: str, value: float) -> float:
    result = _number(name, value)
    if not 0.0 <= result <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return result


def _medium(medium: str) -> float:
    key = medium.strip().lower() if isinstance(medium, str) else medium
    if key not in STORAGE_WH_PER_TB_HOUR:
        raise ValueError(f"storage medium must be 'ssd' or 'hdd', got {medium!r}")
    return STORAGE_WH_PER_TB_HOUR[key]


# --- public scalar API -----------------------------------------------------------------------


def compute_kwh(
    cpu_utilization: float,
    vcpu_hours: float,
    min_watts: float,
    max_watts: float,
    pue: float,
    replication_factor: float = 1,
) -> float:
    """Estimates compute energy with the CCF formula.

    ``(min_watts + u · (max_watts − min_watts)) · vCPU-hours / 1000 · PUE · replication_factor``

    Args:
        cpu_utilization: Average CPU utilisation as a fraction in [0, 1].
        vcpu_hours: vCPU-hours consumed (vCPUs × hours), >= 0.
        min_watts: Watts per vCPU at idle, >= 0.
        max_watts: Watts per vCPU at full load, >= ``min_watts``.
        pue: Power usage effectiveness, >= 1.
        replication_factor: Replication factor of the service, >= 1.

    Returns:
        Energy in kWh.

    Raises:
        ValueError: If an argument is out of range or not finite.
        TypeError: If an argument is not a number.
    """
    u = _fraction("cpu_utilization", cpu_utilization)
    hours = _non_negative("vcpu_hours", vcpu_hours)
    min_w = _non_negative("min_watts", min_watts)
    max_w = _non_negative("max_watts", max_watts)
    if max_w < min_w:
        raise ValueError(f"max_watts ({max_watts!r}) must be >= min_watts ({min_watts!r})")
    p = _at_least_one("pue", pue)
    rf = _at_least_one("replication_factor", replication_factor)
    return compute_kwh_math(u, hours, min_w, max_w, p, rf)


def memory_kwh(gb_hours: float, pue: float, replication_factor: float = 1) -> float:
    """Estimates memory energy: GB-hours × 0.000392 kWh/GB-h × PUE × replication factor.

    Args:
        gb_hours: Memory allocated × hours, >= 0.
        pue: Power usage effectiveness, >= 1.
        replication_factor: Replication factor of the service, >= 1.

    Returns:
        Energy in kWh.

    Raises:
        ValueError: If an argument is out of range or not finite.
        TypeError: If an argument is not a number.
    """
    gbh = _non_negative("gb_hours", gb_hours)
    p = _at_least_one("pue", pue)
    rf = _at_least_one("replication_factor", replication_factor)
    return memory_kwh_math(gbh, p, rf)


def storage_kwh(
    tb_hours: float,
    pue: float,
    medium: StorageMedium = "ssd",
    replication_factor: float = 1,
) -> float:
    """Estimates storage energy: TB-hours × (1.2 Wh SSD | 0.65 Wh HDD) / 1000 × PUE × RF.

    Args:
        tb_hours: Storage allocated (not used) × hours, in TB-hours, >= 0.
        pue: Power usage effectiveness, >= 1.
        medium: ``"ssd"`` or ``"hdd"``.
        replication_factor: Replication factor of the storage service, >= 1.

    Returns:
        Energy in kWh.

    Raises:
        ValueError: If an argument is out of range, not finite, or the medium is unknown.
        TypeError: If a numeric argument is not a number.
    """
    tbh = _non_negative("tb_hours", tb_hours)
    p = _at_least_one("pue", pue)
    coefficient = _medium(medium)
    rf = _at_least_one("replication_factor", replication_factor)
    return storage_kwh_math(tbh, coefficient, p, rf)


def network_kwh(gb: float, pue: float) -> float:
    """Estimates network energy: GB transferred × 0.001 kWh/GB × PUE.

    Args:
        gb: Gigabytes transferred between data centres, >= 0.
        pue: Power usage effectiveness, >= 1.

    Returns:
        Energy in kWh.

    Raises:
        ValueError: If an argument is out of range or not finite.
        TypeError: If an argument is not a number.
    """
    return network_kwh_math(_non_negative("gb", gb), _at_least_one("pue", pue))


def embodied_co2e(
    total_embodied: float,
    hours: float,
    vcpus: float,
    largest_vcpus: float,
    lifespan_hours: float = SERVER_LIFESPAN_HOURS,
) -> float:
    """Allocates a server's embodied emissions to a usage (CCF / GSF SCI ``M``).

    ``total_embodied × hours / lifespan_hours × vcpus / largest_vcpus``

    Args:
        total_embodied: Total embodied emissions of the host server (e.g. kgCO2e), >= 0.
        hours: Hours of usage, >= 0.
        vcpus: vCPUs used, in [0, largest_vcpus].
        largest_vcpus: vCPUs of the largest instance of the family (the whole host), > 0.
        lifespan_hours: Expected server lifespan, > 0 (CCF: 4 years = 35040 h).

    Returns:
        The allocated embodied emissions, in the unit of ``total_embodied``.

    Raises:
        ValueError: If an argument is out of range or not finite.
        TypeError: If an argument is not a number.
    """
    total = _non_negative("total_embodied", total_embodied)
    h = _non_negative("hours", hours)
    v = _non_negative("vcpus", vcpus)
    largest = _positive("largest_vcpus", largest_vcpus)
    if v > largest:
        raise ValueError(f"vcpus ({vcpus!r}) must be <= largest_vcpus ({largest_vcpus!r})")
    life = _positive("lifespan_hours", lifespan_hours)
    return embodied_math(total, h, v, largest, life)


def co2e(kwh: float, grid_intensity: float) -> float:
    """Converts energy to emissions: kWh × grid intensity.

    Args:
        kwh: Energy in kWh, >= 0.
        grid_intensity: Grid carbon intensity (e.g. gCO2e/kWh), >= 0.

    Returns:
        Emissions in the unit of ``grid_intensity × kWh``.

    Raises:
        ValueError: If an argument is out of range or not finite.
        TypeError: If an argument is not a number.
    """
    return co2e_math(_non_negative("kwh", kwh), _non_negative("grid_intensity", grid_intensity))
