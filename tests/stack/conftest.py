"""The real stack for integration tests: PostgreSQL, MinIO and Trino as native processes (and Marquez
when it can be installed). Services this session started are stopped at the end; services that were
already running (a developer's `make stack-up`) are reused and left running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from stacklib import Stack

from opslake.config import Settings, load_settings
from opslake.stack import manager

CORE = ("postgres", "minio", "trino")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    manager.ensure_secrets(Settings().stack_dir)
    settings = load_settings("stack")
    already = {s.name for s in manager.status(settings) if s.healthy}
    started = manager.up(settings, CORE)  # raises, naming the service, if one cannot start
    marquez = manager.up(settings, ["marquez"], keep_going=True)[0]
    out = tmp_path_factory.mktemp("stack-out")
    env = {
        **os.environ,
        "OPSLAKE_PROFILE": "stack",
        "OPSLAKE_OUT_DIR": str(out),
        "OPSLAKE_SPARK_MASTER": "local[2]",
        "OPSLAKE_SPARK_DRIVER_MEMORY": "2g",
        "OPSLAKE_SPARK_SHUFFLE_PARTITIONS": "4",
        "OPSLAKE_PLACEMENT_TIME_LIMIT_S": "0.05",
        "COLUMNS": "400",  # rich wraps at 80 columns without a terminal; keep messages on one line
    }
    overrides: dict[str, object] = {"out_dir": out}
    if marquez.error:  # lineage then goes to the JSONL file; the Marquez tests skip with the reason
        env["OPSLAKE_LINEAGE_TRANSPORT"] = "file"
        overrides["lineage_transport"] = "file"
    yield Stack(settings.model_copy(update=overrides), env, marquez.error)
    ours = [s.name for s in [*started, marquez] if s.name not in already and not s.error]
    manager.down(settings, ours)


@pytest.fixture(scope="session")
def out_dir(stack: Stack) -> Path:
    return Path(stack.env["OPSLAKE_OUT_DIR"])
