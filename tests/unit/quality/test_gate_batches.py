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

    # A wrong-schema file: a column of the wrong type (text that does not parse as a double).
    files = _land(settings, 2)
    _edit(files["node_metrics"][0], lambda f: f.assign(mem_util="high"))
    error = _fails(settings, 2)
    assert (
        "expect_column_values_to_be_null(unparsed mem_util): 60 rows unexpected "
        "(not double: 'high')" in str(error)
    )
    assert not files["node_metrics"][0].exists()

    # A wrong-schema file: a column missing.
    files = _land(settings, 3)
    _edit(files["node_metrics"][0], lambda f: f.drop(columns=["disk_util"]))
    error = _fails(settings, 3)
    assert "(missing ['disk_util'], unexpected [])" in str(error)
    missing = "expect_column_values_to_be_between(disk_util): observed missing column disk_util"
    assert missing in str(error)

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
    _edit(files["node_pools"][0], lambda f: f.assign(price_per_hour=-f["price_per_hour"]))
    error = _fails(settings, 0)
    assert str(error).startswith(
        "telemetry.node_pools: 2 of 20 expectations failed on 41 rows: "
        "expect_column_values_to_be_between(price_per_hour): 41 rows unexpected; "
        "expect_column_values_to_be_null(reject_reason): 41 rows unexpected "
        "(41 x price_per_hour is negative)"
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


def _export(folder: Path, frames: dict[str, pd.DataFrame]) -> str:
    """Write ``frames`` as CSV exports (a drop folder); returns the folder."""
    folder.mkdir()
    for source, frame in frames.items():
        frame.to_csv(folder / f"{source}.csv", index=False)
    return str(folder)


def test_a_csv_drop_is_judged_as_text_and_a_bad_one_is_quarantined_whole(tmp_path: Path) -> None:
    from opslake.orchestration.drop import land_drop
    from opslake.telemetry import GeneratorConfig, generate

    settings = Settings(home=tmp_path, out_dir=tmp_path / "out")
    start, end = START, START + dt.timedelta(hours=1)
    day = generate(GeneratorConfig(start=pd.Timestamp("2026-11-22", tz="UTC"), days=1, nodes=NODES,
                                   workloads=200, seed=3))  # fmt: skip
    frames = {}
    for source, (_schema, _keys, ts_column) in SOURCES.items():
        frame = getattr(day, source)
        frames[source] = frame[(frame[ts_column] >= start) & (frame[ts_column] < end)] if (
            ts_column) else frame  # fmt: skip
    land_drop(settings, start, end, _export(tmp_path / "good", frames))
    good = gate_interval(settings, start, end)
    assert good.success
    assert {t.table: t.rows for t in good.tables} == {
        f"telemetry.{s}": len(f) for s, f in frames.items()
    }

    # The shape of a bad export: half the keys null, malformed values, a workloads file of another
    # schema. Every file of the batch (node_pools too: the drop brought it) is quarantined.
    later, last = end, end + dt.timedelta(hours=1)
    metrics = frames["node_metrics"].assign(ts=lambda f: f["ts"] + dt.timedelta(hours=1))
    metrics = metrics.assign(node_id=metrics["node_id"].where(pd.RangeIndex(len(metrics)) % 2 == 0).values,
                             cpu_util="n/a")  # fmt: skip
    bad = {"node_metrics": metrics, "workloads": pd.DataFrame({"id": ["w-1"], "size": ["big"]}),
           "node_pools": frames["node_pools"]}  # fmt: skip
    land_drop(settings, later, last, _export(tmp_path / "bad", bad))
    with pytest.raises(QualityGateError) as error:
        gate_interval(settings, later, last)
    message = str(error.value)
    half = len(metrics) // 2
    assert message.startswith(
        f"telemetry.node_metrics: 3 of 23 expectations failed on {len(metrics)} rows: "
    )
    assert f"expect_column_values_to_not_be_null(node_id): {half} rows unexpected" in message
    assert (
        f"expect_column_values_to_be_null(unparsed cpu_util): {len(metrics)} rows unexpected"
        in message
    )
    declared = SOURCES["workloads"][0].names
    assert (
        "telemetry.workloads: 9 of 22 expectations failed on 1 rows: "  # all that name a column
        f"expect_table_columns_to_match_set: observed ['id', 'size'] (missing {declared}, "
        "unexpected ['id', 'size'])" in message
    )
    assert f"({len(metrics)} x wrong type: cpu_util=n/a; {half} x null key: node_id)" in message
    assert "wrong schema for workloads: missing columns ['workload_id', 'submitted_at']" in message
    batch = batch_id(later, last)
    quarantined = {p.relative_to(tmp_path / "raw" / "quarantine" / batch).parts[0]
                   for p in (tmp_path / "raw" / "quarantine" / batch).rglob("*.parquet")}  # fmt: skip
    assert quarantined == set(bad)
    assert not any(
        p.name == f"part-{batch}.parquet"
        for p in (tmp_path / "raw").rglob("telemetry/**/*.parquet")
    )
    assert gate_interval(settings, start, end).success  # the earlier drop is untouched
