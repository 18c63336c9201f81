"""usage_to_emissions equals an independent per-row CCF reference; schemas; bad batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opslake.carbon import (
    COEFFICIENTS_VERSION,
    EMISSIONS_OUTPUT_SCHEMA,
    USAGE_INPUT_SCHEMA,
    emissions_output_schema,
    usage_to_emissions,
)
from opslake.carbon.coefficients import provider_coefficients

EMISSIONS = (
    "compute_kwh",
    "memory_kwh",
    "storage_kwh",
    "network_kwh",
    "total_kwh",
    "operational_gco2e",
    "embodied_gco2e",
    "total_gco2e",
)
STORAGE_WH_PER_TB_HOUR = {"ssd": 1.2, "hdd": 0.65}  # CCF Appendix I, written out again on purpose


def _reference_row(row: dict[str, object]) -> dict[str, float]:
    """The oracle: the CCF methodology for one row in plain float arithmetic.

    Written from the methodology, not from :mod:`opslake.carbon.vectorized`, so a slip in the
    production formulas (a wrong unit, a missing PUE, a swapped ratio) shows up as a difference.
    """
    c = provider_coefficients(str(row["provider"]))
    hours, vcpus = float(row["hours"]), float(row["vcpus"])  # type: ignore[arg-type]
    watts = c.min_watts + float(row["cpu_util"]) * (c.max_watts - c.min_watts)  # type: ignore[arg-type]
    compute = watts * vcpus * hours / 1000 * c.pue
    memory = float(row["memory_gb"]) * hours * 0.000392 * c.pue  # type: ignore[arg-type]
    medium = str(row.get("storage_medium") or "ssd")
    storage_rf = float(row.get("storage_replication_factor") or 1.0)  # type: ignore[arg-type]
    storage_tb = float(row.get("storage_tb") or 0.0)  # type: ignore[arg-type]
    storage = storage_tb * hours * STORAGE_WH_PER_TB_HOUR[medium] / 1000 * c.pue * storage_rf
    network = float(row.get("network_gb") or 0.0) * 0.001 * c.pue  # type: ignore[arg-type]
    total_kwh = compute + memory + storage + network
    operational = total_kwh * float(row["grid_gco2_per_kwh"])  # type: ignore[arg-type]
    host_share = vcpus / float(row["largest_vcpus"])  # type: ignore[arg-type]
    embodied_kg = float(row["embodied_kgco2e_total"]) * hours / 35040 * host_share  # type: ignore[arg-type]
    embodied = 1000 * embodied_kg
    values = (compute, memory, storage, network, total_kwh, operational, embodied)
    return dict(zip(EMISSIONS, (*values, operational + embodied), strict=True))


def _usage(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "provider": ["aws", "gcp", "azure"][:n],
            "region": ["us-east-1", "europe-west1", "westeurope"][:n],
            "ts": pd.date_range("2026-11-22", periods=n, freq="h", tz="UTC"),
            "vcpus": [4, 16, 8][:n],
            "cpu_util": [0.5, 0.25, 1.0][:n],
            "memory_gb": [16.0, 64.0, 64.0][:n],
            "hours": [1.0, 0.5, 2.0][:n],
            "grid_gco2_per_kwh": [379.069, 212.0, 328.4][:n],
            "embodied_kgco2e_total": [1610.79, 1888.46, 2010.54][:n],
            "largest_vcpus": [96, 128, 96][:n],
        }
    )


def test_one_aws_row_by_hand() -> None:
    batch = pa.RecordBatch.from_pandas(_usage(1), preserve_index=False)
    row = usage_to_emissions(batch).to_pylist()[0]
    # compute: (0.74 + 0.5·2.76) W × 4 vCPU-h = 8.48 Wh → 0.00848 kWh × 1.135 = 0.0096248 kWh
    assert row["compute_kwh"] == pytest.approx(0.0096248, rel=1e-12)
    # memory: 16 GB-h × 0.000392 = 0.006272 kWh × 1.135 = 0.00711872 kWh
    assert row["memory_kwh"] == pytest.approx(0.00711872, rel=1e-12)
    assert row["storage_kwh"] == 0.0 and row["network_kwh"] == 0.0
    # operational: (0.0096248 + 0.00711872) kWh × 379.069 g/kWh
    assert row["operational_gco2e"] == pytest.approx(0.01674352 * 379.069, rel=1e-12)
    # embodied: 1610.79 kg × 1/35040 × 4/96 × 1000 g/kg = 1.9154180936 g
    assert row["embodied_gco2e"] == pytest.approx(1.9154180936, rel=1e-9)
    assert row["coefficients_version"] == COEFFICIENTS_VERSION
    assert row["storage_medium"] == "ssd" and row["storage_replication_factor"] == 1.0


def test_schemas_and_pass_through_columns() -> None:
    frame = _usage().assign(node_id=["n1", "n2", "n3"], dt=pd.to_datetime(["2026-11-22"] * 3).date)
    batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
    out = usage_to_emissions(batch)
    assert out.schema == emissions_output_schema(batch.schema)
    assert out.schema.names[: len(USAGE_INPUT_SCHEMA)] == USAGE_INPUT_SCHEMA.names
    assert out.column("node_id").to_pylist() == ["n1", "n2", "n3"]
    assert out.schema.field("dt").type == pa.date32()
    assert EMISSIONS_OUTPUT_SCHEMA.names[-9:] == [*EMISSIONS, "coefficients_version"]
    # Ints, float32 and a naive timestamp are accepted and cast to the canonical types.
    cast = pa.RecordBatch.from_pandas(
        _usage().astype({"memory_gb": "float32"}).assign(ts=lambda f: f["ts"].dt.tz_localize(None)),
        preserve_index=False,
    )
    assert usage_to_emissions(cast).schema == EMISSIONS_OUTPUT_SCHEMA


def test_provider_names_are_normalised_and_storage_options_apply() -> None:
    frame = _usage().assign(
        provider=[" AWS", "Gcp", "azure"],
        storage_tb=[1.0, None, 2.0],
        storage_medium=["hdd", None, "ssd"],
        storage_replication_factor=[2.0, None, 3.0],
        network_gb=[10.0, 0.0, None],
    )
    out = usage_to_emissions(pa.RecordBatch.from_pandas(frame, preserve_index=False)).to_pandas()
    assert out["provider"].tolist() == ["aws", "gcp", "azure"]
    # aws: 1 TB HDD × 1 h × 0.65 Wh / 1000 × 1.135 × RF 2 = 0.0014755 kWh
    assert out.loc[0, "storage_kwh"] == pytest.approx(0.0014755, rel=1e-12)
    assert out.loc[1, "storage_kwh"] == 0.0
    # azure: 2 TB SSD × 2 h × 1.2 Wh / 1000 × 1.185 × RF 3 = 0.017064 kWh
    assert out.loc[2, "storage_kwh"] == pytest.approx(0.017064, rel=1e-12)
    # aws network: 10 GB × 0.001 × 1.135 = 0.01135 kWh
    assert out.loc[0, "network_kwh"] == pytest.approx(0.01135, rel=1e-12)


_row = st.fixed_dictionaries(
    {
        "provider": st.sampled_from(["aws", "gcp", "azure"]),
        "region": st.just("r"),
        "vcpus": st.floats(0, 96),
        "cpu_util": st.floats(0, 1),
        "memory_gb": st.floats(0, 4096),
        "storage_tb": st.floats(0, 100),
        "network_gb": st.floats(0, 1e4),
        "hours": st.floats(0, 24),
        "grid_gco2_per_kwh": st.floats(0, 1000),
        "embodied_kgco2e_total": st.floats(0, 20000),
        "largest_extra": st.floats(0, 128),
        "storage_medium": st.sampled_from(["ssd", "hdd"]),
        "storage_replication_factor": st.sampled_from([1.0, 2.0, 3.0, 6.0]),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, min_size=1, max_size=40))
def test_batch_equals_per_row_reference(rows: list[dict[str, object]]) -> None:
    frame = pd.DataFrame(rows)
    frame["largest_vcpus"] = frame["vcpus"] + frame.pop("largest_extra") + 1.0
    frame["ts"] = pd.Timestamp("2026-11-22", tz="UTC")
    out = usage_to_emissions(pa.RecordBatch.from_pandas(frame, preserve_index=False)).to_pandas()
    expected = pd.DataFrame([_reference_row(r) for r in frame.to_dict("records")])
    # atol only covers subnormal results (< 2.2e-308): there no evaluation order keeps 1e-9.
    for column in EMISSIONS:
        np.testing.assert_allclose(
            out[column], expected[column], rtol=1e-9, atol=1e-300, err_msg=column
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="cpu_util"), "missing required column(s): cpu_util"),
        (lambda f: f.assign(provider=["aws", "ibm", "gcp"]), "unknown provider(s) ['ibm']"),
        (lambda f: f.assign(cpu_util=[0.5, 1.7, 0.1]), "cpu_util must be a fraction in [0, 1]"),
        (
            lambda f: f.assign(hours=[1.0, -1.0, 1.0]),
            "hours must be >= 0: 1 invalid value(s), first at position 1",
        ),
        (lambda f: f.assign(vcpus=[4, 200, 8]), "vcpus must be <= largest_vcpus"),
        (lambda f: f.assign(memory_gb=[1.0, None, 2.0]), "column 'memory_gb' has 1 null value(s)"),
        (lambda f: f.assign(vcpus=["4", "x", "8"]), "column 'vcpus' cannot be read as double"),
        (
            lambda f: f.assign(storage_medium=["ssd", "tape", "hdd"]),
            "storage medium must be 'ssd' or 'hdd'",
        ),
    ],
)
def test_bad_batches_raise_clear_errors(change: object, message: str) -> None:
    frame = change(_usage())  # type: ignore[operator]
    batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        usage_to_emissions(batch)


def test_empty_batch() -> None:
    batch = pa.RecordBatch.from_pandas(_usage().iloc[:0], preserve_index=False)
    out = usage_to_emissions(batch)
    assert out.num_rows == 0 and out.schema == EMISSIONS_OUTPUT_SCHEMA
