"""Landing an external export (a drop folder) as an interval's batch: as sent, under the interval."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from opslake.config import Settings
from opslake.exceptions import SourceFileError
from opslake.orchestration.drop import land_drop
from opslake.orchestration.landing import batch_id

START = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)


def test_a_csv_and_a_prometheus_export_land_untyped_under_the_interval(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "workloads.csv").write_text("workload_id,cpu\nw-1,2\nw-2,not-a-number\n")
    prom = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "node_cpu_utilisation", "instance": "n-1"},
         "values": [[1795910400, "0.5"], [1795910700, "0.6"]]},
    ]}}  # fmt: skip
    (drop / "node_metrics.prom.json").write_text(json.dumps(prom))
    settings = Settings(home=tmp_path / "lake", out_dir=tmp_path / "out")

    result = land_drop(settings, START, END, drop.as_uri())

    assert result.rows_written == {"node_metrics": 2, "workloads": 2}
    name = f"part-{batch_id(START, END)}.parquet"
    landed = tmp_path / "lake" / "raw" / "telemetry" / "workloads" / "dt=2026-11-23" / "hour=00"
    table = pq.read_table(landed / name)
    assert table.column("cpu").to_pylist() == ["2", "not-a-number"]  # as sent: validation judges
    assert land_drop(settings, START, END, drop.as_uri()).rows_written == result.rows_written
    assert len(list((tmp_path / "lake" / "raw").rglob("*.parquet"))) == 2  # a re-run overwrites


def test_an_empty_drop_and_an_unreadable_file_name_the_folder_or_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "lake", out_dir=tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceFileError, match="no source file in the drop"):
        land_drop(settings, START, END, (tmp_path / "empty").as_uri())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "node_metrics.prom.json").write_text("{not json")
    with pytest.raises(SourceFileError, match=r"node_metrics\.prom\.json"):
        land_drop(settings, START, END, bad.as_uri())
