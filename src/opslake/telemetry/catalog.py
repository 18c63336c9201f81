"""The real-world reference data the generator and validation share: providers, regions, instance types."""

from __future__ import annotations

from dataclasses import dataclass

# Real region names per provider, with a rough round-trip latency (ms) from the platform's users.
REGIONS: dict[str, dict[str, float]] = {
    "aws": {
        "us-east-1": 20.0,
        "us-west-2": 60.0,
        "eu-west-1": 85.0,
        "eu-central-1": 95.0,
        "ap-southeast-1": 220.0,
    },
    "gcp": {"us-central1": 35.0, "europe-west1": 90.0, "europe-north1": 110.0, "asia-east1": 190.0},
    "azure": {"eastus": 22.0, "westeurope": 88.0, "northeurope": 92.0, "southeastasia": 215.0},
}

KNOWN_REGIONS: frozenset[str] = frozenset(r for regions in REGIONS.values() for r in regions)
REGION_PROVIDER: dict[str, str] = {r: p for p, regions in REGIONS.items() for r in regions}


@dataclass(frozen=True)
class InstanceType:
    """An instance type with its shape and on-demand price (USD/h, approximate list prices)."""

    provider: str
    name: str
    vcpus: int
    memory_gb: float
    gpu: int
    price_per_hour: float


INSTANCE_TYPES: tuple[InstanceType, ...] = (
    InstanceType("aws", "m5.xlarge", 4, 16, 0, 0.192),
    InstanceType("aws", "c5.2xlarge", 8, 16, 0, 0.34),
    InstanceType("aws", "r5.2xlarge", 8, 64, 0, 0.504),
    InstanceType("aws", "p3.2xlarge", 8, 61, 1, 3.06),
    InstanceType("gcp", "n2-standard-4", 4, 16, 0, 0.194),
    InstanceType("gcp", "n2-standard-16", 16, 64, 0, 0.777),
    InstanceType("gcp", "c2-standard-8", 8, 32, 0, 0.417),
    InstanceType("azure", "D4s_v5", 4, 16, 0, 0.192),
    InstanceType("azure", "D16s_v5", 16, 64, 0, 0.768),
    InstanceType("azure", "E8s_v5", 8, 64, 0, 0.504),
)

# Annual mean grid intensity (gCO2e/kWh) per region, the centre of the generated hourly series; the
# same values as the CCF table in opslake.carbon.coefficients (Appendix V of the CCF methodology).
GRID_MEAN: dict[str, float] = {
    "us-east-1": 379.0,
    "us-west-2": 322.0,
    "eu-west-1": 278.6,
    "eu-central-1": 311.0,
    "ap-southeast-1": 408.0,
    "us-central1": 454.0,
    "europe-west1": 212.0,
    "europe-north1": 133.0,
    "asia-east1": 540.0,
    "eastus": 379.0,
    "westeurope": 328.4,
    "northeurope": 278.6,
    "southeastasia": 408.0,
}
