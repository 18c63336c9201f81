"""CCF formulas on hand-checked values, validation, and the coefficient table."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from opslake.carbon import (
    COEFFICIENTS_VERSION,
    co2e,
    compute_kwh,
    embodied_co2e,
    memory_kwh,
    network_kwh,
    storage_kwh,
)
from opslake.carbon.coefficients import (
    COEFFICIENTS,
    coefficients_table,
    embodied_instance,
    embodied_table,
    provider_coefficients,
    region_intensity,
    region_intensity_table,
)
from opslake.carbon.vectorized import normalise_providers, row_coefficients

AWS = provider_coefficients("aws")


def test_compute_two_vcpu_hours_at_half_load_on_aws() -> None:
    # (0.74 + 0.5·(3.5 − 0.74)) = 2.12 W per vCPU; × 2 vCPU-h = 4.24 Wh = 0.00424 kWh;
    # × PUE 1.135 = 0.0048124 kWh.
    kwh = compute_kwh(0.5, 2, AWS.min_watts, AWS.max_watts, AWS.pue)
    assert kwh == pytest.approx(0.0048124, rel=1e-12)


def test_compute_idle_full_load_and_replication() -> None:
    # Idle: 0.74 W × 10 vCPU-h = 7.4 Wh → 0.0074 kWh (PUE 1). Full load: 3.5 × 10 = 35 Wh.
    assert compute_kwh(0.0, 10, 0.74, 3.5, 1.0) == pytest.approx(0.0074, rel=1e-12)
    assert compute_kwh(1.0, 10, 0.74, 3.5, 1.0) == pytest.approx(0.035, rel=1e-12)
    # Replication factor 3 triples the energy.
    assert compute_kwh(1.0, 10, 0.74, 3.5, 1.0, 3) == pytest.approx(0.105, rel=1e-12)


def test_memory_ten_gb_hours() -> None:
    # 10 GB-h × 0.000392 kWh/GB-h = 0.00392 kWh; × PUE 1.1 (GCP) = 0.004312 kWh.
    assert memory_kwh(10, 1.1) == pytest.approx(0.004312, rel=1e-12)
    assert memory_kwh(10, 1.1, 2) == pytest.approx(0.008624, rel=1e-12)


def test_storage_one_tb_for_a_day() -> None:
    # SSD: 1 TB × 24 h × 1.2 Wh/TB-h = 28.8 Wh = 0.0288 kWh; × PUE 1.135 = 0.032688 kWh.
    assert storage_kwh(24, 1.135) == pytest.approx(0.032688, rel=1e-12)
    # HDD: 24 TB-h × 0.65 Wh = 15.6 Wh = 0.0156 kWh; × 1.135 = 0.017706; EBS RF 2 → 0.035412.
    assert storage_kwh(24, 1.135, "hdd") == pytest.approx(0.017706, rel=1e-12)
    assert storage_kwh(24, 1.135, "hdd", 2) == pytest.approx(0.035412, rel=1e-12)


def test_network_and_co2e() -> None:
    # 100 GB × 0.001 kWh/GB = 0.1 kWh; × PUE 1.185 (Azure) = 0.1185 kWh.
    assert network_kwh(100, 1.185) == pytest.approx(0.1185, rel=1e-12)
    # 0.0048124 kWh in us-east-1 at 379.069 g/kWh = 1.82423... g.
    assert co2e(0.0048124, 379.069) == pytest.approx(0.0048124 * 379.069, rel=1e-15)


def test_embodied_for_an_m5_xlarge_hour() -> None:
    # m5.xlarge: host 1610.79 kgCO2e, 4 of 96 vCPUs, 1 h of a 35040 h life:
    # 1610.79 × 1/35040 × 4/96 = 0.00191540... kg.
    m5 = embodied_instance("aws", "m5.xlarge")
    kg = embodied_co2e(m5.total_kgco2e, 1, m5.vcpus, m5.largest_vcpus)
    assert kg == pytest.approx(1610.79 / 35040 * 4 / 96, rel=1e-12)
    assert kg == pytest.approx(0.0019154180936, rel=1e-9)
    # The whole host for its whole life is the whole total.
    assert embodied_co2e(1610.79, 35040, 96, 96) == pytest.approx(1610.79, rel=1e-12)


def test_formulas_broadcast_arrays_against_scalars() -> None:
    # One call per column: 1 and 2 vCPU-h at idle/full load on AWS coefficients, PUE 1.
    kwh = compute_kwh(np.array([0.0, 1.0]), np.array([1.0, 2.0]), 0.74, 3.5, 1.0)
    np.testing.assert_array_equal(kwh, [0.74 / 1000, 7.0 / 1000])
    assert kwh.dtype == np.float64
    np.testing.assert_array_equal(co2e([1.0, 2.0], 300.0), [300.0, 600.0])


def test_row_coefficients_normalise_names_and_reject_unknown_providers() -> None:
    rows = row_coefficients(normalise_providers(np.array([" AWS", "gcp", "Azure"], dtype=object)))
    np.testing.assert_array_equal(rows.pue, [1.135, 1.1, 1.185])
    np.testing.assert_array_equal(rows.min_watts, [0.74, 0.71, 0.78])
    with pytest.raises(ValueError, match=re.escape("unknown provider(s) ['<null>', 'ibm']")):
        row_coefficients(normalise_providers(pd.Series(["aws", None, "IBM"])))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: compute_kwh(1.2, 1, 0.74, 3.5, 1.1), "cpu_utilization must be a fraction"),
        (lambda: compute_kwh(-0.1, 1, 0.74, 3.5, 1.1), "cpu_utilization must be a fraction"),
        (lambda: compute_kwh(0.5, -1, 0.74, 3.5, 1.1), "vcpu_hours must be >= 0"),
        (lambda: compute_kwh(0.5, 1, 3.5, 0.74, 1.1), "max_watts"),
        (lambda: compute_kwh(0.5, 1, 0.74, 3.5, 0.9), "pue must be >= 1"),
        (lambda: compute_kwh(0.5, 1, 0.74, 3.5, 1.1, 0), "replication_factor must be >= 1"),
        (lambda: compute_kwh(np.nan, 1, 0.74, 3.5, 1.1), "cpu_utilization must be finite"),
        (lambda: memory_kwh(-5, 1.1), "gb_hours must be >= 0"),
        (lambda: storage_kwh(1, 1.1, "tape"), "storage medium must be 'ssd' or 'hdd'"),
        (lambda: network_kwh(np.inf, 1.1), "gb must be finite"),
        (lambda: embodied_co2e(100, -1, 1, 2), "hours must be >= 0"),
        (lambda: embodied_co2e(100, 1, 4, 0), "largest_vcpus must be > 0"),
        (lambda: embodied_co2e(100, 1, 8, 4), "vcpus"),
        (lambda: co2e(1, -300), "grid_intensity must be >= 0"),
        (lambda: compute_kwh([0.5, 1.5], 1, 0.74, 3.5, 1.1), "first at position 1: 1.5"),
        (lambda: storage_kwh([1, 1], 1.1, ["ssd", "nvme"]), "first at position 1"),
        (lambda: embodied_co2e([1.0, np.nan], 1, 1, 2), "total_embodied must be finite"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        call()  # type: ignore[operator]


def test_non_numbers_are_type_errors() -> None:
    with pytest.raises(TypeError, match="vcpu_hours must be numeric"):
        compute_kwh(0.5, "two", 0.74, 3.5, 1.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pue must be numeric"):
        memory_kwh(1, [1.1, "x"])  # type: ignore[list-item]


def test_coefficient_table_matches_ccf_appendix() -> None:
    table = coefficients_table().set_index("provider")
    assert (table["version"] == COEFFICIENTS_VERSION).all()
    assert table.loc["aws", ["min_watts", "max_watts", "pue"]].tolist() == [0.74, 3.5, 1.135]
    assert table.loc["gcp", ["min_watts", "max_watts", "pue"]].tolist() == [0.71, 4.26, 1.1]
    assert table.loc["azure", ["min_watts", "max_watts", "pue"]].tolist() == [0.78, 3.76, 1.185]
    assert (table["memory_kwh_per_gb_hour"] == 0.000392).all()
    assert (table["ssd_wh_per_tb_hour"] == 1.2).all() and (
        table["hdd_wh_per_tb_hour"] == 0.65
    ).all()
    assert (table["network_kwh_per_gb"] == 0.001).all() and (table["lifespan_hours"] == 35040).all()
    assert table["source"].str.contains("cloudcarbonfootprint.org/docs/methodology").all()
    assert AWS.replication_factor("ec2_ebs_volume") == 2.0
    assert provider_coefficients("Azure").replication_factor("unknown") == 1.0


def test_region_and_embodied_tables_are_complete_and_sourced() -> None:
    regions = region_intensity_table()
    assert len(regions) == 13 and not regions.duplicated(["provider", "region"]).any()
    assert region_intensity("aws", "us-east-1").gco2_per_kwh == pytest.approx(379.069)
    assert region_intensity("gcp", "europe-north1").gco2_per_kwh == pytest.approx(133.0)
    assert regions["source"].str.contains("Appendix V").all()
    instances = embodied_table()
    assert len(instances) == len(COEFFICIENTS.instances) == 15
    assert (instances["vcpus"] <= instances["largest_vcpus"]).all()
    assert set(instances["provider"]) == {"aws", "gcp", "azure"}
    assert instances["source"].str.contains("cloud-carbon-coefficients").all()
    with pytest.raises(ValueError, match="unknown provider 'ibm'"):
        provider_coefficients("ibm")
    with pytest.raises(ValueError, match="no embodied coefficients"):
        embodied_instance("aws", "x9.huge")


def test_coefficient_table_is_immutable() -> None:
    with pytest.raises(AttributeError):
        AWS.pue = 1.0  # type: ignore[misc]
