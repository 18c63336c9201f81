"""The gate before ingest: a good batch passes; a bad one fails naming the expectation and counts, and
its files leave the landing zone so no ingest picks them up, while earlier batches stay."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opslake.config import Settings
from opslake.orchestration.landing import batch_id, gate_interval, land_interval
from opslake.quality.gate import QualityGateError

pytestmark = pytest.mark.slow  # great-expectations: a few seconds per validation

START = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=15)


def _land(settings: Settings, k: int) -> tuple[dt.datetime, dt.datetime, Path]:
    start = START + k * STEP
    land_interval(settings, start, start + STEP, nodes=20, workloads_per_day=96)
    batch = batch_id(start, start + STEP)
    files = list(
        (settings.home / "raw" / "telemetry" / "node_metrics").rglob(f"part-{batch}.parquet")
    )
    assert len(files) == 1
    return start, start + STEP, files[0]


def _landed(settings: Settings) -> set[str]:
    root = settings.home / "raw" / "telemetry"
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet")}


def test_good_batch_passes_and_bad_batches_are_quarantined_naming_the_failure(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path, out_dir=tmp_path / "out")
    start, end, _ = _land(settings, 0)
    assert gate_interval(settings, start, end).success

    # Half the keys null: more bad rows than the row-level quarantine is meant for.
    start1, end1, file1 = _land(settings, 1)
    table = pq.read_table(file1).to_pandas()
    table.loc[table.index[::2], "node_id"] = None
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), file1)
    before = _landed(settings)
    with pytest.raises(QualityGateError) as error:
        gate_interval(settings, start1, end1)
    assert "expect_column_values_to_not_be_null(node_id): 30 rows unexpected" in str(error.value)
    assert str(error.value).startswith("telemetry.node_metrics: ")
    gone = before - _landed(settings)
    assert gone and all(batch_id(start1, end1) in f for f in gone)  # only that batch moved
    quarantined = tmp_path / "raw" / "quarantine" / batch_id(start1, end1)
    assert {p.name for p in quarantined.rglob("*.parquet")} == {
        f"part-{batch_id(start1, end1)}.parquet"
    }

    # A wrong-schema file.
    start2, end2, file2 = _land(settings, 2)
    table = pq.read_table(file2).to_pandas().rename(columns={"cpu_util": "cpu"})
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), file2)
    with pytest.raises(QualityGateError, match="expect_table_columns_to_match_set"):
        gate_interval(settings, start2, end2)
    assert not file2.exists()

    # The first, good batch is still there, and a good batch afterwards passes.
    assert any(batch_id(start, end) in f for f in _landed(settings))
    start3, end3, _ = _land(settings, 3)
    assert gate_interval(settings, start3, end3).success
