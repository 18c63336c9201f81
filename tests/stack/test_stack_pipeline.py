"""The whole pipeline against the real stack: Spark writes Iceberg on MinIO with the catalog in
PostgreSQL, Trino reads the same tables, and failures name the service or leave no partial table.

Tests run in file order and share one pipeline run; the failure tests come last because they stop
and restart services.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pyarrow.fs as pafs
import pytest
from stacklib import RUN_ARGS, Stack

from opslake.config import REPO_ROOT
from opslake.lake.storage import StorageOptions, s3_filesystem
from opslake.query import view_files
from opslake.stack import manager
from opslake.stack.services import SERVICES, SPARK_MASTER_URL, spark_master_state

pytestmark = [pytest.mark.integration, pytest.mark.stack]


def _s3(stack: Stack) -> pafs.S3FileSystem:
    return s3_filesystem(StorageOptions.from_settings(stack.settings))


def _files(fs: pafs.S3FileSystem, prefix: str) -> list[pafs.FileInfo]:
    selector = pafs.FileSelector(prefix, recursive=True, allow_not_found=True)
    return [f for f in fs.get_file_info(selector) if f.type == pafs.FileType.File]


def _trino_counts(stack: Stack, tables: list[str]) -> dict[str, int]:
    trino = stack.trino()
    return {t: int(trino.query(f"SELECT count(*) AS n FROM {t}")["n"][0]) for t in tables}


def test_trino_reads_every_table_with_the_row_count_spark_wrote(
    stack: Stack, first_run: dict[str, Any]
) -> None:
    spark_counts = first_run["table_rows"]
    assert len(spark_counts) >= 12 and spark_counts["lake.telemetry.node_metrics"] > 0
    assert _trino_counts(stack, list(spark_counts)) == spark_counts


def test_ingest_reconciles_in_the_stack_profile(first_run: dict[str, Any]) -> None:
    for source in first_run["ingest"]:
        assert source["rows_in"] == source["accepted"] + source["rejected"], source
    metrics = next(s for s in first_run["ingest"] if s["source"] == "node_metrics")
    assert metrics["rejected"] == 6  # the malformed batch: 7 rows, 6 bad


def test_objects_land_in_minio_under_the_expected_prefixes(
    stack: Stack, first_run: dict[str, Any]
) -> None:
    fs = _s3(stack)
    raw = _files(fs, "raw/telemetry/node_metrics")
    assert raw and all("/dt=" in f.path and "/hour=" in f.path for f in raw)
    assert all(f.path.endswith(".parquet") for f in raw)
    for table in ("telemetry/node_metrics", "analytics/anomalies", "analytics/carbon_daily"):
        paths = [f.path for f in _files(fs, f"lake/warehouse/{table}")]
        assert any("/metadata/" in p and p.endswith(".metadata.json") for p in paths), table
        assert any("/data/" in p and p.endswith(".parquet") for p in paths), table
    models = _files(fs, "lake/models/anomaly")
    assert models and all(f.path.endswith(".pkl") for f in models)


def test_views_and_canned_queries_answer_over_the_pipeline_tables(
    stack: Stack, first_run: dict[str, Any]
) -> None:
    proc = stack.opslake("sql", "apply")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("applied sql/views/") == len(view_files()) == 6
    trino = stack.trino()
    health = trino.query("SELECT sum(samples) AS n FROM lake.analytics.v_node_health")
    assert int(health["n"][0]) == first_run["table_rows"]["lake.telemetry.node_metrics"]
    for name in (
        "noisiest_nodes",
        "carbon_by_provider",
        "least_efficient_pools",
        "best_carbon_savings",
    ):
        proc = stack.opslake("query", f"@{name}")
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _latest_snapshot(stack: Stack, table: str) -> int:
    frame = stack.trino().query(
        f'SELECT snapshot_id FROM lake.telemetry."{table}$snapshots" ORDER BY committed_at DESC LIMIT 1'
    )
    return int(frame["snapshot_id"][0])


def test_a_job_killed_mid_write_leaves_no_partial_table_and_a_rerun_has_no_duplicates(
    stack: Stack, first_run: dict[str, Any]
) -> None:
    table = "lake.telemetry.node_metrics"
    expected = first_run["table_rows"][table]
    before = _latest_snapshot(stack, "node_metrics")
    fs = _s3(stack)
    prefix = "lake/warehouse/telemetry/node_metrics/data"
    old_files = {f.path for f in _files(fs, prefix)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "opslake.cli", "--profile", "stack", *RUN_ARGS],
        env=stack.env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    new_files: set[str] = set()
    deadline = time.monotonic() + 600
    try:  # kill the run (driver and JVM) the moment ingest has written its first new data file
        while not new_files and time.monotonic() < deadline and proc.poll() is None:
            new_files = {f.path for f in _files(fs, prefix)} - old_files
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert new_files, "the run ended before writing any data file; nothing was killed mid-write"
    # The files it wrote are orphans: no snapshot references them, so readers see the old table.
    assert _latest_snapshot(stack, "node_metrics") == before
    assert _trino_counts(stack, [table]) == {table: expected}

    rerun = stack.opslake(*RUN_ARGS)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    counts = stack.trino().query(
        f"SELECT count(*) AS n, count(DISTINCT (node_id, ts)) AS keys FROM {table}"
    )
    assert int(counts["n"][0]) == expected == int(counts["keys"][0])


@pytest.fixture
def spark_cluster(stack: Stack) -> Iterator[str]:
    """A Spark standalone master and worker (native processes), stopped after the test."""
    names = ["spark-master", "spark-worker"]
    already = {s.name for s in manager.status(stack.settings, names) if s.healthy}
    manager.up(stack.settings, names)
    yield SPARK_MASTER_URL
    manager.down(stack.settings, [n for n in names if n not in already])


def _finished_apps() -> list[dict[str, Any]]:
    state = spark_master_state() or {}
    return [a for a in state.get("completedapps", []) if isinstance(a, dict)]


def test_the_same_run_on_a_spark_standalone_cluster_rewrites_identical_tables(
    stack: Stack, first_run: dict[str, Any], spark_cluster: str
) -> None:
    # Scale-out: the unchanged jobs run with executors in a separate worker JVM that gets the
    # catalog/S3 jars from the driver and reads and writes only s3:// and the JDBC catalog.
    before = len(_finished_apps())
    tables = [t for t in first_run["table_rows"] if ".telemetry." in t or ".analytics." in t]
    local = {t: _current_snapshot(stack, t) for t in tables}  # as written by local[*] runs
    proc = stack.opslake(*RUN_ARGS, env={"OPSLAKE_SPARK_MASTER": spark_cluster})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    apps = _finished_apps()
    assert len(apps) == before + 1
    assert apps[-1]["name"] == "opslake" and apps[-1]["state"] == "FINISHED"
    assert apps[-1]["cores"] == 2  # the worker's cores ran the tasks, not the driver
    counts = first_run["table_rows"]
    assert _trino_counts(stack, list(counts)) == counts  # same dates replaced, nothing doubled
    # Contents, not counts: every row of every table is identical (doubles bit for bit) to what
    # local[*] wrote, read back through Trino's time travel to the local run's snapshot.
    for table, snapshot in local.items():
        assert _current_snapshot(stack, table) != snapshot, f"{table} was not rewritten"
        assert _rows_differing(stack, table, snapshot) == 0, table


def _current_snapshot(stack: Stack, table: str) -> int:
    catalog, schema, name = table.split(".")
    frame = stack.trino().query(
        f'SELECT snapshot_id FROM {catalog}.{schema}."{name}$snapshots" '
        "ORDER BY committed_at DESC LIMIT 1"
    )
    return int(frame["snapshot_id"][0])


def _rows_differing(stack: Stack, table: str, snapshot: int) -> int:
    """Rows in one version but not the other (with multiplicity), via EXCEPT ALL both ways."""
    old = f"SELECT * FROM {table} FOR VERSION AS OF {snapshot}"
    new = f"SELECT * FROM {table}"
    frame = stack.trino().query(
        f"SELECT count(*) AS n FROM (({new} EXCEPT ALL {old}) UNION ALL ({old} EXCEPT ALL {new}))"
    )
    return int(frame["n"][0])


def _with_service_stopped(stack: Stack, name: str) -> Any:
    class Stopped:
        def __enter__(self) -> None:
            assert manager.stop_service(stack.settings, name)

        def __exit__(self, *exc: object) -> None:
            manager.start_service(stack.settings, SERVICES[name])

    return Stopped()


def test_minio_down_fails_fast_with_a_message_naming_it(stack: Stack) -> None:
    with _with_service_stopped(stack, "minio"):
        started = time.perf_counter()
        proc = stack.opslake(*RUN_ARGS, timeout=120)
        elapsed = time.perf_counter() - started
    assert proc.returncode == 2
    output = (proc.stdout + proc.stderr).replace("\n", " ")
    assert "MinIO (S3 API) at 127.0.0.1:9000 is not reachable" in output
    assert elapsed < 60  # a preflight failure, not a Spark job timing out


def test_trino_down_gives_a_message_naming_it(stack: Stack) -> None:
    with _with_service_stopped(stack, "trino"):
        proc = stack.opslake("query", "SELECT 1", timeout=120)
    assert proc.returncode == 2
    assert "Trino at 127.0.0.1:8090 is not reachable" in (proc.stdout + proc.stderr).replace(
        "\n", " "
    )
