"""Carbon accounting with the Cloud Carbon Footprint methodology, and carbon-aware advice.

Pure functions only (no I/O, no Spark): the Spark job wraps :func:`usage_to_emissions` with
``mapInArrow``. Coefficients are versioned in :mod:`opslake.carbon.coefficients`; the CCF formulas
live once, vectorised, in :mod:`opslake.carbon.vectorized`. The SCI score per vCPU-hour is an
aggregate of the job's output (``total_gco2e / vcpu_hours``), so it has no function here.
"""

from opslake.carbon.coefficients import COEFFICIENTS_VERSION
from opslake.carbon.recommendations import location_shift, time_shift, top_recommendations
from opslake.carbon.vectorized import (
    EMISSIONS_OUTPUT_SCHEMA,
    USAGE_INPUT_SCHEMA,
    co2e,
    compute_kwh,
    embodied_co2e,
    emissions_output_schema,
    memory_kwh,
    network_kwh,
    storage_kwh,
    usage_to_emissions,
)

__all__ = [
    "COEFFICIENTS_VERSION",
    "EMISSIONS_OUTPUT_SCHEMA",
    "USAGE_INPUT_SCHEMA",
    "co2e",
    "compute_kwh",
    "embodied_co2e",
    "emissions_output_schema",
    "location_shift",
    "memory_kwh",
    "network_kwh",
    "storage_kwh",
    "time_shift",
    "top_recommendations",
    "usage_to_emissions",
]
