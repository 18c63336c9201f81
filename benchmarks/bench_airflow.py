"""Orchestration overhead: one day through the Airflow DAG chain against the same work without Airflow.

On the native stack, a REST-triggered ``telemetry_ingest`` lands, gates and ingests one day; its Assets
then schedule ``placement``, ``anomaly_train``, ``anomaly_score`` and ``carbon``. The chain's wall time
runs from the trigger to the end of the last downstream run. Baselines, in the same process:

- the same five steps as ``spark-submit``s in a row for the same date on the same landed data (what
  the tasks launch, without the scheduler, the task processes, the gate and the Asset hand-offs);
- ``opslake --profile stack run --days 1`` for a fleet of the same size (one process, one Spark
  session for every step: the embedded way of running the pipeline).

Services that were not running before are stopped afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

from benchmarks.common import BenchRow
from opslake.config import REPO_ROOT, load_settings
from opslake.pipeline.spec import PIPELINE
from opslake.stack import airflow, manager

CORE = ("postgres", "minio", "trino", "marquez")
DAGS = ("telemetry_ingest", "placement", "anomaly_train", "anomaly_score", "carbon")
DAY = "2026-11-19"


def _env(nodes: int, workloads: int) -> dict[str, str]:
    """What the Airflow components, the direct submits and the CLI run share."""
    return {
        "OPSLAKE_PROFILE": "stack",
        "OPSLAKE_INGEST_SCHEDULE": "@daily",
        "OPSLAKE_INGEST_END_DATE": "2026-11-20",  # nothing scheduled: only the benchmark's run
        "OPSLAKE_GENERATOR_NODES": str(nodes),
        "OPSLAKE_GENERATOR_WORKLOADS_PER_DAY": str(workloads),
        "OPSLAKE_SPARK_MASTER": "local[2]",
        "OPSLAKE_SPARK_DRIVER_MEMORY": "2g",
        "OPSLAKE_SPARK_SHUFFLE_PARTITIONS": "4",
    }


def _chain_seconds(nodes: int, workloads: int) -> tuple[float, dict[str, float]]:
    from opslake.orchestration.rest import AirflowClient

    settings = load_settings("stack")
    client = AirflowClient(settings)
    client.wait_parsed(DAGS)
    for dag_id in DAGS:
        client.set_paused(dag_id, True)
        client.delete_runs(dag_id)
        client.clear_queued_asset_events(dag_id)
        client.set_paused(dag_id, False)
    start = dt.datetime.fromisoformat(DAY).replace(tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    started = time.time()
    run_id = client.trigger(DAGS[0], start.isoformat(), end.isoformat())
    if client.wait_run(DAGS[0], run_id, timeout_s=1800)["state"] != "success":
        raise RuntimeError("telemetry_ingest failed; see its task logs in the Airflow UI")
    deadline = time.monotonic() + 1800
    while not all(client.runs(d) for d in DAGS[1:]) and time.monotonic() < deadline:
        time.sleep(2)
    client.wait_idle(DAGS, timeout_s=1800)
    per_dag: dict[str, float] = {}
    last_end = started
    for dag_id in DAGS:
        for run in client.runs(dag_id):
            if run["state"] != "success":
                raise RuntimeError(f"{dag_id} run {run['dag_run_id']} {run['state']}")
            begin = dt.datetime.fromisoformat(run["start_date"]).timestamp()
            finish = dt.datetime.fromisoformat(run["end_date"]).timestamp()
            per_dag[dag_id] = per_dag.get(dag_id, 0.0) + finish - begin
            last_end = max(last_end, finish)
    for dag_id in DAGS:
        client.set_paused(dag_id, True)
    return last_end - started, per_dag


def _direct_submits_seconds() -> float:
    from opslake.orchestration.tasks import spark_step

    started = time.perf_counter()
    for step in PIPELINE:
        spark_step(step.name, [DAY])
    return time.perf_counter() - started


def _opslake_run_seconds(nodes: int, workloads: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "opslake.cli", "--profile", "stack", "run", "--days", "1",
         "--nodes", str(nodes), "--workloads", str(workloads)],
        check=True, capture_output=True, cwd=REPO_ROOT,
    )  # fmt: skip
    return time.perf_counter() - started


def run(quick: bool = False) -> list[BenchRow]:
    nodes, workloads = (20, 60) if quick else (200, 300)
    names = [*CORE, *(s.name for s in airflow.AIRFLOW_SERVICES)]
    previous = dict(os.environ)
    os.environ.update(_env(nodes, workloads))
    settings = load_settings("stack")
    already = {s.name for s in manager.status(settings, names) if s.healthy}
    manager.down(settings, [s.name for s in airflow.AIRFLOW_SERVICES])  # restart with this env
    try:
        manager.up(settings, names)
        chain_s, per_dag = _chain_seconds(nodes, workloads)
        direct_s = _direct_submits_seconds()
        cli_s = _opslake_run_seconds(nodes, workloads)
    finally:
        manager.down(settings, [n for n in names if n not in already])
        os.environ.clear()
        os.environ.update(previous)
    busy = ", ".join(f"{d} {s:.0f}s" for d, s in per_dag.items())
    size = f"{nodes} nodes, {workloads} workloads, 1 day"
    return [
        BenchRow(
            benchmark="orchestration", metric="DAG chain of one day (REST trigger -> last run done)",
            value=chain_s, unit="s", baseline=direct_s,
            baseline_name="the 5 spark-submits in a row, same data", target="<= 2x",
            met=chain_s <= 2 * direct_s, note=f"{size}; run times: {busy}",
            extra={"per_dag_s": per_dag},
        ),
        BenchRow(
            benchmark="orchestration", metric="DAG chain of one day vs `opslake run --days 1`",
            value=chain_s, unit="s", baseline=cli_s,
            baseline_name="opslake run: one process, one Spark session", note=size,
        ),
    ]  # fmt: skip
