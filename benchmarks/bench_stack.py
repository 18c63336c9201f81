"""The native stack: start-up time (cold and warm state) and how soon Trino sees what Spark ingested.

- cold start: a brand-new state directory (initdb, role and databases, Iceberg catalog tables,
  buckets, Trino's first JIT) with the installs already cached; warm start: the same directory again.
  The one-off installs (MinIO's ``go install``, Trino's downloads) are timed separately when they run.
- visibility: the ingest job lands and commits ~1e6 node-metric rows on MinIO/PostgreSQL; the clock
  starts when the job returns and stops when ``count(*)`` through Trino returns the committed count.
  The baseline is the time of that same Trino query on the already-visible table, so the ratio says
  how much of the latency is anything but an ordinary query.
- Marquez: the source build as the installer timed it (once per tarball), API and web start-up on a
  new database (Flyway migrations) and again, and OpenLineage events/s accepted over HTTP by one
  client posting in sequence, against the same recorder writing the JSONL file.

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
from opslake.lineage import LineageRecorder
from opslake.pipeline.runner import run_step
from opslake.pipeline.spec import step
from opslake.query import TrinoEngine
from opslake.stack import install, manager
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


MARQUEZ = ("marquez", "marquez-web")


def marquez_build_rows(settings: Settings) -> list[BenchRow]:
    """The source build as timed by the installer when it ran (it runs once per source tarball)."""
    record = install.marquez_build_record(settings.cache_dir)
    if not record:
        return []  # the published jar was used: nothing was built
    steps = {k: float(v) for k, v in record.items() if k.endswith("_s")}
    caches = (
        f"~/.m2 {'empty' if record.get('api_maven_cache_was_empty') == 'true' else 'warm'}, "
        f"~/.npm {'empty' if record.get('web_npm_cache_was_empty') == 'true' else 'warm'}"
    )
    return [
        BenchRow(
            benchmark="marquez", metric="build from source (API mvn + web npm ci + webpack)",
            value=sum(steps.values()), unit="s", target="once per tarball (cached)",
            note=f"{caches} when built at {record.get('built_at', '?')}", extra=steps,
        )
    ]  # fmt: skip


def marquez_startup_rows(settings: Settings) -> list[BenchRow]:
    """Marquez API and web start-up on a new PostgreSQL (Flyway migrates) and again (warm)."""
    state = Path(tempfile.mkdtemp(prefix="opslake-marquez-bench-"))
    state.chmod(0o755)  # PostgreSQL runs as the postgres account and must reach its data dir
    fresh = settings.model_copy(update={"stack_dir": state})
    names = ("postgres", *MARQUEZ)
    try:
        manager.up(fresh, ["postgres"])
        cold = {s.name: s.seconds_to_healthy or 0.0 for s in manager.up(fresh, MARQUEZ)}
        manager.down(fresh, MARQUEZ)
        warm = {s.name: s.seconds_to_healthy or 0.0 for s in manager.up(fresh, MARQUEZ)}
    finally:
        manager.down(fresh, names)
        shutil.rmtree(state, ignore_errors=True)
    return [
        BenchRow(
            benchmark="marquez", metric="API start-up, warm (existing database)",
            value=warm["marquez"], unit="s", baseline=cold["marquez"],
            baseline_name="first start (Flyway migrations on a new database)",
            note="until /healthcheck on the admin port answers",
        ),
        BenchRow(
            benchmark="marquez", metric="web UI start-up (Express, proxy to the API)",
            value=warm["marquez-web"], unit="s", baseline=cold["marquez-web"],
            baseline_name="first start", note="until /healthcheck and /api/v1 through the proxy answer",
        ),
    ]  # fmt: skip


def _emit_runs(settings: Settings, runs: int) -> tuple[float, LineageRecorder]:
    recorder = LineageRecorder(settings)
    inputs, outputs = ["lake.telemetry.node_metrics"], ["lake.analytics.anomalies"]
    started = time.perf_counter()
    for _ in range(runs):
        with recorder.run("bench_lineage", inputs, outputs, raw_inputs=["telemetry/node_metrics"]):
            pass
    return time.perf_counter() - started, recorder


def _post_raw(url: str, runs: int) -> float:
    """The same START/COMPLETE pairs posted with urllib: what Marquez itself takes per event."""
    import json
    import urllib.request
    import uuid
    from datetime import UTC, datetime

    started = time.perf_counter()
    for _ in range(runs):
        run_id = str(uuid.uuid4())
        for state in ("START", "COMPLETE"):
            event = {
                "eventType": state, "eventTime": datetime.now(UTC).isoformat(),
                "run": {"runId": run_id}, "job": {"namespace": "opslake-bench", "name": "bench_raw"},
                "inputs": [{"namespace": "s3://lineage-bench", "name": "telemetry/node_metrics"}],
                "outputs": [{"namespace": "iceberg://lineage_bench", "name": "analytics.anomalies"}],
                "producer": "https://github.com/opslake/opslake",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
            }  # fmt: skip
            request = urllib.request.Request(
                f"{url}/api/v1/lineage", data=json.dumps(event).encode(),
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=30) as resp:
                assert resp.status in (200, 201), resp.status
    return time.perf_counter() - started


def marquez_lineage_rows(settings: Settings, quick: bool) -> list[BenchRow]:
    """OpenLineage events/s that Marquez accepts over HTTP, one client posting in sequence."""
    runs = 100 if quick else 500  # two events (START, COMPLETE) per run
    out = Path(tempfile.mkdtemp(prefix="opslake-lineage-bench-"))
    # Datasets of their own (iceberg://lineage_bench, s3://lineage-bench), so the benchmark's runs never
    # join the platform's lineage graph in the same Marquez.
    base = settings.model_copy(
        update={
            "lineage_namespace": "opslake-bench", "catalog_name": "lineage_bench",
            "raw_uri": "s3://lineage-bench", "out_dir": out,
        }
    )  # fmt: skip
    _post_raw(settings.lineage_url, 50)  # warm up Marquez's JVM first: it may have just started
    try:
        http_s, http = _emit_runs(base.model_copy(update={"lineage_transport": "http"}), runs)
        file_s, _ = _emit_runs(base.model_copy(update={"lineage_transport": "file"}), runs)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    raw_s = _post_raw(settings.lineage_url, runs)
    events = 2 * runs
    return [
        BenchRow(
            benchmark="marquez", metric="lineage events accepted over HTTP (opslake recorder)",
            value=events / http_s, unit="events/s", baseline=events / raw_s,
            baseline_name="same events posted with bare urllib", target="every event accepted",
            met=http.counts.sent == events and not http.counts.spooled,
            note=f"{events} events, one client in sequence; sent {http.counts.sent}, spooled "
            f"{http.counts.spooled}; the JSONL file transport takes {events / file_s:,.0f}/s",
        )
    ]  # fmt: skip


def run(quick: bool = False) -> list[BenchRow]:
    manager.ensure_secrets(Settings().stack_dir)
    settings = load_settings("stack")
    every = (*CORE, *MARQUEZ)
    running = [s.name for s in manager.status(settings, every) if s.healthy]
    try:
        manager.down(settings, MARQUEZ)
        rows = startup_rows(settings)
        rows += marquez_build_rows(settings)
        rows += marquez_startup_rows(settings)
        manager.up(settings, CORE)
        rows += visibility_rows(settings, quick)
        manager.up(settings, MARQUEZ)
        rows += marquez_lineage_rows(settings, quick)
    finally:
        manager.down(settings, [n for n in every if n not in running])
        manager.up(settings, running)
    return rows
