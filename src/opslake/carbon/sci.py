"""Green Software Foundation Software Carbon Intensity (SCI).

``SCI = ((E × I) + M) / R`` with E the energy (kWh), I the grid intensity (e.g. gCO2e/kWh), M the
embodied emissions allocated to the software (same unit as E × I) and R the number of functional
units (requests, jobs, vCPU-hours, ...). Specification: https://sci.greensoftware.foundation/
(ISO/IEC 21031:2024).
"""

from __future__ import annotations

from opslake.carbon.formulas import _non_negative, _positive
from opslake.carbon.vectorized import ArrayLike, FloatArray
from opslake.carbon.vectorized import _non_negative as _non_negative_v
from opslake.carbon.vectorized import _positive as _positive_v


def sci(
    energy_kwh: float, grid_intensity: float, embodied: float, functional_units: float
) -> float:
    """Computes the SCI score per functional unit.

    Args:
        energy_kwh: Energy E consumed, kWh, >= 0.
        grid_intensity: Location-based grid intensity I (e.g. gCO2e/kWh), >= 0.
        embodied: Embodied emissions M allocated to the software, in the unit of E × I, >= 0.
        functional_units: Number of functional units R, > 0.

    Returns:
        ``((E × I) + M) / R``.

    Raises:
        ValueError: If an argument is out of range or not finite.
        TypeError: If an argument is not a number.
    """
    e = _non_negative("energy_kwh", energy_kwh)
    i = _non_negative("grid_intensity", grid_intensity)
    m = _non_negative("embodied", embodied)
    r = _positive("functional_units", functional_units)
    return (e * i + m) / r


def sci_v(
    energy_kwh: ArrayLike,
    grid_intensity: ArrayLike,
    embodied: ArrayLike,
    functional_units: ArrayLike,
) -> FloatArray:
    """Vectorised :func:`sci` over numpy arrays / pandas Series (broadcast together).

    Args:
        energy_kwh: Energy per element, >= 0.
        grid_intensity: Grid intensity per element, >= 0.
        embodied: Embodied emissions per element, >= 0.
        functional_units: Functional units per element, > 0.

    Returns:
        The SCI score per element.

    Raises:
        ValueError: If any element is out of range, NaN or infinite.
    """
    e = _non_negative_v("energy_kwh", energy_kwh)
    i = _non_negative_v("grid_intensity", grid_intensity)
    m = _non_negative_v("embodied", embodied)
    r = _positive_v("functional_units", functional_units)
    result: FloatArray = (e * i + m) / r
    return result
