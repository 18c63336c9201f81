"""Marquez, built from source and started by the stack, holds the platform's lineage graph.

The pipeline runs with lineage over HTTP (the stack profile's transport); everything is then asserted
through Marquez's own API and its web UI in headless Chromium. Tests run in file order and share one
pipeline run; the failure and restart tests come last because they change runs and stop services.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from browser import Browser
from stacklib import Stack, gateway_login

from opslake.config import REPO_ROOT
from opslake.pipeline.spec import LANDING_DATASETS, PIPELINE
from opslake.stack import install, manager
from opslake.stack.services import MARQUEZ_API_PORT, MARQUEZ_WEB_PORT
from opslake.telemetry.schemas import SOURCES

pytestmark = [pytest.mark.integration, pytest.mark.stack]

API = f"http://127.0.0.1:{MARQUEZ_API_PORT}/api/v1"
WEB = f"http://127.0.0.1:{MARQUEZ_WEB_PORT}"
ARTIFACTS = REPO_ROOT / "out" / "test-artifacts" / "marquez"
JOBS = ("telemetry_land", "ingest", "placement", "anomaly_train", "anomaly_score", "carbon")
CATALOG_NS = "iceberg://lake"
RAW_NS = "s3://raw"  # the stack profile's raw root
JOB_NS = "opslake"

Edge = tuple[str, str]


def _get(path: str) -> Any:
    with urllib.request.urlopen(f"{API}{path}", timeout=20) as resp:
        return json.load(resp)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _dataset(namespace: str, name: str) -> str:
    return f"dataset:{namespace}:{name}"


def _job(name: str) -> str:
    return f"job:{JOB_NS}:{name}"


def _table(name: str) -> str:
    return _dataset(CATALOG_NS, name)


def lineage_edges(node_id: str, depth: int = 20) -> set[Edge]:
    """Every edge of the graph Marquez returns around ``node_id`` (GET /api/v1/lineage) that touches
    no other job than the pipeline's own.

    The same Marquez also records Airflow's tasks and the Spark jobs they launch (named
    ``<dag>.<task>.<step>``) on the same tables; those runs are not the pipeline run under test.
    """
    graph = _get(f"/lineage?nodeId={_quote(node_id)}&depth={depth}")["graph"]
    ours = {_job(name) for name in JOBS}
    edges = set()
    for node in graph:
        for edge in (*node["inEdges"], *node["outEdges"]):
            ends = (edge["origin"], edge["destination"])
            if all(end in ours for end in ends if end.startswith("job:")):
                edges.add(ends)
    return edges


def declared_edges() -> set[Edge]:
    """The graph the pipeline spec declares: land -> raw landing -> ingest -> telemetry.* -> ..."""
    edges = {(_job("telemetry_land"), _dataset(RAW_NS, d)) for d in LANDING_DATASETS}
    for step in PIPELINE:
        edges |= {(_dataset(RAW_NS, d), _job(step.name)) for d in step.raw_inputs}
        edges |= {(_table(t), _job(step.name)) for t in step.inputs}
        edges |= {(_job(step.name), _table(t)) for t in step.outputs}
    return edges


def upstream(edges: Iterable[Edge], node: str) -> set[Edge]:
    """The edges on every path that ends at ``node``."""
    edges = set(edges)
    found: set[Edge] = set()
    frontier = {node}
    while frontier:
        step = {e for e in edges if e[1] in frontier} - found
        found |= step
        frontier = {origin for origin, _ in step}
    return found


def analytics_tables() -> list[str]:
    return sorted({t for s in PIPELINE for t in s.outputs if t.startswith("analytics.")})


@pytest.fixture(scope="module")
def pipeline_run(stack: Stack, first_run: dict[str, Any]) -> dict[str, Any]:
    """The session's pipeline run (conftest), which sent its lineage to Marquez over HTTP."""
    # The stack profile's defaults, not forced by the fixture.
    assert stack.settings.lineage_transport == "http"
    assert stack.settings.lineage_url == f"http://127.0.0.1:{MARQUEZ_API_PORT}"
    assert stack.settings.raw_root.rstrip("/") == RAW_NS
    return first_run


def test_the_spec_declares_raw_landing_then_telemetry_then_analytics() -> None:
    # The shape the graph must have, stated independently of the spec's details.
    assert sorted(LANDING_DATASETS) == sorted(f"telemetry/{s}" for s in SOURCES)
    ingest = next(s for s in PIPELINE if s.name == "ingest")
    assert set(ingest.raw_inputs) == set(LANDING_DATASETS)
    assert {f"telemetry.{s}" for s in SOURCES} <= set(ingest.outputs)
    assert [s.name for s in PIPELINE] == list(JOBS[1:])
    assert "analytics.carbon_daily" in analytics_tables()
    assert "analytics.placements" in analytics_tables()


def test_marquez_has_exactly_the_declared_edges(pipeline_run: dict[str, Any]) -> None:
    expected = declared_edges()
    # One connected graph: from the raw landing of node metrics Marquez reaches every edge.
    seen = lineage_edges(_dataset(RAW_NS, "telemetry/node_metrics"))
    assert seen == expected
    # The end-to-end chains the issue names, spelled out.
    for source in SOURCES:
        assert (_dataset(RAW_NS, f"telemetry/{source}"), _job("ingest")) in seen
        assert (_job("ingest"), _table(f"telemetry.{source}")) in seen
    assert (_table("telemetry.node_metrics"), _job("carbon")) in seen
    assert (_job("carbon"), _table("analytics.carbon_daily")) in seen


@pytest.mark.parametrize("table", analytics_tables())
def test_each_analytics_table_has_its_exact_upstream_back_to_raw_landing(
    pipeline_run: dict[str, Any], table: str
) -> None:
    node = _table(table)
    seen = upstream(lineage_edges(node), node)
    assert seen == upstream(declared_edges(), node)
    origins = {origin for origin, _ in seen}
    assert any(o.startswith(f"dataset:{RAW_NS}:telemetry/") for o in origins)
    assert any(o.startswith(f"dataset:{CATALOG_NS}:telemetry.") for o in origins)


@pytest.mark.parametrize(
    ("table", "column"),
    [("analytics.placement_runs", "cost_per_hour"), ("analytics.carbon_daily", "total_gco2e")],
)
def test_a_decision_column_has_its_declared_input_columns(
    pipeline_run: dict[str, Any], table: str, column: str
) -> None:
    step = next(s for s in PIPELINE if s.column_lineage and table in s.column_lineage)
    assert step.column_lineage is not None
    expected = {tuple(src.rsplit(".", 1)) for src in step.column_lineage[table][column]}
    node = f"datasetField:{CATALOG_NS}:{table}:{column}"
    graph = _get(f"/column-lineage?nodeId={_quote(node)}&depth=1")["graph"]
    mine = next(n for n in graph if n["id"] == node)
    found = {(f["dataset"], f["field"]) for f in mine["data"]["inputFields"]}
    assert {f["namespace"] for f in mine["data"]["inputFields"]} == {CATALOG_NS}
    assert found == expected


def _runs(job: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = _get(f"/namespaces/{JOB_NS}/jobs/{job}/runs?limit=100")["runs"]
    return runs  # newest first


def test_each_jobs_latest_run_completed(pipeline_run: dict[str, Any]) -> None:
    jobs = {j["name"]: j for j in _get(f"/namespaces/{JOB_NS}/jobs?limit=100")["jobs"]}
    assert set(JOBS) <= set(jobs)
    states = {name: jobs[name]["latestRun"]["state"] for name in JOBS}
    assert states == dict.fromkeys(JOBS, "COMPLETED")
    for name in JOBS:
        latest = _runs(name)[0]
        assert latest["state"] == "COMPLETED" and latest["endedAt"] is not None, name


def _label(name: str, limit: int) -> str:
    """A node's label as the UI draws it: names cut at ``limit`` characters (TableLineage*Node.tsx)."""
    return name if len(name) <= limit else f"{name[:limit]}..."


def _drawn_labels(page: str) -> set[str]:
    return set(re.findall(r"<text[^>]*>([^<]*)</text>", page))


def test_the_web_ui_draws_an_analytics_dataset_with_its_upstream_job_and_inputs(
    pipeline_run: dict[str, Any], stack: Stack, door: str
) -> None:
    target = "analytics.carbon_daily"
    # Through the gateway, where browsers reach the UI (it is built for /datalake/marquez/).
    url = f"{door}/datalake/marquez/lineage/dataset/{_quote(CATALOG_NS)}/{target}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    drawn = "[...document.querySelectorAll('svg text')].some(t => t.textContent === 'carbon')"
    with Browser(install.chromium_binary()) as browser:
        gateway_login(browser, door, stack.settings.gateway_admin_password.get_secret_value())
        ready = browser.open(url, drawn, timeout_s=90)
        browser.screenshot(ARTIFACTS / "carbon_daily_lineage.png")
        page = browser.html()
    (ARTIFACTS / "carbon_daily_lineage.html").write_text(page)
    assert ready, f"the lineage graph was not drawn within 90 s (see {ARTIFACTS})"
    carbon = next(s for s in PIPELINE if s.name == "carbon")
    labels = _drawn_labels(page)
    # The job that writes the dataset and every input of that job are drawn as nodes...
    assert {"carbon", _label(target, 15)} <= labels, f"see {ARTIFACTS}"
    assert {_label(t, 15) for t in carbon.inputs} <= labels, f"see {ARTIFACTS}"
    # ...joined by the edges of the graph (each drawn as a polyline whose id names both ends).
    edges = set(re.findall(r'<polyline[^>]* id="([^"]+)"', page))
    assert f"{_job('carbon')}-{_table(target)}" in edges
    assert {f"{_table(t)}-{_job('carbon')}" for t in carbon.inputs} <= edges
    assert f">{target}<" in page  # its full name, in the page's header (the node label is cut)
    # The default depth reaches back to the raw landing: the whole chain is on the page.
    assert {"ingest", "telemetry_land", _label("telemetry/node_metrics", 15)} <= labels
    assert f"{_dataset(RAW_NS, 'telemetry/node_metrics')}-{_job('ingest')}" in edges


def _one_date(stack: Stack) -> str:
    frame = stack.trino().query(
        "SELECT CAST(max(dt) AS varchar) AS d FROM lake.analytics.placements"
    )
    return str(frame["d"][0])


def test_a_failed_job_is_recorded_as_a_failed_run(
    stack: Stack, pipeline_run: dict[str, Any], tmp_path: Path
) -> None:
    completed = _runs("placement")[0]
    edges_before = lineage_edges(_job("placement"))
    # A real job made to fail: placement against a catalog where its input tables are missing (an
    # empty catalog under the same name `lake`, so the job's datasets are the same).
    empty_catalog = f"jdbc:sqlite:{tmp_path / 'empty-catalog.db'}"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "spark_jobs" / "placement.py"), "--profile", "stack",
         "--date", _one_date(stack)],
        env={**stack.env, "OPSLAKE_CATALOG_URI": empty_catalog},
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    runs = _runs("placement")
    assert runs[0]["state"] == "FAILED" and runs[0]["id"] != completed["id"]
    assert runs[1]["id"] == completed["id"] and runs[1]["state"] == "COMPLETED"
    job = _get(f"/namespaces/{JOB_NS}/jobs/placement")
    assert job["latestRun"]["state"] == "FAILED"
    facets = _get(f"/jobs/runs/{runs[0]['id']}/facets?type=run")["facets"]
    message = facets["errorMessage"]["message"]
    assert "TABLE_OR_VIEW_NOT_FOUND" in message or "not found" in message.lower(), message
    assert lineage_edges(_job("placement")) == edges_before  # same inputs and outputs


def test_lineage_survives_a_restart_of_the_stack(
    stack: Stack, pipeline_run: dict[str, Any]
) -> None:
    node = _dataset(RAW_NS, "telemetry/node_metrics")
    before = lineage_edges(node)
    runs_before = {job: [r["id"] for r in _runs(job)] for job in JOBS}
    # Everything that holds state in PostgreSQL, stopped and started in dependency order (Trino too:
    # its catalog connections do not survive a PostgreSQL restart).
    names = ["postgres", "trino", "marquez", "marquez-web"]
    stopped = [n for n in reversed(names) if manager.stop_service(stack.settings, n)]
    assert stopped == ["marquez-web", "marquez", "trino", "postgres"]
    assert not any(s.running for s in manager.status(stack.settings, names))
    manager.up(stack.settings, names)
    assert lineage_edges(node) == before == declared_edges()
    assert {job: [r["id"] for r in _runs(job)] for job in JOBS} == runs_before
    with urllib.request.urlopen(f"{WEB}/api/v1/namespaces", timeout=20) as resp:  # through the UI
        names_seen = {n["name"] for n in json.load(resp)["namespaces"]}
    assert {JOB_NS, CATALOG_NS, RAW_NS} <= names_seen
    # The rest of the stack answers again too (the next test files use it).
    rows = stack.trino().query("SELECT count(*) AS n FROM lake.analytics.carbon_daily")
    assert int(rows["n"][0]) == pipeline_run["table_rows"]["lake.analytics.carbon_daily"]
