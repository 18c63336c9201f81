"""The gate before ingest on landed batches: every source's batch is judged; a bad batch (malformed rows
beyond the tolerance, a wrong-schema file, half its keys null, a bad snapshot, an unreadable file) fails
naming the table, the expectation and the counts, and its files leave the landing zone, while everything
accepted earlier stays byte for byte; a good batch afterwards passes."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opslake.config import Settings
from opslake.orchestration.landing import batch_files, batch_id, gate_interval, land_interval
from opslake.quality.gate import QualityGateError
from opslake.telemetry.schemas import SOURCES

pytestmark = pytest.mark.slow  # great-expectations: ~1-3 s per gate

START = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=15)
NODES = 20  # x 3 samples = 60 node_metrics rows per interval


def _interval(k: int) -> tuple[dt.datetime, dt.datetime]:
    return START + k * STEP, START + (k + 1) * STEP


def _land(settings: Settings, k: int) -> dict[str, list[Path]]:
    """Land interval ``k``; returns its batch's files per source."""
    start, end = _interval(k)
    land_interval(settings, start, end, nodes=NODES, workloads_per_day=96)
    return {
        source: [Path(f.uri.removeprefix("file://")) for f in files]
        for source, files in batch_files(settings, start, end).items()
    }


def _edit(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    frame = change(pq.read_table(path).to_pandas())
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _digests(settings: Settings) -> dict[str, str]:
    """Every file of the landing zone and its content hash."""
    root = settings.home / "raw" / "telemetry"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def _quarantined(settings: Settings, k: int) -> set[str]:
    root = settings.home / "raw" / "quarantine" / batch_id(*_interval(k))
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet")}


def _batch_of(files: dict[str, list[Path]], sources: tuple[str, ...] = ()) -> set[str]:
    """Where the quarantine keeps ``files`` of the timestamped sources (and of ``sources``)."""
    return {
        f"{source}/{path.relative_to(path.parents[2])}"
        for source, paths in files.items()
        if SOURCES[source][2] or source in sources
        for path in paths
    }


def _fails(settings: Settings, k: int) -> QualityGateError:
    with pytest.raises(QualityGateError) as error:
        gate_interval(settings, *_interval(k))
    return error.value


def test_every_source_is_judged_and_bad_batches_are_quarantined_without_touching_earlier_ones(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path, out_dir=tmp_path / "out")
    first = _land(settings, 0)
    assert {s: len(f) for s, f in first.items()} == {
        "node_metrics": 1, "workloads": 0, "node_pools": 1, "grid_intensity": 1, "anomaly_labels": 1,
    }  # fmt: skip
    good = gate_interval(settings, *_interval(0))
    assert good.success and [t.table for t in good.tables] == [f"telemetry.{s}" for s in SOURCES]
    assert good.table("node_metrics").rows == NODES * 3
    assert good.table("workloads").rows == 0  # no arrival in the interval: nothing to judge
    index = tmp_path / "out" / "quality" / "data_docs" / "index.html"
    assert good.docs == index.as_uri() and index.is_file()
    assert good.message().endswith(f" | Data Docs: {index.as_uri()}")
    accepted = _digests(settings)

    # Malformed rows beyond the tolerance: 6 of 60 utilisation values out of [0, 1].
    files = _land(settings, 1)
    _edit(files["node_metrics"][0], lambda f: f.assign(cpu_util=[7.0] * 6 + [0.5] * (len(f) - 6)))
    error = _fails(settings, 1)
    assert str(error).startswith(
        "telemetry.node_metrics: 2 of 23 expectations failed on 60 rows: "
        "expect_column_values_to_be_between(cpu_util): 6 rows unexpected; "
        "expect_column_values_to_be_null(reject_reason): 6 rows unexpected "
        "(6 x cpu_util out of range [0, 1]: 7.0) | 4 other tables passed | "
        f"batch {batch_id(*_interval(1))} quarantined ("
    )
    assert _quarantined(settings, 1) == _batch_of(files)  # every timestamped source's file...
    assert not any(p.exists() for s in SOURCES if SOURCES[s][2] for p in files[s])
    assert files["node_pools"][0].exists()  # ...not the day's snapshot, which passed
    assert error.result is not None and len(error.result.quarantined) == len(_batch_of(files))

    # A wrong-schema file: a column of the wrong type.
    files = _land(settings, 2)
    _edit(files["node_metrics"][0], lambda f: f.assign(mem_util=f["mem_util"].astype(str)))
    error = _fails(settings, 2)
    wrong_type = (
        "expect_column_values_to_be_of_type(mem_util): 60 rows unexpected (expected float64)"
    )
    assert wrong_type in str(error)
    assert not files["node_metrics"][0].exists()

    # A wrong-schema file: a column missing.
    files = _land(settings, 3)
    _edit(files["node_metrics"][0], lambda f: f.drop(columns=["disk_util"]))
    error = _fails(settings, 3)
    assert (
        "expect_table_columns_to_match_ordered_list: observed ['ts', 'node_id', 'pool_id', "
        "'provider', 'region', 'cpu_util', 'mem_util', 'net_mbps'] (missing ['disk_util'], "
        "unexpected [])" in str(error)
    )

    # Half the key values null.
    files = _land(settings, 4)
    _edit(
        files["node_metrics"][0], lambda f: f.assign(node_id=f["node_id"].where(f.index % 2 == 1))
    )
    error = _fails(settings, 4)
    assert "expect_column_values_to_not_be_null(node_id): 30 rows unexpected" in str(error)
    assert "(30 x null key: node_id)" in str(error)
    assert _quarantined(settings, 4) == _batch_of(files)

    # Everything accepted earlier is still there, byte for byte (the snapshot is rewritten
    # identically by each landing); a good batch afterwards passes.
    now = _digests(settings)
    assert {k: v for k, v in now.items() if k in accepted} == accepted
    _land(settings, 5)
    assert gate_interval(settings, *_interval(5)).success
    assert {k: v for k, v in _digests(settings).items() if k in accepted} == accepted


def test_a_bad_snapshot_is_quarantined_with_the_batch_and_an_unreadable_file_fails(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path, out_dir=tmp_path / "out")
    files = _land(settings, 0)
    _edit(files["node_pools"][0], lambda f: f.assign(max_nodes=f["max_nodes"].astype("int64")))
    error = _fails(settings, 0)
    assert str(error).startswith(
        "telemetry.node_pools: 1 of 20 expectations failed on 41 rows: "
        "expect_column_values_to_be_of_type(max_nodes): observed int64 (expected int32)"
    )
    assert _quarantined(settings, 0) == _batch_of(files, ("node_pools",))
    assert not files["node_pools"][0].exists()

    files = _land(settings, 1)  # lands the day's snapshot again, as generated
    assert gate_interval(settings, *_interval(1)).success

    files = _land(settings, 2)
    files["node_metrics"][0].write_bytes(b"not parquet")
    error = _fails(settings, 2)
    assert str(error).startswith(
        "telemetry.node_metrics: 1 of 1 expectations failed on 0 rows: parquet_file_readable: "
        f"observed error: file://{files['node_metrics'][0]}: "
    )
    assert not files["node_metrics"][0].exists()
    assert _quarantined(settings, 2) == _batch_of(files)
