"""Iceberg maintenance against a real embedded lake (Spark + JDBC catalog on SQLite, file:// warehouse).

One table gets many small files and snapshots: three dates (two days ago, yesterday, today) written by
nine appends, 4 + 4 + 1 files. Pass 1 compacts only the recent partitions; then two files are planted
in the table's folder (one older than the orphan window, one fresh) and one in a sibling folder whose
name starts like the table's; pass 2 maintains the whole lake. The rows never change.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from pyspark.sql import Row, SparkSession

from opslake.config import Settings
from opslake.lake.maintenance import (
    MaintenancePolicy,
    MaintenanceReport,
    TableMaintenance,
    maintain_lake,
    maintain_table,
    reapply_views,
    submit_maintenance,
)
from opslake.lake.tables import ensure_table, struct_of
from opslake.pipeline.tables import PLACEMENTS, TABLES
from opslake.query import view_files

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "analytics.placements"
TODAY = dt.datetime.now(dt.UTC).date()
D1, D2, D3 = (TODAY - dt.timedelta(days=n) for n in (2, 1, 0))
APPENDS = [D1] * 4 + [D2] * 4 + [D3]  # 4 + 4 + 1 small files


def _rows(day: dt.date, batch: int) -> list[Row]:
    return [
        Row(dt=day, workload_id=f"w{batch}-{i}", pool_id=f"p{i % 3}", node_index=i, placed=i % 4 != 0,
            reason="" if i % 4 else "no capacity", score=i / 7, algorithm="ffd")
        for i in range(25)
    ]  # fmt: skip


def _local(uri: str) -> Path:
    return Path(urlparse(uri).path)


def _data_files(spark: SparkSession, name: str) -> list[str]:
    return sorted(r[0] for r in spark.sql(f"SELECT file_path FROM {name}.data_files").collect())


def _snapshots(spark: SparkSession, name: str) -> int:
    return int(spark.sql(f"SELECT count(*) FROM {name}.snapshots").collect()[0][0])


def _views(spark: SparkSession, catalog: str) -> set[str]:
    return {r[1] for r in spark.sql(f"SHOW VIEWS IN {catalog}.analytics").collect()}


def _view_name(sql: str) -> str:
    found = re.search(r"VIEW \S+\.(\w+) AS", sql)
    assert found, sql
    return found[1]


def _age(path: Path, age: dt.timedelta) -> None:
    stamp = (dt.datetime.now(dt.UTC) - age).timestamp()
    os.utime(path, (stamp, stamp))


@dataclass(frozen=True)
class Outcome:
    settings: Settings
    name: str
    before_rows: list[Row]
    files_start: list[str]
    snapshots_start: int
    pass1: TableMaintenance
    files_pass1: list[str]
    report: MaintenanceReport
    views: list[str]
    views_before: set[str]
    views_after: set[str]
    old: Path
    fresh: Path
    sibling: Path

    @property
    def placements(self) -> TableMaintenance:
        return next(t for t in self.report.tables if t.table == self.name)


@pytest.fixture(scope="module")
def lake(spark: SparkSession, isolated_lake: Callable[[str], Settings]) -> Outcome:
    """Every declared table created (empty); the placements table written nine times; pass 1; orphans
    planted; pass 2. Returns what the tests look at."""
    settings = isolated_lake("maintlake")
    catalog = settings.catalog_name
    for key, spec in TABLES.items():
        ensure_table(spark, f"{catalog}.{key}", spec)
    name = f"{catalog}.{KEY}"
    for batch, day in enumerate(APPENDS):
        spark.createDataFrame(_rows(day, batch), struct_of(PLACEMENTS)).writeTo(name).append()
    before_rows = spark.table(name).collect()
    files_start = _data_files(spark, name)
    snapshots_start = _snapshots(spark, name)

    # Pass 1: only partitions dated yesterday or later; nothing old enough to expire or remove.
    keep_all = MaintenancePolicy(snapshot_age=dt.timedelta(0), retain_last=1000, compact_days=1)
    pass1 = maintain_table(spark, catalog, KEY, keep_all, dt.datetime.now(dt.UTC))
    files_pass1 = _data_files(spark, name)

    table_dir = _local(files_start[0]).parents[1]  # <location>/data/dt=.../file.parquet
    old = table_dir / f"dt={D1}" / "orphan-old.parquet"
    fresh = table_dir / f"dt={D1}" / "orphan-fresh.parquet"
    sibling = table_dir.parents[1].with_name("placements_backup") / "data" / "kept.parquet"
    for path in (old, fresh, sibling):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PAR1 not referenced by any snapshot PAR1")
    _age(old, dt.timedelta(days=4))
    _age(sibling, dt.timedelta(days=30))
    _age(fresh, dt.timedelta(hours=1))

    # A table whose garbage collection is off: Iceberg refuses to delete its files.
    gc_off = f"{catalog}.analytics.gc_off"
    ensure_table(spark, gc_off, PLACEMENTS)
    spark.sql(f"ALTER TABLE {gc_off} SET TBLPROPERTIES ('gc.enabled'='false')")

    # Pass 2: the whole lake, snapshots down to the last one, orphans older than 3 days.
    policy = MaintenancePolicy(snapshot_age=dt.timedelta(0), retain_last=1)
    report = maintain_lake(
        spark, catalog, policy, tables={"analytics.gc_off": PLACEMENTS, **TABLES}
    )
    views_before = _views(spark, catalog)
    views = reapply_views(settings, spark)
    return Outcome(
        settings, name, before_rows, files_start, snapshots_start, pass1, files_pass1, report,
        views, views_before, _views(spark, catalog), old, fresh, sibling,
    )  # fmt: skip


def test_the_rows_never_change(spark: SparkSession, lake: Outcome) -> None:
    name = lake.name
    before = spark.createDataFrame(lake.before_rows, struct_of(PLACEMENTS))
    after = spark.table(name)
    assert before.count() == after.count() == 25 * len(APPENDS)
    assert before.exceptAll(after).count() == 0
    assert after.exceptAll(before).count() == 0


def test_pass_one_compacts_only_the_recent_partitions(spark: SparkSession, lake: Outcome) -> None:
    files_start, files_pass1 = lake.files_start, lake.files_pass1
    assert len(files_start) == 9  # one file per append
    pass1 = lake.pass1
    # Yesterday's 4 files became 1; today's single file is not worth a rewrite; D1 untouched.
    assert (pass1.rewritten_data_files, pass1.added_data_files) == (4, 1)
    assert (pass1.data_files_before, pass1.data_files_after) == (9, 6)
    assert [f for f in files_start if f"dt={D1}" in f] == [
        f for f in files_pass1 if f"dt={D1}" in f
    ]
    assert pass1.snapshots_after == pass1.snapshots_before
    assert pass1.orphan_files == ()


def test_pass_two_leaves_one_file_per_partition_and_deletes_the_replaced_files(
    spark: SparkSession, lake: Outcome
) -> None:
    t = lake.placements
    name = lake.name
    assert (t.status, t.data_files_before, t.data_files_after) == ("ok", 6, 3)
    assert (t.rewritten_data_files, t.added_data_files) == (4, 1)
    files = _data_files(spark, name)
    assert sorted(f.split("/")[-2] for f in files) == [f"dt={d}" for d in (D1, D2, D3)]
    # Every file the two compactions replaced went with the expired snapshots, on disk too.
    replaced = set(lake.files_start) - set(files)
    assert len(replaced) == 8
    assert t.deleted_data_files == 8
    assert not any(_local(f).exists() for f in replaced)
    assert all(_local(f).exists() for f in files)


def test_snapshots_are_expired_down_to_retain_last(spark: SparkSession, lake: Outcome) -> None:
    t = lake.placements
    # 9 appends (+ the creation's snapshot, if any) + 2 compactions, then only the current one.
    assert t.snapshots_before == lake.snapshots_start + 2
    assert t.snapshots_after == 1 == _snapshots(spark, lake.name)
    operation = spark.sql(f"SELECT operation FROM {lake.name}.snapshots").collect()[0][0]
    assert operation == "replace"  # the compaction's snapshot is the one kept


def test_only_the_old_orphan_in_the_table_folder_is_removed(lake: Outcome) -> None:
    t = lake.placements
    old, fresh, sibling = lake.old, lake.fresh, lake.sibling
    assert [_local(f) for f in t.orphan_files] == [old]
    assert not old.exists()
    assert fresh.exists()  # younger than the 3-day window: maybe a write in flight
    assert sibling.exists()  # another folder that merely starts with the table's name


def test_a_failing_table_is_reported_and_does_not_stop_the_others(lake: Outcome) -> None:
    report = lake.report
    catalog = lake.settings.catalog_name
    assert [t.table for t in report.failed] == [f"{catalog}.analytics.gc_off"]
    assert "GC is disabled" in (report.failed[0].error or "")
    statuses = {t.table: t.status for t in report.tables}
    assert statuses == {
        f"{catalog}.analytics.gc_off": "failed",
        **{f"{catalog}.{key}": "ok" for key in TABLES},
    }
    empty = [t for t in report.tables if t.status == "ok" and t.table != lake.name]
    assert all(t.data_files_after == 0 and t.orphan_files == () for t in empty)


def test_the_views_are_applied_again(lake: Outcome) -> None:
    assert lake.views == [p.name for p in view_files()]
    declared = {_view_name(p.read_text()) for p in view_files()}
    assert lake.views_before == set()  # a fresh catalog: maintenance created them
    assert lake.views_after == declared


def test_a_table_not_created_yet_is_missing_not_failed(spark: SparkSession, lake: Outcome) -> None:
    catalog = lake.settings.catalog_name
    result = maintain_table(
        spark, catalog, "analytics.never_written", MaintenancePolicy(), dt.datetime.now(dt.UTC),
        spec=PLACEMENTS,
    )  # fmt: skip
    assert (result.table, result.status) == (f"{catalog}.analytics.never_written", "missing")


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *args: object) -> None:
        self.lines.append(message % args)


def test_the_dag_task_runs_the_job_as_a_spark_application(
    spark: SparkSession, lake: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the DAG's task calls: a spark-submit of spark_jobs/lake_maintenance.py on this lake."""
    settings, name = lake.settings, lake.name
    for batch in (100, 101):  # today's partition: 1 -> 3 small files
        spark.createDataFrame(_rows(D3, batch), struct_of(PLACEMENTS)).writeTo(name).append()
    rows = spark.table(name).collect()
    for key, value in {
        "OPSLAKE_HOME": str(settings.home), "OPSLAKE_OUT_DIR": str(settings.out_dir),
        "OPSLAKE_CATALOG_NAME": settings.catalog_name, "OPSLAKE_SPARK_MASTER": "local[2]",
        "OPSLAKE_SPARK_DRIVER_MEMORY": "1g", "OPSLAKE_MAINTENANCE_RETAIN_LAST": "2",
        "OPSLAKE_MAINTENANCE_SNAPSHOT_AGE_DAYS": "0",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    log = _Log()
    submit_maintenance(log)
    spark.catalog.refreshTable(name)
    files = _data_files(spark, name)
    assert sorted(f.split("/")[-2] for f in files) == [f"dt={d}" for d in (D1, D2, D3)]
    assert _snapshots(spark, name) == 2  # retain_last from the task's environment
    after = spark.table(name)
    assert after.count() == len(rows) == 25 * (len(APPENDS) + 2)
    assert after.exceptAll(spark.createDataFrame(rows, struct_of(PLACEMENTS))).count() == 0
    summary = [
        line
        for line in log.lines
        if line.endswith(
            f"{name}: data files 5 -> 3 (3 rewritten into 1), snapshots 4 -> 2, "
            "0 expired data files deleted, 0 orphan files removed"
        )
    ]
    assert summary, log.lines[-40:]
    assert any("views applied with spark" in line for line in log.lines)
