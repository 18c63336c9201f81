"""Ingest against a real Spark + Iceberg (JDBC catalog on SQLite) lake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from opslake.config import Settings
from opslake.exceptions import SourceFileError
from opslake.jobs import land
from opslake.lineage import LineageRecorder
from opslake.pipeline.runner import run_step
from opslake.pipeline.spec import step
from opslake.telemetry import GeneratorConfig, generate
from opslake.telemetry.generator import malformed_node_metrics

pytestmark = pytest.mark.integration

CONFIG = GeneratorConfig(days=2, nodes=6, workloads=40, seed=11)
DATES = ["2026-11-16", "2026-11-17"]


def _ingest(spark: SparkSession, settings: Settings) -> dict[str, dict[str, int]]:
    """Run the ingest step over the two landed dates; per-source rows in/accepted/rejected."""
    result = run_step(spark, settings, step("ingest"), DATES, LineageRecorder(settings))
    return result.metrics["sources"]  # type: ignore[return-value]


def _count(spark: SparkSession, table: str, where: str = "true") -> int:
    return spark.sql(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}").first()["n"]  # type: ignore[index]


@pytest.fixture(scope="module")
def landed(isolated_lake: Callable[[str], Settings]) -> Settings:
    lake_settings = isolated_lake("ingest_lake")
    tel = generate(CONFIG)
    land.run(lake_settings, tel, batch_id="t", logical_date="2026-11-17")
    land.run_external(
        lake_settings, "node_metrics", malformed_node_metrics(CONFIG), "external",
        CONFIG.start + pd.Timedelta(hours=12),
    )  # fmt: skip
    return lake_settings


def test_rows_in_equal_accepted_plus_rejected_and_rerun_does_not_duplicate(
    spark: SparkSession, landed: Settings
) -> None:
    metrics = _ingest(spark, landed)["node_metrics"]
    expected_in = 2 * 24 * 12 * 6 + 7
    assert metrics["rows_in"] == expected_in
    assert metrics["accepted"] + metrics["rejected"] == metrics["rows_in"]
    assert metrics["rejected"] == 6
    table = f"{landed.catalog_name}.telemetry.node_metrics"
    assert _count(spark, table) == metrics["accepted"]
    rejects = f"{landed.catalog_name}.telemetry.rejects"
    assert _count(spark, rejects, "source = 'node_metrics'") == 6
    reasons = {r["reason"] for r in spark.sql(f"SELECT reason FROM {rejects}").collect()}
    assert "cpu_util out of range [0, 1]: 1.7" in reasons
    assert "wrong type: mem_util=n/a" in reasons

    # Same dates again: replaced, not duplicated.
    assert _ingest(spark, landed)["node_metrics"] == metrics
    assert _count(spark, table) == metrics["accepted"]
    assert _count(spark, rejects, "source = 'node_metrics'") == 6


def test_duplicates_across_files_are_rejected_once(spark: SparkSession, landed: Settings) -> None:
    tel = generate(CONFIG)
    copy = tel.node_metrics.head(5)
    land.run_external(
        landed, "node_metrics", copy, "replayed", CONFIG.start + pd.Timedelta(hours=1)
    )
    try:
        metrics = _ingest(spark, landed)["node_metrics"]
        assert metrics["rejected"] == 6 + 5
        # The 5 replayed rows plus the external batch's own duplicate, whichever file came first.
        assert (
            _count(
                spark, f"{landed.catalog_name}.telemetry.rejects", "reason LIKE 'duplicate key%'"
            )
            == 6
        )
        assert _count(spark, f"{landed.catalog_name}.telemetry.node_metrics") == metrics["accepted"]
    finally:
        _remove_batch(landed, "replayed")
        _ingest(spark, landed)


def test_corrupt_file_is_named_and_other_files_still_load(
    spark: SparkSession, landed: Settings
) -> None:
    root = Path(landed.home) / "raw" / "telemetry" / "workloads" / "dt=2026-11-16" / "hour=03"
    root.mkdir(parents=True, exist_ok=True)
    corrupt = root / "part-corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    try:
        with pytest.raises(SourceFileError, match=r"part-corrupt\.parquet"):
            _ingest(spark, landed)
        # Every other source and every other workloads file loaded.
        assert _count(spark, f"{landed.catalog_name}.telemetry.node_metrics") > 0
        good_workloads = len(generate(CONFIG).workloads)
        assert _count(spark, f"{landed.catalog_name}.telemetry.workloads") == good_workloads
        assert _count(spark, f"{landed.catalog_name}.telemetry.rejects", "row_number = -1") == 1
    finally:
        corrupt.unlink()
        _ingest(spark, landed)


def _remove_batch(settings: Settings, batch: str) -> None:
    for path in (Path(settings.home) / "raw").rglob(f"part-{batch}.parquet"):
        path.unlink()
