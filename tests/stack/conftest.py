"""The real stack for integration tests: PostgreSQL, MinIO, Trino and Marquez (API and web UI) as
native processes; lineage goes to Marquez over HTTP, the stack profile's transport. Services this
session started are stopped at the end; services that were already running (a developer's
`make stack-up`) are reused and left running.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stacklib import RUN_ARGS, Stack

from opslake.config import Settings, load_settings
from opslake.stack import manager
from opslake.stack.gateway import gateway_url
from opslake.stack.services import SERVICES

CORE = ("postgres", "minio", "trino", "marquez", "marquez-web")
# Behind the gateway as well (tests that go through it start them with `door`).
DOOR = ("spark-master", "spark-worker", "airflow-api-server", "jupyter", "gateway")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    manager.ensure_secrets(Settings().stack_dir)
    settings = load_settings("stack")
    already = {s.name for s in manager.status(settings) if s.healthy}
    started = manager.up(settings, CORE)  # raises, naming the service, if one cannot start
    out = tmp_path_factory.mktemp("stack-out")
    env = {
        **os.environ,
        "OPSLAKE_PROFILE": "stack",
        "OPSLAKE_OUT_DIR": str(out),
        "OPSLAKE_SPARK_MASTER": "local[2]",
        "OPSLAKE_SPARK_DRIVER_MEMORY": "2g",
        "OPSLAKE_SPARK_SHUFFLE_PARTITIONS": "4",
        "OPSLAKE_PLACEMENT_ITERATIONS": "300",
        "COLUMNS": "400",  # rich wraps at 80 columns without a terminal; keep messages on one line
    }
    yield Stack(settings.model_copy(update={"out_dir": out}), env)
    manager.down(settings, [s.name for s in started if s.name not in already])


@pytest.fixture(scope="session")
def out_dir(stack: Stack) -> Path:
    return Path(stack.env["OPSLAKE_OUT_DIR"])


@pytest.fixture(scope="session")
def first_run(stack: Stack, out_dir: Path) -> dict[str, Any]:
    """One pipeline run on the stack, shared by the test files (the Marquez tests read its lineage)."""
    proc = stack.opslake(*RUN_ARGS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary: dict[str, Any] = json.loads((out_dir / "summary.json").read_text())
    return summary


@pytest.fixture(scope="session")
def door(stack: Stack, first_run: dict[str, Any]) -> Iterator[str]:
    """The gateway's URL, with every service behind it up (after the shared pipeline run, so the
    UIs have data to show). Services this session started are stopped at its end."""
    wanted = [name for name in DOOR if name in SERVICES]
    already = {s.name for s in manager.status(stack.settings) if s.healthy}
    started = manager.up(stack.settings, wanted)
    yield gateway_url(stack.settings)
    manager.down(stack.settings, [s.name for s in started if s.name not in already])


@pytest.fixture(scope="module")
def jupyter(stack: Stack) -> Iterator[Settings]:
    """The `jupyter` service of the stack, started here unless it already runs."""
    settings = stack.settings
    running = any(s.healthy for s in manager.status(settings, ["jupyter"]))
    manager.up(settings, ["jupyter"])
    yield settings
    if not running:
        manager.down(settings, ["jupyter"])
