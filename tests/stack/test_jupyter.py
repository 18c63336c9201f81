"""Every notebook of ``notebooks/`` executes against the stack and prints what Trino itself answers.

The notebooks run the way JupyterLab runs them: in the folder the `jupyter` service serves, on the
venv's ``python3`` kernel, with the environment the service gives its kernels (``jupyter_env``: the
stack profile, so SQL goes to Trino). The shipped files are executed, not the served copies, which
someone may have edited in JupyterLab. The service is started if it is not running (and then stopped
again); its contents API must list the shipped notebooks.
"""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
import pandas as pd
import pytest
from stacklib import RUN_ARGS, Stack

from opslake.config import REPO_ROOT, Settings
from opslake.query import TrinoEngine
from opslake.stack.jupyter import api_url, jupyter_env, notebooks_dir
from opslake.telemetry import GeneratorConfig

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

pytestmark = [pytest.mark.integration, pytest.mark.stack]

NOTEBOOKS = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOK_TIMEOUT_S = 300  # per cell; each notebook takes well under a minute on Trino


def _stdout(notebook: Any) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.get("name") == "stdout"
    )


def _errors(notebook: Any) -> list[str]:
    return [
        f"{output.ename}: {output.evalue}"
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


# The what-if notebook studies the last day of the shared first_run: `opslake run` lands every
# day's telemetry before any step, so that day's stored advice saw its whole grid window. (A day of
# test_airflow's concurrent backfill may have been advised before an earlier day's grid landed.)
WHATIF_DAY = (
    (GeneratorConfig().start + pd.Timedelta(days=int(RUN_ARGS[RUN_ARGS.index("--days") + 1]) - 1))
    .date()
    .isoformat()
)


@pytest.fixture(scope="module")
def executed(
    stack: Stack,
    first_run: dict[str, Any],
    jupyter: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Each shipped notebook executed with nbclient as JupyterLab would; name -> executed notebook."""
    served = notebooks_dir(jupyter)
    env = {
        **os.environ,
        **stack.env,  # the profile and knobs of the shared first_run (placement budget, ...)
        **jupyter_env(jupyter),  # what the service gives its kernels
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "OPSLAKE_NOTEBOOK_DAY": WHATIF_DAY,
    }
    results: dict[str, Any] = {}
    for name in NOTEBOOKS:
        notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
        client = nbclient.NotebookClient(
            notebook,
            timeout=NOTEBOOK_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(served)}},
        )
        try:
            client.execute(env=env)
        except nbclient.exceptions.CellExecutionError as exc:
            pytest.fail(f"{name} failed against the stack:\n{exc}"[-4000:])
        results[name] = notebook
    return results


def test_the_service_serves_the_shipped_notebooks(jupyter: Settings) -> None:
    token = jupyter.gateway_jupyter_token.get_secret_value()
    listing = httpx.get(
        f"{api_url(jupyter)}api/contents",
        headers={"authorization": f"token {token}"},
        timeout=30,
        trust_env=False,
    )
    assert listing.status_code == 200
    served = sorted(
        item["name"] for item in listing.json()["content"] if item["type"] == "notebook"
    )
    assert set(NOTEBOOKS) <= set(served)
    refused = httpx.get(f"{api_url(jupyter)}api/contents", timeout=30, trust_env=False)
    assert refused.status_code == 403  # nothing without the token the gateway holds


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_error_on_trino(executed: dict[str, Any], name: str) -> None:
    notebook = executed[name]
    assert _errors(notebook) == []
    printed = _stdout(notebook)
    assert "profile stack, SQL engine trino" in printed, printed


def _one(trino: TrinoEngine, sql: str) -> Any:
    return trino.query(sql).iloc[0, 0]


def test_telemetry_notebook_counts_what_trino_counts(
    executed: dict[str, Any], stack: Stack
) -> None:
    text = _stdout(executed["01_telemetry_exploration.ipynb"])
    printed = re.search(r"^node_metrics rows: (\d+)$", text, re.M)
    assert printed, text
    expected = _one(stack.trino(), "SELECT count(*) FROM lake.telemetry.node_metrics")
    assert int(printed[1]) == int(expected) > 0


def test_anomaly_notebook_investigates_the_strongest_event(
    executed: dict[str, Any], stack: Stack
) -> None:
    text = _stdout(executed["02_anomaly_investigation.ipynb"])
    event = re.search(r"^event: (\S+) \(.*\) (\w+) from (\S+ \S+) to (\S+ \S+),", text, re.M)
    samples = re.search(r"^raw samples in the window: (\d+), inside the event: (\d+)$", text, re.M)
    assert event and samples, text
    trino = stack.trino()
    top = trino.query(
        "SELECT node_id, metric FROM lake.analytics.anomaly_events "
        "ORDER BY peak_score DESC, start_ts, node_id, metric LIMIT 1"
    ).iloc[0]
    assert (event[1], event[2]) == (top["node_id"], top["metric"])
    inside = _one(
        trino,
        "SELECT count(*) FROM lake.telemetry.node_metrics AS m "
        "JOIN lake.analytics.anomaly_events AS e ON e.node_id = m.node_id "
        "AND m.ts BETWEEN e.start_ts AND e.end_ts "
        f"WHERE e.node_id = '{event[1]}' AND e.metric = '{event[2]}' "
        f"AND e.start_ts = from_iso8601_timestamp('{event[3].replace(' ', 'T')}')",
    )
    assert int(samples[2]) == int(inside) >= 1


def test_whatif_notebook_reproduces_the_stored_decisions(
    executed: dict[str, Any], stack: Stack
) -> None:
    text = _stdout(executed["03_placement_carbon_whatif.ipynb"])
    packing = re.search(
        r"the pipeline used (\d+) nodes, this re-run (\d+) \(lower bound (\d+)\)", text
    )
    shift = re.search(
        r"location shift: (\d+) of \d+ workloads move, saving ([\d.]+) gCO2e .*"
        r"the pipeline stored (\d+) moves saving ([\d.]+) gCO2e",
        text,
    )
    assert packing and shift, text
    trino = stack.trino()
    busiest = trino.query(
        "SELECT nodes_used, lower_bound FROM lake.analytics.placement_runs "
        f"WHERE dt = DATE '{WHATIF_DAY}' ORDER BY workloads DESC, pool_id LIMIT 1"
    ).iloc[0]
    # The same solver, seed and budget on the same rows: the same node count and bound.
    assert int(packing[1]) == int(packing[2]) == int(busiest["nodes_used"])
    assert int(packing[3]) == int(busiest["lower_bound"])
    # location_shift recomputed in the notebook gives the stored recommendations of the day.
    assert int(shift[1]) == int(shift[3]) > 0
    assert float(shift[2]) == pytest.approx(float(shift[4]), abs=0.1)
