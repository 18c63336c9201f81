"""Airflow 3 as native services of the stack: api-server (UI + REST API v2), scheduler, dag-processor
and triggerer, with the LocalExecutor, metadata in the stack's PostgreSQL (database ``airflow``), the
FAB auth manager and an ``admin`` user whose generated password is in the secrets file.

Every component gets the same environment (``airflow_env``): one place for Airflow's configuration, no
``airflow.cfg`` to keep in sync. Tasks run in processes the scheduler forks, so that environment is
also what a task (and the ``spark-submit`` it launches) sees: it carries the stack's opslake settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opslake.config import Settings, data_path
from opslake.exceptions import ServiceUnavailableError
from opslake.orchestration.lineage import airflow_openlineage_env
from opslake.stack.service import Launch, Service, http_ok

API_PORT = 8082
BASE_PATH = "/datalake/airflow"  # where the gateway serves the UI; the api-server answers on it too
PARALLELISM = (
    4  # task slots; each LocalExecutor worker is a ~145 MB pre-forked process (2 cores here)
)
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def airflow_bin() -> Path:
    """The ``airflow`` command of this interpreter's environment (the project's venv)."""
    return Path(sys.executable).parent / "airflow"


def airflow_home(settings: Settings) -> Path:
    return settings.stack_dir.resolve() / "airflow"


def api_url(settings: Settings) -> str:
    """Base URL of the api-server, prefix included (the UI, ``/api/v2`` and ``/auth/token`` are under it)."""
    return f"http://127.0.0.1:{API_PORT}{BASE_PATH}"


def airflow_env(settings: Settings) -> dict[str, str]:
    """Environment of every Airflow component (and so of every task it runs).

    Raises:
        ServiceUnavailableError: the secrets file lacks Airflow's keys (run ``opslake stack up``).
    """
    keys = {
        "fernet": settings.airflow_fernet_key.get_secret_value(),
        "secret": settings.airflow_secret_key.get_secret_value(),
        "jwt": settings.airflow_jwt_secret.get_secret_value(),
    }
    if not all(keys.values()):
        raise ServiceUnavailableError(
            "airflow", "no generated keys in the secrets file: run `opslake stack up`"
        )
    password = settings.catalog_password.get_secret_value()
    database = f"postgresql+psycopg://{settings.catalog_user}:{password}@127.0.0.1:5432/airflow"
    return {
        "AIRFLOW_HOME": str(airflow_home(settings)),
        "AIRFLOW__CORE__DAGS_FOLDER": str(data_path("dags")),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet"],
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        # Loopback only: the gateway is the one door. base_url is also where tasks reach the
        # execution API, so it names the api-server itself, with the gateway's path prefix.
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(API_PORT),
        "AIRFLOW__API__BASE_URL": api_url(settings),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": keys["secret"],
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt"],
        "AIRFLOW__FAB__ENABLE_PROXY_FIX": "True",
        # New DAG files appear within a minute (default 5); parsing is cheap (nothing heavy at import).
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        # Task and DAG lineage go where the jobs' go; each Spark job names its task as parent.
        **airflow_openlineage_env(settings),
        # The tasks' opslake settings: this stack's profile and state, wherever the task's cwd is.
        "OPSLAKE_PROFILE": settings.profile,
        "OPSLAKE_STACK_DIR": str(settings.stack_dir.resolve()),
        "OPSLAKE_HOME": str(settings.home.resolve()),
        "OPSLAKE_OUT_DIR": str(settings.out_dir.resolve()),
        "OPSLAKE_CACHE_DIR": str(settings.cache_dir.resolve()),
        "OPSLAKE_SPARK_MASTER": settings.spark_master,
        "PYTHONUNBUFFERED": "1",
    }


def _run_airflow(settings: Settings, *args: str, stdin: str | None = None) -> str:
    """Run an ``airflow`` CLI command with the components' environment; its output, or raise."""
    env = {**os.environ, **airflow_env(settings)}
    proc = subprocess.run(
        [str(airflow_bin()), *args], env=env, input=stdin, capture_output=True, text=True,
        check=False, cwd=airflow_home(settings), timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ServiceUnavailableError("airflow", f"`airflow {' '.join(args)}` failed:\n{tail}")
    return proc.stdout


def _launch(settings: Settings, *args: str) -> Launch:
    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    return Launch([str(airflow_bin()), *args], airflow_env(settings))


def _prepare_api_server(settings: Settings) -> Launch:
    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    _run_airflow(settings, "db", "migrate")  # idempotent; the first component started does it
    return _launch(settings, "api-server", "--host", "127.0.0.1", "--port", str(API_PORT))


def health(settings: Settings) -> dict[str, Any] | None:
    """The api-server's ``monitor/health`` answer (no login needed), or None when it is down."""
    body = http_ok(f"{api_url(settings)}/api/v2/monitor/health")
    return dict(json.loads(body)) if body is not None else None


def _api_server_healthy(settings: Settings) -> bool:
    state = health(settings) or {}
    return bool(state.get("metadatabase", {}).get("status") == "healthy")


def _component_healthy(component: str) -> Callable[[Settings], bool]:
    """Health of ``component`` (``scheduler``, ``dag_processor``, ``triggerer``): a recent heartbeat."""

    def check(settings: Settings) -> bool:
        state = health(settings) or {}
        return bool(state.get(component, {}).get("status") == "healthy")

    return check


# Creates the admin user, or resets its password to the generated one; the password comes from the
# environment, never from a command line.
_ENSURE_ADMIN = """
import os
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
name, password = os.environ["OPSLAKE_AIRFLOW_ADMIN_USER"], os.environ["OPSLAKE_AIRFLOW_ADMIN_PASSWORD"]
with get_application_builder() as appbuilder:
    sm = appbuilder.sm
    user = sm.find_user(username=name)
    if user is None:
        role = sm.find_role("Admin")
        if not sm.add_user(name, "opslake", "admin", f"{name}@opslake.local", role, password):
            raise SystemExit(f"could not create the Airflow user {name}")
    else:
        sm.reset_password(user.id, password)
"""


def _bootstrap_api_server(settings: Settings) -> None:
    env = {
        **os.environ,
        **airflow_env(settings),
        "OPSLAKE_AIRFLOW_ADMIN_USER": settings.airflow_admin_user,
        "OPSLAKE_AIRFLOW_ADMIN_PASSWORD": settings.airflow_admin_password.get_secret_value(),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _ENSURE_ADMIN], env=env, capture_output=True, text=True,
        check=False, cwd=airflow_home(settings), timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ServiceUnavailableError("airflow-api-server", f"admin user not created:\n{tail}")


# The scheduler and triggerer would each serve logs on 8793/8794 bound to every interface; the
# api-server reads the task logs from the shared log folder instead, so no log server runs.
API_SERVER = Service(
    "airflow-api-server", (API_PORT,), 180, _prepare_api_server, _api_server_healthy,
    _bootstrap_api_server,
)  # fmt: skip
SCHEDULER = Service(
    "airflow-scheduler", (), 120,
    lambda s: _launch(s, "scheduler", "--skip-serve-logs"), _component_healthy("scheduler"),
)  # fmt: skip
DAG_PROCESSOR = Service(
    "airflow-dag-processor", (), 120,
    lambda s: _launch(s, "dag-processor"), _component_healthy("dag_processor"),
)  # fmt: skip
TRIGGERER = Service(
    "airflow-triggerer", (), 120,
    lambda s: _launch(s, "triggerer", "--skip-serve-logs"), _component_healthy("triggerer"),
)  # fmt: skip

AIRFLOW_SERVICES = (API_SERVER, SCHEDULER, DAG_PROCESSOR, TRIGGERER)
