import json
from pathlib import Path

import pandas as pd
import pytest

from opslake.exceptions import SourceFileError
from opslake.telemetry import load_prometheus_json, load_series_csv, parse_prometheus_range

PAYLOAD = {
    "status": "success",
    "data": {
        "resultType": "matrix",
        "result": [
            {
                "metric": {
                    "__name__": "node_cpu_utilisation",
                    "instance": "n1",
                    "region": "eu-west-1",
                    "provider": "aws",
                    "pool_id": "p1",
                },
                "values": [[1763251200, "0.5"], [1763251500, "0.25"]],
            },
            {
                "metric": {
                    "__name__": "node_memory_utilisation",
                    "instance": "n1",
                    "region": "eu-west-1",
                    "provider": "aws",
                    "pool_id": "p1",
                },
                "values": [[1763251200, "0.75"], [1763251500, "oops"]],
            },
            {
                "metric": {"__name__": "unrelated_metric", "instance": "n1"},
                "values": [[1763251200, "9"]],
            },
        ],
    },
}


def test_prometheus_matrix_becomes_one_row_per_node_and_timestamp() -> None:
    frame = parse_prometheus_range(PAYLOAD)
    assert len(frame) == 2
    first = frame.sort_values("ts").iloc[0]
    assert first["ts"] == pd.Timestamp("2025-11-16 00:00:00", tz="UTC")
    assert first["cpu_util"] == "0.5" and first["mem_util"] == "0.75"
    assert first["region"] == "eu-west-1"
    # Malformed values are kept as they came so validation can quarantine them with a reason.
    assert frame.sort_values("ts").iloc[1]["mem_util"] == "oops"
    assert "unrelated_metric" not in frame.columns


def test_prometheus_error_response_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"status": "error", "error": "timeout"}))
    with pytest.raises(SourceFileError, match=r"bad\.json"):
        load_prometheus_json(path)
    path.write_text("{not json")
    with pytest.raises(SourceFileError, match=r"bad\.json"):
        load_prometheus_json(path)


def test_series_csv_round_trip_and_missing_columns(tmp_path: Path) -> None:
    good = tmp_path / "s.csv"
    good.write_text("timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,2\n")
    frame = load_series_csv(good)
    assert list(frame.columns) == ["timestamp", "value"]
    assert frame["value"].tolist() == [1.5, 2.0]
    assert str(frame["timestamp"].dt.tz) == "UTC"
    bad = tmp_path / "b.csv"
    bad.write_text("time,v\n1,2\n")
    with pytest.raises(SourceFileError, match="missing columns"):
        load_series_csv(bad)
