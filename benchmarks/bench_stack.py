"""The native stack: start-up time (cold and warm state) and how soon Trino sees what Spark ingested.

- cold start: a brand-new state directory (initdb, role and databases, Iceberg catalog tables,
  buckets, Trino's first JIT) with the installs already cached; warm start: the same directory again.
  The one-off installs (MinIO's ``go install``, Trino's downloads) are timed separately when they run.
- visibility: the ingest job lands and commits ~1e6 node-metric rows on MinIO/PostgreSQL; the clock
  starts when the job returns and stops when ``count(*)`` through Trino returns the committed count.
  The baseline is the time of that same Trino query on the already-visible table, so the ratio says
  how much of the latency is anything but an ordinary query.

Services that were running before the benchmark are running again afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import BenchRow
from opslake.config import Settings, load_settings
from opslake.jobs import land
from opslake.jobs.entry import landed_dates
from opslake.pipeline.runner import run_step
from opslake.pipeline.spec import step
from opslake.lineage import LineageRecorder
from opslake.query import TrinoEngine
from opslake.stack import manager
from opslake.telemetry import GeneratorConfig, generate

CORE = ("postgres", "minio", "trino")


def _timed_up(settings: Settings) -> float:
    started = time.perf_counter()
    manager.up(settings, CORE)
    return time.perf_counter() - started


def startup_rows(settings: Settings) -> list[BenchRow]:
    manager.down(settings, CORE)
    state = Path(tempfile.mkdtemp(prefix="opslake-stack-bench-"))
    state.chmod(0o755)  # PostgreSQL runs as the postgres account and must reach its data dir
    fresh = settings.model_copy(update={"stack_dir": state})
    try:
        cold = _timed_up(fresh)
        manager.down(fresh, CORE)
        warm = _timed_up(fresh)
        manager.down(fresh, CORE)
    finally:
        manager.down(fresh, CORE)
        shutil.rmtree(state, ignore_errors=True)
    return [
        BenchRow(
            benchmark="stack start-up", metric="cold: new state dir, installs cached", value=cold,
            unit="s", note="postgres + minio + trino healthy and bootstrapped",
        ),
        BenchRow(
            benchmark="stack start-up", metric="warm: existing state dir", value=warm, unit="s",
            baseline=cold, baseline_name="cold start", note="postgres + minio + trino healthy",
        ),
    ]  # fmt: skip


def visibility_rows(settings: Settings, quick: bool) -> list[BenchRow]:
    from opslake.lake.session import build_session

    days = 2 if quick else 17  # 17 days x 200 nodes x 288 samples/day ~= 0.98e6 rows
    # End before today: ingest quarantines future timestamps, and this measures accepted rows.
    start = pd.Timestamp.now(tz="UTC").normalize() - pd.Timedelta(days=days + 1)
    config = GeneratorConfig(start=start, days=days, nodes=200, workloads=10, seed=11)
    run_settings = settings.model_copy(
        update={
            "lineage_transport": "file",
            "out_dir": Path(tempfile.mkdtemp(prefix="opslake-bench-")),
        }
    )
    land.run(run_settings, generate(config), batch_id="bench-visibility", logical_date="2026-01-01")
    spark = build_session(run_settings)
    trino = TrinoEngine(run_settings)
    table = run_settings.table("telemetry", "node_metrics")
    try:
        started = time.perf_counter()
        result = run_step(
            spark, run_settings, step("ingest"), landed_dates(run_settings),
            LineageRecorder(run_settings),
        )  # fmt: skip
        ingest_s = time.perf_counter() - started
        accepted = result.metrics["sources"]["node_metrics"]["accepted"]  # type: ignore[index]
        committed = spark.table(table).count()
        finished = time.perf_counter()
        while int(trino.query(f"SELECT count(*) AS n FROM {table}")["n"][0]) != committed:
            time.sleep(0.1)
        visible_s = time.perf_counter() - finished
        query_started = time.perf_counter()
        trino.query(f"SELECT count(*) AS n FROM {table}")
        query_s = time.perf_counter() - query_started
    finally:
        spark.stop()
    return [
        BenchRow(
            benchmark="stack visibility", metric="ingest commit -> rows visible in Trino", value=visible_s,
            unit="s", baseline=query_s, baseline_name="same count(*) on a visible table",
            target="< 60 s for 1e6 rows", met=visible_s < 60 and committed >= (1e5 if quick else 9e5),
            note=f"{committed:,} rows in the table ({accepted:,} accepted by this ingest in {ingest_s:.0f}s)",
        )
    ]  # fmt: skip


def run(quick: bool = False) -> list[BenchRow]:
    manager.ensure_secrets(Settings().stack_dir)
    settings = load_settings("stack")
    running = [s.name for s in manager.status(settings, CORE) if s.healthy]
    try:
        rows = startup_rows(settings)
        manager.up(settings, CORE)
        rows += visibility_rows(settings, quick)
    finally:
        manager.down(settings, [n for n in CORE if n not in running])
        manager.up(settings, running)
    return rows
