"""Which input columns each decision column is computed from, for the steps whose outputs people
question most (placement and carbon). Emitted as OpenLineage column-lineage facets, so Marquez can answer
"what does this number depend on". ``tests/unit/pipeline`` checks every name against the declared tables.
"""

from __future__ import annotations

from collections.abc import Mapping

ColumnLineage = Mapping[str, Mapping[str, tuple[str, ...]]]  # output table -> column -> inputs

_W = "telemetry.workloads."
_P = "telemetry.node_pools."
_G = "telemetry.grid_intensity."
_M = "telemetry.node_metrics."

_CHOICE = (
    *(_W + c for c in ("cpu", "memory_gb", "gpu", "duration_h", "latency_sla_ms",
                       "allowed_regions", "provider_preference")),
    *(_P + c for c in ("pool_id", "region", "vcpus", "memory_gb", "gpu", "price_per_hour",
                       "latency_ms")),
    _G + "gco2_per_kwh",
)  # fmt: skip
_PACKING = (_W + "cpu", _W + "memory_gb", _W + "gpu", _P + "vcpus", _P + "memory_gb", _P + "gpu")

PLACEMENT: ColumnLineage = {
    "analytics.placements": {
        "workload_id": (_W + "workload_id",),
        "pool_id": _CHOICE,
        "score": _CHOICE,
        "node_index": _PACKING,
        "placed": (*_PACKING, _P + "max_nodes"),
    },
    "analytics.placement_runs": {
        "nodes_used": (*_PACKING, _P + "max_nodes"),
        "lower_bound": _PACKING,
        "cpu_utilisation": _PACKING,
        "mem_utilisation": _PACKING,
        "cost_per_hour": (*_PACKING, _P + "price_per_hour"),
        "grid_gco2_per_kwh": (_G + "gco2_per_kwh",),
    },
}

_COMPUTE = (_M + "cpu_util", _P + "vcpus", _M + "provider")
_MEMORY = (_P + "memory_gb", _M + "provider")
_NETWORK = (_M + "net_mbps", _M + "provider")
_ENERGY = tuple(dict.fromkeys((*_COMPUTE, *_MEMORY, *_NETWORK)))
_OPERATIONAL = (*_ENERGY, _G + "gco2_per_kwh")
_EMBODIED = (_P + "instance_type", _P + "vcpus", _M + "provider")
_TOTAL = tuple(dict.fromkeys((*_OPERATIONAL, *_EMBODIED)))
_EMISSIONS = {
    "vcpu_hours": (_P + "vcpus",),
    "compute_kwh": _COMPUTE,
    "memory_kwh": _MEMORY,
    "network_kwh": _NETWORK,
    "total_kwh": _ENERGY,
    "operational_gco2e": _OPERATIONAL,
    "embodied_gco2e": _EMBODIED,
    "total_gco2e": _TOTAL,
}

CARBON: ColumnLineage = {
    "analytics.carbon_usage": _EMISSIONS,
    "analytics.carbon_daily": {**_EMISSIONS, "sci_gco2e_per_vcpu_hour": (*_TOTAL,)},
    "analytics.carbon_recommendations": {
        "suggested": (
            _G + "gco2_per_kwh", _W + "deferrable_hours", _W + "allowed_regions",
            _W + "duration_h", _P + "region", _P + "vcpus", _P + "max_nodes",
            "analytics.placements.pool_id",
        ),
        "saving_gco2e": (
            _G + "gco2_per_kwh", _W + "cpu", _W + "duration_h", _W + "memory_gb",
            "analytics.placements.pool_id",
        ),
    },
}  # fmt: skip
