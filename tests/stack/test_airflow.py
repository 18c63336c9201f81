"""Airflow runs the platform on the real stack: the api-server, scheduler, dag-processor and triggerer
of `opslake stack up`, the DAGs of `dags/`, spark-submits of the steps, Iceberg on MinIO, Trino.

Tests run in file order and share one Airflow: a REST-triggered ingest drives the Asset-scheduled
DAGs; a bad batch stops at the gate; a backfill of three dates (whose first Spark application is
killed mid-write) runs twice; the UI is checked in headless Chromium. Data is small (20 nodes) and the
ingest DAG runs daily inside a closed window, so no scheduled run competes with the test's runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.fs as pafs
import pytest
from browser import Browser
from stacklib import Stack

from opslake.config import REPO_ROOT, load_settings
from opslake.lake.landing import write_landing
from opslake.lake.storage import StorageOptions, s3_filesystem
from opslake.orchestration.landing import day_seed
from opslake.orchestration.rest import AirflowClient as Airflow
from opslake.stack import airflow, install, manager
from opslake.telemetry import GeneratorConfig, generate
from opslake.telemetry.generator import malformed_node_metrics
from opslake.telemetry.schemas import SOURCES

pytestmark = [pytest.mark.integration, pytest.mark.stack]

INGEST = "telemetry_ingest"
DOWNSTREAM = ("placement", "anomaly_train", "anomaly_score", "carbon")
DAGS = (INGEST, *DOWNSTREAM)
NODES, WORKLOADS = 20, 60
CHAIN_DAY = "2026-11-21"
BACKFILL = ("2026-11-25", "2026-11-26", "2026-11-27")
ARTIFACTS = REPO_ROOT / "out" / "test-artifacts" / "airflow"

# What the Airflow components (and so their tasks) run with in this test: a daily ingest that
# schedules nothing after 2026-11-28, a small fleet, a short first retry delay, a small Spark.
AIRFLOW_TEST_ENV = {
    "OPSLAKE_INGEST_SCHEDULE": "@daily",
    "OPSLAKE_INGEST_END_DATE": "2026-11-28",
    "OPSLAKE_GENERATOR_NODES": str(NODES),
    "OPSLAKE_GENERATOR_WORKLOADS_PER_DAY": str(WORKLOADS),
    "OPSLAKE_RETRY_DELAY_S": "5",
    "OPSLAKE_SPARK_MASTER": "local[2]",
    "OPSLAKE_SPARK_DRIVER_MEMORY": "1g",
    "OPSLAKE_SPARK_SHUFFLE_PARTITIONS": "2",
    "OPSLAKE_PLACEMENT_ITERATIONS": "300",
}


@pytest.fixture(scope="module")
def af(stack: Stack) -> Iterator[Airflow]:
    """Airflow started for this module with the test settings; stopped afterwards."""
    names = [s.name for s in airflow.AIRFLOW_SERVICES]
    manager.down(stack.settings, names)  # a developer's Airflow would run with other settings
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            **AIRFLOW_TEST_ENV,
            "OPSLAKE_OUT_DIR": str(stack.settings.out_dir),
        }.items():
            mp.setenv(key, value)
        manager.up(stack.settings, names)
    client = Airflow(stack.settings)
    client.wait_parsed(DAGS)
    for dag_id in DAGS:  # a known history: no old runs, no queued Asset events
        client.set_paused(dag_id, True)
        client.delete_runs(dag_id)
        client.clear_queued_asset_events(dag_id)
        client.set_paused(dag_id, False)
    yield client
    for dag_id in DAGS:
        client.set_paused(dag_id, True)
    manager.down(stack.settings, names)


def _produced(day: str) -> dict[str, int]:
    """Rows the generator makes for ``day`` per source: what `land_batch` must have landed."""
    seed = day_seed(load_settings("stack").seed, dt.date.fromisoformat(day))
    config = GeneratorConfig(start=pd.Timestamp(day, tz="UTC"), days=1, nodes=NODES,
                             workloads=WORKLOADS, seed=seed)  # fmt: skip
    telemetry = generate(config)
    return {source: len(getattr(telemetry, source)) for source in SOURCES}


def _counts(stack: Stack, day: str) -> dict[str, tuple[int, int]]:
    """Per source: (rows in Trino for ``day``, distinct keys among them)."""
    trino, found = stack.trino(), {}
    for source, (_schema, keys, _ts) in SOURCES.items():
        sql = (f"SELECT count(*) AS n, count(DISTINCT ({', '.join(keys)})) AS k "
               f"FROM lake.telemetry.{source} WHERE dt = DATE '{day}'")  # fmt: skip
        row = trino.query(sql).iloc[0]
        found[source] = (int(row["n"]), int(row["k"]))
    return found


def _rejects(stack: Stack, day: str) -> dict[str, int]:
    sql = (f"SELECT source, count(*) AS n FROM lake.telemetry.rejects WHERE dt = DATE '{day}' "
           "GROUP BY source")  # fmt: skip
    frame = stack.trino().query(sql)
    return {str(s): int(n) for s, n in zip(frame["source"], frame["n"], strict=True)}


def _interval(day: str, hours: tuple[int, int] = (0, 24)) -> tuple[str, str]:
    start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    return (
        (start + dt.timedelta(hours=hours[0])).isoformat(),
        (start + dt.timedelta(hours=hours[1])).isoformat(),
    )


def test_a_rest_triggered_ingest_drives_every_asset_scheduled_dag_to_success(
    af: Airflow, stack: Stack
) -> None:
    # An external CSV-like batch lands beside the generator's: 7 rows, 6 of them bad.
    config = GeneratorConfig(start=pd.Timestamp(CHAIN_DAY, tz="UTC"), days=1)
    options = StorageOptions.from_settings(stack.settings)
    write_landing(malformed_node_metrics(config), "node_metrics", stack.settings.raw_root, options,
                  "external", CHAIN_DAY, arrived_at=config.start + dt.timedelta(hours=1))  # fmt: skip
    run_id = af.trigger(INGEST, *_interval(CHAIN_DAY))
    assert af.wait_run(INGEST, run_id)["state"] == "success"
    deadline = time.monotonic() + 900
    while not all(af.runs(d) for d in DOWNSTREAM) and time.monotonic() < deadline:
        time.sleep(3)
    af.wait_idle(DAGS)

    for dag_id in DOWNSTREAM:
        runs = af.runs(dag_id)
        assert [r["state"] for r in runs] == ["success"] * len(runs) and runs, dag_id
        assert {r["run_type"] for r in runs} == {"asset_triggered"}, dag_id
    produced = _produced(CHAIN_DAY)
    produced["node_metrics"] += 7  # the external batch
    rejects = _rejects(stack, CHAIN_DAY)
    assert rejects == {"node_metrics": 6}
    counts = _counts(stack, CHAIN_DAY)
    assert {s: n for s, (n, _k) in counts.items()} == {
        s: produced[s] - rejects.get(s, 0) for s in SOURCES
    }
    assert all(n == k for n, k in counts.values())  # one copy of every key
    for table in ("analytics.placements", "analytics.anomalies", "analytics.carbon_daily"):
        rows = stack.trino().query(
            f"SELECT count(*) AS n FROM lake.{table} WHERE dt = DATE '{CHAIN_DAY}'"
        )
        assert int(rows["n"][0]) > 0, table


def _drop(stack: Stack, rows: dict[str, str]) -> str:
    """Write CSV exports to a fresh folder on MinIO; returns its URI."""
    fs = s3_filesystem(StorageOptions.from_settings(stack.settings))
    folder = f"raw/drops/test-{uuid.uuid4().hex[:8]}"
    fs.create_dir(folder, recursive=True)
    for name, text in rows.items():
        with fs.open_output_stream(f"{folder}/{name}") as out:
            out.write(text.encode())
    return f"s3://{folder}"


def _bad_drop(stack: Stack, day: str) -> str:
    """Half the node_metrics keys null, some malformed values, and a workloads file of the wrong schema."""
    header = "ts,node_id,pool_id,provider,region,cpu_util,mem_util,disk_util,net_mbps"
    lines = [header]
    for i in range(40):
        ts = f"{day}T06:{i:02d}:00+00:00"
        node = "" if i % 2 else f"node-x{i}"  # every other key null
        cpu = "n/a" if i % 10 == 0 else "0.4"
        lines.append(f"{ts},{node},aws-us-east-1-m5.xlarge,aws,us-east-1,{cpu},0.5,0.3,80")
    return _drop(stack, {"node_metrics.csv": "\n".join(lines) + "\n",
                         "workloads.csv": "id,size\nw-1,big\n"})  # fmt: skip


def test_a_bad_batch_fails_the_gate_names_it_and_nothing_downstream_runs(
    af: Airflow, stack: Stack
) -> None:
    day = BACKFILL[0]
    before = {d: len(af.runs(d)) for d in DOWNSTREAM}
    chain_counts = _counts(stack, CHAIN_DAY)
    run_id = af.trigger(INGEST, *_interval(day, (6, 7)), conf={"drop": _bad_drop(stack, day)})
    assert af.wait_run(INGEST, run_id)["state"] == "failed"
    tis = {t["task_id"]: t for t in af.task_instances(INGEST, run_id)}
    assert tis["land_batch"]["state"] == "success"
    assert tis["quality_gate"]["state"] == "failed" and tis["quality_gate"]["try_number"] == 1
    assert tis["ingest"]["state"] == "upstream_failed"
    log = af.task_log(INGEST, run_id, "quality_gate", 1)
    assert "QualityGateError" in log and "quarantined" in log
    assert "node_metrics" in log and "workloads" in log  # both bad tables are named
    assert "expect_column_values_to_not_be_null(node_id): 20 rows unexpected" in log  # half
    time.sleep(20)  # several scheduler loops: no Asset event, so no downstream run
    assert {d: len(af.runs(d)) for d in DOWNSTREAM} == before
    assert _counts(stack, CHAIN_DAY) == chain_counts  # nothing accepted earlier is lost
    fs = s3_filesystem(StorageOptions.from_settings(stack.settings))
    quarantined = fs.get_file_info(pafs.FileSelector("raw/quarantine", recursive=True))
    assert any(f"{day.replace('-', '')}T0600" in f.path for f in quarantined)


def _ingest_driver_pids(day: str) -> list[int]:
    """The JVM of the Spark application that ingests ``day`` (spark-submit's SparkSubmit)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # not a process, or gone
            continue
        text = [a.decode(errors="replace") for a in args]
        if (
            "org.apache.spark.deploy.SparkSubmit" in text
            and day in text
            and any(a.endswith("ingest.py") for a in text)
        ):
            found.append(int(proc.name))
    return found


def _first_attempt_log(af: Airflow, stack: Stack, day: str) -> Path | None:
    """The log file of the first attempt of ``ingest`` in the backfill run of ``day``, once it runs."""
    runs = af.backfill_runs(INGEST, f"{day}T00:00:00Z", f"{day}T00:00:00Z")
    if not runs:
        return None
    path = (airflow.airflow_home(stack.settings) / "logs" / f"dag_id={INGEST}"
            / f"run_id={runs[0]['dag_run_id']}" / "task_id=ingest" / "attempt=1.log")  # fmt: skip
    return path if path.exists() else None


def _backfill(af: Airflow, reprocess: str) -> list[dict[str, Any]]:
    """Backfill the three dates, all at once; returns the runs once it completed."""
    backfill_id = af.backfill(
        INGEST,
        f"{BACKFILL[0]}T00:00:00Z",
        f"{BACKFILL[-1]}T00:00:00Z",
        reprocess,
        max_active_runs=3,
    )
    return af.wait_backfill(INGEST, backfill_id)


def test_a_backfill_of_three_dates_survives_a_killed_spark_app_and_rerun_keeps_one_copy(
    af: Airflow, stack: Stack
) -> None:
    for dag_id in DOWNSTREAM:  # the ingest is what is under test; analytics would triple the time
        af.set_paused(dag_id, True)
    started = af.backfill(INGEST, f"{BACKFILL[0]}T00:00:00Z", f"{BACKFILL[-1]}T00:00:00Z",
                          max_active_runs=3)  # fmt: skip
    # Kill the first date's Spark application once its Iceberg commits have begun.
    deadline, killed = time.monotonic() + 600, []
    while not killed and time.monotonic() < deadline:
        log = _first_attempt_log(af, stack, BACKFILL[0])
        if log is not None and "ingest: writing" in log.read_text(errors="replace"):
            for pid in _ingest_driver_pids(BACKFILL[0]):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.5)
    assert killed, "never saw the first ingest's Spark application writing"
    runs = af.wait_backfill(INGEST, started)
    assert [r["data_interval_start"][:10] for r in runs] == list(BACKFILL)
    assert {r["state"] for r in runs} == {"success"}
    first_run = runs[0]
    ingest_ti = next(
        t for t in af.task_instances(INGEST, first_run["dag_run_id"]) if t["task_id"] == "ingest"
    )
    assert ingest_ti["try_number"] == 2 and ingest_ti["state"] == "success"  # the retry did it
    once = {day: _counts(stack, day) for day in BACKFILL}

    rerun = _backfill(af, "completed")
    assert len(rerun) == 3 and {r["state"] for r in rerun} == {"success"}
    for day in BACKFILL:
        counts = _counts(stack, day)
        assert counts == once[day], day  # the re-run replaced, it did not add
        produced = _produced(day)
        assert {s: n for s, (n, _k) in counts.items()} == produced, day  # no rejects: clean days
        assert all(n == k for n, k in counts.values()), day  # exactly one copy of every row


def test_the_airflow_ui_logs_in_lists_the_dags_and_draws_a_grid(af: Airflow, stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = airflow.api_url(stack.settings)
    password = stack.settings.airflow_admin_password.get_secret_value()
    login = (f"const f = document.querySelector('form[name=login]'); f.username.value = 'admin'; "
             f"f.password.value = {json.dumps(password)}; f.submit(); true")  # fmt: skip
    with Browser(install.chromium_binary()) as browser:
        assert browser.open(f"{base}/", "document.querySelector('form[name=login]')")
        browser.screenshot(ARTIFACTS / "login.png")
        browser.evaluate(login)
        home = "document.body && document.body.innerText.includes('Dag Processor')"
        assert browser.wait_for(home), "not logged in"  # the form posts, then redirects home
        assert browser.open(f"{base}/dags", "document.body.innerText.includes('telemetry_ingest')")
        browser.screenshot(ARTIFACTS / "dags.png")
        listed = browser.evaluate("document.body.innerText")
        grid = "document.body.innerText.includes('quality_gate')"
        assert browser.open(f"{base}/dags/{INGEST}", grid)
        browser.screenshot(ARTIFACTS / "telemetry_ingest_grid.png")
        page = browser.evaluate("document.body.innerText")
    (ARTIFACTS / "dags.txt").write_text(listed)
    assert all(d in listed for d in DAGS)
    assert {"land_batch", "quality_gate", "ingest", "opslake"} <= set(page.split())
