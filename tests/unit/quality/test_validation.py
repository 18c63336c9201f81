import json

import pandas as pd
import pytest

from opslake.exceptions import SourceFileError
from opslake.quality import validate
from opslake.telemetry import GeneratorConfig, generate
from opslake.telemetry.generator import malformed_node_metrics

NOW = pd.Timestamp("2026-11-25", tz="UTC")


def test_malformed_batch_is_quarantined_with_one_reason_per_defect() -> None:
    raw = malformed_node_metrics(GeneratorConfig())
    result = validate(raw, "node_metrics", "s3://raw/x.parquet", NOW)
    assert len(result.accepted) + len(result.rejects) == len(raw)
    assert result.accepted["node_id"].tolist() == ["node-ext-1"]
    reasons = dict(zip(result.rejects["row_number"], result.rejects["reason"], strict=True))
    assert reasons == {
        1: "null key: node_id",
        2: "cpu_util out of range [0, 1]: 1.7",
        3: "unknown region: mars-north-1",
        4: "future timestamp: ts=2099-01-01 00:00:00+00:00",
        5: "duplicate key node_id,ts",
        6: "wrong type: mem_util=n/a",
    }
    # The raw row is kept verbatim so nothing is lost.
    assert json.loads(result.rejects["raw"].iloc[3])["ts"] == "2099-01-01T00:00:00+00:00"
    assert (result.rejects["source_file"] == "s3://raw/x.parquet").all()


def test_accepted_rows_are_typed() -> None:
    raw = malformed_node_metrics(GeneratorConfig()).head(1)
    accepted = validate(raw, "node_metrics", "f", NOW).accepted
    assert accepted["cpu_util"].dtype == float
    assert isinstance(accepted["ts"].dtype, pd.DatetimeTZDtype)


def test_clean_generated_data_passes_untouched() -> None:
    tel = generate(GeneratorConfig(days=1, nodes=5, workloads=50, seed=2))
    for source in ("node_metrics", "workloads", "node_pools", "grid_intensity", "anomaly_labels"):
        frame = getattr(tel, source)
        result = validate(frame, source, "f", NOW)
        assert result.rejects.empty, result.rejects["reason"].head().tolist()
        assert len(result.accepted) == len(frame)


def test_workload_rules() -> None:
    tel = generate(GeneratorConfig(days=1, nodes=1, workloads=4, seed=2))
    raw = tel.workloads.copy()
    raw.loc[0, "cpu"] = 0.0
    raw.loc[1, "allowed_regions"] = "eu-west-1,atlantis-1"
    raw.loc[2, "gpu"] = 0.5
    result = validate(raw, "workloads", "f", NOW)
    assert sorted(result.rejects["reason"]) == [
        "cpu must be positive",
        "unknown region in allowed_regions",
        "wrong type: gpu=0.5",
    ]


def test_missing_required_columns_fail_naming_the_file() -> None:
    raw = pd.DataFrame({"node_id": ["a"], "cpu_util": [0.1]})
    with pytest.raises(SourceFileError, match=r"landing/bad\.parquet.*missing columns \['ts'\]"):
        validate(raw, "node_metrics", "landing/bad.parquet", NOW)
