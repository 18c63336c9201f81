from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from opslake.lake.landing import list_landing, write_landing
from opslake.lake.storage import StorageOptions, open_uri
from opslake.telemetry import GeneratorConfig, generate

OPTIONS = StorageOptions()


def test_landing_is_partitioned_by_event_hour_and_idempotent(tmp_path: Path) -> None:
    raw = tmp_path.as_uri()
    metrics = generate(GeneratorConfig(days=1, nodes=2, workloads=5, seed=1)).node_metrics
    first = write_landing(metrics, "node_metrics", raw, OPTIONS, batch_id="b1")
    assert len(first) == 24
    assert first[0].uri.endswith("telemetry/node_metrics/dt=2026-11-16/hour=00/part-b1.parquet")
    again = write_landing(metrics, "node_metrics", raw, OPTIONS, batch_id="b1")
    listed = list_landing(raw, "node_metrics", OPTIONS)
    assert [f.uri for f in listed] == sorted(f.uri for f in again)  # same files, not twice as many
    rows = sum(pq.read_metadata(open_uri(f.uri, OPTIONS)[1]).num_rows for f in listed)
    assert rows == len(metrics)


def test_listing_filters_dates_and_ignores_foreign_files(tmp_path: Path) -> None:
    raw = tmp_path.as_uri()
    metrics = generate(GeneratorConfig(days=2, nodes=1, workloads=5, seed=1)).node_metrics
    write_landing(metrics, "node_metrics", raw, OPTIONS, batch_id="b")
    (tmp_path / "telemetry" / "node_metrics" / "README.txt").write_text("not data")
    only = list_landing(raw, "node_metrics", OPTIONS, dates=["2026-11-17"])
    assert {f.dt for f in only} == {"2026-11-17"} and len(only) == 24
    assert list_landing(raw, "workloads", OPTIONS) == []


def test_external_batches_land_in_their_arrival_hour(tmp_path: Path) -> None:
    frame = pd.DataFrame({"ts": ["not a time", "2099-01-01"], "node_id": ["a", "b"]})
    arrived = pd.Timestamp("2026-11-20 13:45", tz="UTC")
    landed = write_landing(
        frame, "node_metrics", tmp_path.as_uri(), OPTIONS, "ext", arrived_at=arrived
    )
    assert [(f.dt, f.hour) for f in landed] == [("2026-11-20", 13)]


def test_snapshot_sources_need_a_logical_date(tmp_path: Path) -> None:
    pools = generate(GeneratorConfig(days=1, nodes=1, workloads=1, seed=1)).node_pools
    with pytest.raises(ValueError, match="logical_date"):
        write_landing(pools, "node_pools", tmp_path.as_uri(), OPTIONS, "b")
    landed = write_landing(pools, "node_pools", tmp_path.as_uri(), OPTIONS, "b", "2026-11-22")
    assert [(f.dt, f.hour) for f in landed] == [("2026-11-22", 0)]


def test_s3_uris_split_into_bucket_path() -> None:
    fs, path = open_uri(
        "s3://raw/telemetry/x.parquet", StorageOptions(endpoint="http://127.0.0.1:9000")
    )
    assert path == "raw/telemetry/x.parquet"
    assert fs.type_name == "s3"
    with pytest.raises(ValueError, match="unsupported"):
        open_uri("ftp://x/y", OPTIONS)
