"""Carbon accounting with the Cloud Carbon Footprint methodology, SCI, and carbon-aware advice.

Pure functions only (no I/O, no Spark): the Spark job wraps :func:`usage_to_emissions` with
``mapInArrow``. Coefficients are versioned in :mod:`opslake.carbon.coefficients`.
"""

from opslake.carbon.coefficients import COEFFICIENTS_VERSION
from opslake.carbon.formulas import (
    co2e,
    compute_kwh,
    embodied_co2e,
    memory_kwh,
    network_kwh,
    storage_kwh,
)
from opslake.carbon.recommendations import location_shift, time_shift, top_recommendations
from opslake.carbon.sci import sci, sci_v
from opslake.carbon.vectorized import (
    EMISSIONS_OUTPUT_SCHEMA,
    USAGE_INPUT_SCHEMA,
    co2e_v,
    compute_kwh_v,
    embodied_co2e_v,
    emissions_output_schema,
    memory_kwh_v,
    network_kwh_v,
    storage_kwh_v,
    usage_to_emissions,
)

__all__ = [
    "COEFFICIENTS_VERSION",
    "EMISSIONS_OUTPUT_SCHEMA",
    "USAGE_INPUT_SCHEMA",
    "co2e",
    "co2e_v",
    "compute_kwh",
    "compute_kwh_v",
    "embodied_co2e",
    "embodied_co2e_v",
    "emissions_output_schema",
    "location_shift",
    "memory_kwh",
    "memory_kwh_v",
    "network_kwh",
    "network_kwh_v",
    "sci",
    "sci_v",
    "storage_kwh",
    "storage_kwh_v",
    "time_shift",
    "top_recommendations",
    "usage_to_emissions",
]
