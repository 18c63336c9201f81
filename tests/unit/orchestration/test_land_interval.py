"""Landing one data interval: only its rows, and a re-run rewrites the same files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq

from opslake.config import Settings
from opslake.orchestration.landing import land_interval

START = dt.datetime(2026, 11, 22, 10, 15, tzinfo=dt.UTC)
END = START + dt.timedelta(minutes=15)


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): pq.read_metadata(p).num_rows for p in root.rglob("*.parquet")}


def test_lands_the_interval_only_and_is_idempotent(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, out_dir=tmp_path / "out")
    first = land_interval(settings, START, END, nodes=20, workloads_per_day=96)
    raw = tmp_path / "raw"
    landed = _files(raw)
    # 20 nodes x 3 five-minute samples; hourly grid rows start on the hour, so none in 10:15-10:30.
    assert first.rows_written["node_metrics"] == 60
    assert first.rows_written["grid_intensity"] == 0
    assert first.rows_written["node_pools"] > 0
    metrics = pq.read_table(raw / "telemetry" / "node_metrics").column("ts").to_pylist()
    assert min(metrics) == START and max(metrics) == START + dt.timedelta(minutes=10)
    assert sum(n for f, n in landed.items() if "node_metrics" in f) == 60

    again = land_interval(settings, START, END, nodes=20, workloads_per_day=96)
    assert again.rows_written == first.rows_written
    assert _files(raw) == landed
