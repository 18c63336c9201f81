"""The versioned Cloud Carbon Footprint (CCF) coefficient table.

This is the only module-level state of :mod:`opslake.carbon`: one immutable, versioned table. Every
number carries the source it was taken from. Changing any value means bumping
:data:`COEFFICIENTS_VERSION`, so that every emissions row written to the lake can be traced back to
the coefficients that produced it.

Sources (all read from the public CCF repositories while building coefficient set ``ccf-2024.1``):

* ``CCF_METHODOLOGY`` - https://www.cloudcarbonfootprint.org/docs/methodology
  (GitHub: cloud-carbon-footprint/cloud-carbon-footprint, ``microsite/docs/Methodology.md``):
  Appendix I "Energy Coefficients" (min/max watts, storage, network, memory, PUE) and
  Appendix V "Grid emissions factors" (metric t CO2e/kWh; converted here to g by x 1e6).
* ``CCF_CONSTANTS`` - ``packages/{aws,gcp,azure}/src/domain/*FootprintEstimationConstants.ts`` in the
  same repository: replication factors per service and ``SERVER_EXPECTED_LIFESPAN = 35040``.
* ``CCF_EMBODIED`` - cloud-carbon-footprint/cloud-carbon-coefficients,
  ``output/coefficients-{aws,gcp,azure}-embodied.csv`` (column ``total``, kgCO2e per server, built
  on the Teads EC2 dataset: https://medium.com/teads-engineering/building-an-aws-ec2-carbon-emissions-dataset-3f0fd76c98ac).
  Instance shapes (vCPUs, memory, largest size in the family) are the providers' published specs.

Known discrepancies inside the sources, and the choice made:

* Azure PUE: the methodology's PUE section and the CCF code use 1.185 (Microsoft's statement);
  Appendix I of the same page lists 1.125. We use 1.185.
* GCP min/max watts: the methodology gives the *median* 0.71 / 4.26 W; one revision of the CCF code
  used 0.68 / 4.11. We use the published methodology values.
* Azure Dsv5 / Esv5 rows do not exist in the CCF embodied dataset. ``D4s_v5`` and ``D16s_v5`` use the
  CCF ``D2s - D64s v4`` row and ``E8s_v5`` the CCF ``E2 - E96 v5`` row as proxies (flagged in
  ``EmbodiedInstance.ccf_row``), with the v5 family's own largest size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import pandas as pd

COEFFICIENTS_VERSION = "ccf-2024.1"

CCF_METHODOLOGY = (
    "Cloud Carbon Footprint methodology, https://www.cloudcarbonfootprint.org/docs/methodology "
    "(github.com/cloud-carbon-footprint/cloud-carbon-footprint microsite/docs/Methodology.md)"
)
CCF_CONSTANTS = (
    "CCF source, github.com/cloud-carbon-footprint/cloud-carbon-footprint "
    "packages/{aws,gcp,azure}/src/domain/*FootprintEstimationConstants.ts"
)
CCF_EMBODIED = (
    "CCF embodied coefficients, github.com/cloud-carbon-footprint/cloud-carbon-coefficients "
    "output/coefficients-{provider}-embodied.csv (Teads EC2 dataset methodology)"
)
RETRIEVAL_NOTE = f"read from the CCF repositories for coefficient set {COEFFICIENTS_VERSION}"

SERVER_LIFESPAN_HOURS = 35040.0
"""CCF ``SERVER_EXPECTED_LIFESPAN``: 4 years x 8760 h."""

MEMORY_KWH_PER_GB_HOUR = 0.000392
"""CCF Appendix I: 0.392 W/GB (mean of Crucial 0.375 and Micron 0.4083 W/GB) = 0.000392 kWh/GB-h."""

SSD_WH_PER_TB_HOUR = 1.2
"""CCF Appendix I: 6 W per 5 TB disk = 1.2 Wh per TB-hour."""

HDD_WH_PER_TB_HOUR = 0.65
"""CCF Appendix I: 6.5 W per 10 TB disk = 0.65 Wh per TB-hour."""

NETWORK_KWH_PER_GB = 0.001
"""CCF Appendix I: 0.001 kWh per GB transferred between data centres."""


@dataclass(frozen=True, slots=True)
class ProviderCoefficients:
    """CCF energy coefficients of one cloud provider (used when the CPU family is unknown).

    Attributes:
        provider: ``aws``, ``gcp`` or ``azure``.
        min_watts: Watts per vCPU at 0 % CPU utilisation.
        max_watts: Watts per vCPU at 100 % CPU utilisation.
        pue: Power usage effectiveness of the provider's data centres.
        memory_kwh_per_gb_hour: Memory energy, kWh per GB-hour.
        ssd_wh_per_tb_hour: SSD storage energy, Wh per TB-hour.
        hdd_wh_per_tb_hour: HDD storage energy, Wh per TB-hour.
        network_kwh_per_gb: Network energy, kWh per GB.
        default_replication_factor: CCF ``REPLICATION_FACTORS.DEFAULT``.
        replication_factors: Per-service replication factors, as ``(service, factor)`` pairs.
        lifespan_hours: Server lifespan used to amortise embodied emissions.
        source: Where the numbers come from.
    """

    provider: str
    min_watts: float
    max_watts: float
    pue: float
    memory_kwh_per_gb_hour: float
    ssd_wh_per_tb_hour: float
    hdd_wh_per_tb_hour: float
    network_kwh_per_gb: float
    default_replication_factor: float
    replication_factors: tuple[tuple[str, float], ...]
    lifespan_hours: float
    source: str

    def replication_factor(self, service: str) -> float:
        """Returns the CCF replication factor of ``service``, or the default if unknown."""
        return dict(self.replication_factors).get(service.upper(), self.default_replication_factor)


@dataclass(frozen=True, slots=True)
class EmbodiedInstance:
    """Embodied (manufacturing) emissions of the server hosting an instance type.

    Attributes:
        provider: ``aws``, ``gcp`` or ``azure``.
        instance_type: The provider's instance/machine type name.
        vcpus: vCPUs of this instance type.
        memory_gb: Memory of this instance type, GB.
        largest_vcpus: vCPUs of the largest size in the family (stands for the whole host).
        total_kgco2e: Total embodied emissions of the host server, kgCO2e (CCF ``total``).
        ccf_row: The CCF dataset row the total was read from (differs when a proxy is used).
        source: Where the numbers come from.
    """

    provider: str
    instance_type: str
    vcpus: int
    memory_gb: float
    largest_vcpus: int
    total_kgco2e: float
    ccf_row: str
    source: str


@dataclass(frozen=True, slots=True)
class RegionIntensity:
    """Annual mean grid carbon intensity of a cloud region.

    Attributes:
        provider: ``aws``, ``gcp`` or ``azure``.
        region: The provider's region code.
        gco2_per_kwh: Grams CO2e per kWh (CCF metric t/kWh x 1e6).
        source: Where the number comes from.
    """

    provider: str
    region: str
    gco2_per_kwh: float
    source: str


@dataclass(frozen=True, slots=True)
class CoefficientTable:
    """The complete, versioned coefficient set."""

    version: str
    providers: tuple[ProviderCoefficients, ...]
    instances: tuple[EmbodiedInstance, ...]
    regions: tuple[RegionIntensity, ...]


def _provider(
    provider: str,
    min_watts: float,
    max_watts: float,
    pue: float,
    replication_factors: tuple[tuple[str, float], ...],
    note: str,
) -> ProviderCoefficients:
    return ProviderCoefficients(
        provider=provider,
        min_watts=min_watts,
        max_watts=max_watts,
        pue=pue,
        memory_kwh_per_gb_hour=MEMORY_KWH_PER_GB_HOUR,
        ssd_wh_per_tb_hour=SSD_WH_PER_TB_HOUR,
        hdd_wh_per_tb_hour=HDD_WH_PER_TB_HOUR,
        network_kwh_per_gb=NETWORK_KWH_PER_GB,
        default_replication_factor=1.0,
        replication_factors=replication_factors,
        lifespan_hours=SERVER_LIFESPAN_HOURS,
        source=f"{CCF_METHODOLOGY}, Appendix I; {note}; replication factors and lifespan: "
        f"{CCF_CONSTANTS}; {RETRIEVAL_NOTE}",
    )


_PROVIDERS: tuple[ProviderCoefficients, ...] = (
    _provider(
        "aws",
        0.74,
        3.5,
        1.135,
        (
            ("S3", 3.0),
            ("S3_ONE_ZONE_REDUCED_REDUNDANCY", 2.0),
            ("EC2_EBS_VOLUME", 2.0),
            ("EC2_EBS_SNAPSHOT", 3.0),
            ("EFS", 3.0),
            ("EFS_ONE_ZONE", 2.0),
            ("RDS_BACKUP", 3.0),
            ("RDS_AURORA", 6.0),
            ("RDS_MULTI_AZ", 2.0),
            ("DOCUMENT_DB_BACKUP", 3.0),
            ("DOCUMENT_DB_STORAGE", 2.0),
            ("DYNAMO_DB", 2.0),
            ("ECR_STORAGE", 3.0),
            ("DOCUMENT_ELASTICACHE_BACKUP", 3.0),
            ("SIMPLE_DB", 2.0),
        ),
        "average min/max watts 0.74/3.5, PUE 1.135 (conservative CCF estimate)",
    ),
    _provider(
        "gcp",
        0.71,
        4.26,
        1.1,
        (
            ("CLOUD_STORAGE_SINGLE_REGION", 2.0),
            ("CLOUD_STORAGE_DUAL_REGION", 4.0),
            ("CLOUD_STORAGE_MULTI_REGION", 6.0),
            ("COMPUTE_ENGINE_REGIONAL_DISKS", 2.0),
            ("CLOUD_FILESTORE", 2.0),
            ("CLOUD_SQL_HIGH_AVAILABILITY", 2.0),
            ("CLOUD_MEMORY_STORE_REDIS", 2.0),
            ("CLOUD_SPANNER_SINGLE_REGION", 4.0),
            ("CLOUD_SPANNER_MULTI_REGION", 6.0),
            ("KUBERNETES_ENGINE", 3.0),
        ),
        "median min/max watts 0.71/4.26, PUE 1.1 (Google published fleet PUE)",
    ),
    _provider(
        "azure",
        0.78,
        3.76,
        1.185,
        (
            ("STORAGE_LRS", 3.0),
            ("STORAGE_ZRS", 3.0),
            ("STORAGE_GRS", 6.0),
            ("STORAGE_GZRS", 6.0),
            ("STORAGE_DISKS", 3.0),
            ("DATABASE_MYSQL", 3.0),
            ("COSMOS_DB", 4.0),
            ("SQL_DB", 3.0),
            ("REDIS_CACHE", 2.0),
        ),
        "average min/max watts 0.78/3.76, PUE 1.185 (Microsoft statement quoted by CCF; "
        "Appendix I's 1.125 contradicts the PUE section and the CCF code)",
    ),
)


def _inst(
    provider: str,
    instance_type: str,
    vcpus: int,
    memory_gb: float,
    largest_vcpus: int,
    total_kgco2e: float,
    ccf_row: str,
    note: str = "",
) -> EmbodiedInstance:
    source = CCF_EMBODIED.replace("{provider}", provider) + f", row {ccf_row!r}; {RETRIEVAL_NOTE}"
    if note:
        source = f"{source}; {note}"
    return EmbodiedInstance(
        provider, instance_type, vcpus, memory_gb, largest_vcpus, total_kgco2e, ccf_row, source
    )


_INSTANCES: tuple[EmbodiedInstance, ...] = (
    # AWS: largest size of m5/c5/r5 is 24xlarge/metal = 96 vCPUs, of p3 is p3.16xlarge = 64 vCPUs.
    _inst("aws", "m5.xlarge", 4, 16, 96, 1610.79, "m5.xlarge"),
    _inst("aws", "m5.4xlarge", 16, 64, 96, 1610.79, "m5.4xlarge"),
    _inst("aws", "c5.2xlarge", 8, 16, 96, 1344.29, "c5.2xlarge"),
    _inst("aws", "r5.2xlarge", 8, 64, 96, 2143.79, "r5.2xlarge"),
    _inst("aws", "p3.2xlarge", 8, 61, 64, 3543.79, "p3.2xlarge"),
    # GCP: n2 goes up to 128 vCPUs, c2 to c2-standard-60, a2 to 96 vCPUs (a2-highgpu-8g).
    _inst("gcp", "n2-standard-4", 4, 16, 128, 1888.46, "n2-standard-4"),
    _inst("gcp", "n2-standard-16", 16, 64, 128, 1888.46, "n2-standard-16"),
    _inst("gcp", "c2-standard-8", 8, 32, 60, 1510.92, "c2-standard-8"),
    _inst("gcp", "n2-highmem-8", 8, 64, 128, 2377.04, "n2-highmem-8"),
    _inst("gcp", "a2-highgpu-1g", 12, 85, 96, 5465.5, "a2-highgpu-1g"),
    # Azure: Dsv5/Esv5 go up to 96 vCPUs, Fsv2 to F72s v2, NCv3 to NC24s v3.
    _inst(
        "azure", "D4s_v5", 4, 16, 96, 1433.12, "D4s v4",
        "proxy: Dsv5 is not in the CCF dataset, Dsv4 row used",
    ),
    _inst(
        "azure", "D16s_v5", 16, 64, 96, 1433.12, "D16s v4",
        "proxy: Dsv5 is not in the CCF dataset, Dsv4 row used",
    ),
    _inst("azure", "F8s_v2", 8, 16, 72, 1799.62, "F8s v2"),
    _inst(
        "azure", "E8s_v5", 8, 64, 96, 2010.54, "E8 v5",
        "proxy: Esv5 is not in the CCF dataset, Ev5 row used",
    ),
    _inst("azure", "NC6s_v3", 6, 112, 24, 2349.62, "NC6s v3"),
)  # fmt: skip

_EPA = "EPA eGRID NERC region factor"
_EEA = "EEA CO2 emission intensity"
_CFP = "carbonfootprint.com 2021 electricity factors"
_GOOGLE = (
    "Google published grid intensity (without CFE%), cloud.google.com/sustainability/region-carbon"
)


def _region(provider: str, region: str, t_per_kwh: float, origin: str) -> RegionIntensity:
    return RegionIntensity(
        provider,
        region,
        round(t_per_kwh * 1e6, 6),
        f"{CCF_METHODOLOGY}, Appendix V ({origin}: {t_per_kwh} t CO2e/kWh); {RETRIEVAL_NOTE}",
    )


_REGIONS: tuple[RegionIntensity, ...] = (
    _region("aws", "us-east-1", 0.000379069, f"{_EPA} SERC"),
    _region("aws", "us-west-2", 0.000322167, f"{_EPA} WECC"),
    _region("aws", "eu-west-1", 0.0002786, _EEA),
    _region("aws", "eu-central-1", 0.000311, _EEA),
    _region("aws", "ap-southeast-1", 0.000408, _CFP),
    _region("gcp", "us-central1", 0.000454, _GOOGLE),
    _region("gcp", "europe-west1", 0.000212, _GOOGLE),
    _region("gcp", "europe-north1", 0.000133, _GOOGLE),
    _region("gcp", "asia-east1", 0.00054, _GOOGLE),
    _region("azure", "eastus", 0.000379069, f"{_EPA} SERC"),
    _region("azure", "westeurope", 0.0003284, _EEA),
    _region("azure", "northeurope", 0.0002786, _EEA),
    _region("azure", "southeastasia", 0.000408, _CFP),
)

COEFFICIENTS = CoefficientTable(
    version=COEFFICIENTS_VERSION,
    providers=_PROVIDERS,
    instances=_INSTANCES,
    regions=_REGIONS,
)
"""The one immutable coefficient table of this package."""

PROVIDERS: tuple[str, ...] = tuple(p.provider for p in _PROVIDERS)


def provider_coefficients(provider: str) -> ProviderCoefficients:
    """Returns the coefficients of one provider.

    Args:
        provider: ``aws``, ``gcp`` or ``azure`` (case-insensitive).

    Returns:
        The provider's :class:`ProviderCoefficients`.

    Raises:
        ValueError: If the provider is unknown.
    """
    key = provider.strip().lower()
    for coefficients in COEFFICIENTS.providers:
        if coefficients.provider == key:
            return coefficients
    raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")


def embodied_instance(provider: str, instance_type: str) -> EmbodiedInstance:
    """Returns the embodied-emissions entry of an instance type.

    Args:
        provider: ``aws``, ``gcp`` or ``azure`` (case-insensitive).
        instance_type: Instance type name as listed in the table (e.g. ``m5.xlarge``).

    Returns:
        The matching :class:`EmbodiedInstance`.

    Raises:
        ValueError: If the instance type is not in the table.
    """
    key = provider.strip().lower()
    for instance in COEFFICIENTS.instances:
        if instance.provider == key and instance.instance_type == instance_type:
            return instance
    raise ValueError(f"no embodied coefficients for {provider}/{instance_type}")


def region_intensity(provider: str, region: str) -> RegionIntensity:
    """Returns the annual mean grid intensity of a region.

    Args:
        provider: ``aws``, ``gcp`` or ``azure`` (case-insensitive).
        region: Region code (e.g. ``eu-west-1``).

    Returns:
        The matching :class:`RegionIntensity`.

    Raises:
        ValueError: If the region is not in the table.
    """
    key = provider.strip().lower()
    for entry in COEFFICIENTS.regions:
        if entry.provider == key and entry.region == region:
            return entry
    raise ValueError(f"no grid intensity for {provider}/{region}")


def coefficients_table() -> pd.DataFrame:
    """Returns the provider coefficients as a DataFrame, one row per provider.

    Returns:
        Columns ``version`` and every :class:`ProviderCoefficients` field except the
        per-service ``replication_factors`` (kept in the dataclass).
    """
    names = [f.name for f in fields(ProviderCoefficients) if f.name != "replication_factors"]
    rows = [
        {"version": COEFFICIENTS_VERSION, **{n: getattr(p, n) for n in names}}
        for p in COEFFICIENTS.providers
    ]
    return pd.DataFrame(rows, columns=["version", *names])


def region_intensity_table() -> pd.DataFrame:
    """Returns the region grid intensities as a DataFrame.

    Returns:
        Columns ``provider, region, gco2_per_kwh, source, version``.
    """
    rows = [
        (r.provider, r.region, r.gco2_per_kwh, r.source, COEFFICIENTS_VERSION)
        for r in COEFFICIENTS.regions
    ]
    return pd.DataFrame(rows, columns=["provider", "region", "gco2_per_kwh", "source", "version"])


def embodied_table() -> pd.DataFrame:
    """Returns the embodied-emissions entries as a DataFrame, one row per instance type.

    Returns:
        Columns ``provider, instance_type, vcpus, memory_gb, largest_vcpus,
        embodied_kgco2e_total, ccf_row, source, version`` (``embodied_kgco2e_total`` is
        :attr:`EmbodiedInstance.total_kgco2e`, named as in the usage input schema).
    """
    rows = [
        (
            i.provider,
            i.instance_type,
            i.vcpus,
            i.memory_gb,
            i.largest_vcpus,
            i.total_kgco2e,
            i.ccf_row,
            i.source,
            COEFFICIENTS_VERSION,
        )
        for i in COEFFICIENTS.instances
    ]
    columns = [
        "provider",
        "instance_type",
        "vcpus",
        "memory_gb",
        "largest_vcpus",
        "embodied_kgco2e_total",
        "ccf_row",
        "source",
        "version",
    ]
    return pd.DataFrame(rows, columns=columns)
