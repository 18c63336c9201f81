"""OpenLineage on the Airflow side: where the provider sends its events, and the parent a task hands to
the Spark job it launches.

The Airflow OpenLineage provider emits START/COMPLETE/FAIL of every DAG run and task instance. Given
``airflow_openlineage_env(settings)`` it sends them to the same place as the jobs' own events (the
lineage file, or Marquez), in the same namespace. ``task_lineage_env()`` computes, inside a running
task, the identifiers of that task's OpenLineage run exactly as the provider does (its own macros), so
the Spark job's ``parent`` facet names the run whose START/COMPLETE Airflow emitted, and its ``root``
the DAG run.

Imported at DAG parse time through ``opslake.orchestration.tasks``: Airflow and opslake's lineage
package are imported inside the functions.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from opslake.exceptions import ConfigError

if TYPE_CHECKING:
    from opslake.config import Settings
    from opslake.lineage.parent import ParentRun

logger = logging.getLogger(__name__)

# The provider's HTTP transport retries with back-off within its 10 s execution timeout per event;
# keep an unreachable Marquez well inside that (3 tries of at most 2 s).
HTTP_TIMEOUT_S = 2.0
HTTP_RETRY = {
    "total": 2,
    "connect": 2,
    "read": 2,
    "backoff_factor": 0.3,
    "status_forcelist": [500, 502, 503, 504],
    "allowed_methods": ["HEAD", "POST"],
}


def openlineage_transport(settings: Settings) -> dict[str, Any]:
    """The provider's ``[openlineage] transport``: the destination ``settings`` give the jobs.

    ``file``: append to ``settings.lineage_file`` (one event per line, like the jobs' ``FileSender``;
    without ``append`` the provider writes one file per event), whose folder this creates. ``http``: Marquez's
    ``/api/v1/lineage`` under ``settings.lineage_url`` (a path prefix such as a gateway's
    ``/datalake/marquez`` is kept: the client joins url and endpoint with ``urljoin``, which keeps
    the prefix only when the url ends with ``/``).

    Raises:
        ConfigError: ``lineage_transport`` names no known transport.
    """
    if settings.lineage_transport == "file":
        # Absolute: Airflow components and task processes need not share the caller's cwd. The
        # provider's file transport does not create the folder: until something did, it drops events.
        path = settings.lineage_file.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return {"type": "file", "log_file_path": str(path), "append": True}
    if settings.lineage_transport == "http":
        return {
            "type": "http",
            "url": settings.lineage_url.rstrip("/") + "/",
            "endpoint": "api/v1/lineage",
            "timeout": HTTP_TIMEOUT_S,
            "retry": HTTP_RETRY,
        }
    raise ConfigError(
        f"unknown lineage transport {settings.lineage_transport!r} (OPSLAKE_LINEAGE_TRANSPORT: "
        "file or http)"
    )


def airflow_openlineage_env(settings: Settings) -> dict[str, str]:
    """Environment for every Airflow component (api-server, scheduler, dag-processor, triggerer and
    the task processes they start) so the OpenLineage provider sends DAG and task events where the
    jobs send theirs, in the jobs' namespace.

    Raises:
        ConfigError: ``lineage_transport`` names no known transport.
    """
    return {
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": settings.lineage_namespace,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(openlineage_transport(settings)),
    }


def task_parent(task_instance: Any) -> ParentRun:
    """The OpenLineage run of ``task_instance`` (as parent) and of its DAG run (as root).

    Computed by the provider's macros (``lineage_job_namespace``, ``lineage_job_name``,
    ``lineage_run_id`` and their ``root`` forms), i.e. by the deterministic ids the provider's
    listener gives the task's own events: ``<dag_id>.<task_id>`` with a run id from dag, task, try
    number, map index and logical date; the root is the DAG run (or the root a triggering system put
    in the run's ``conf["openlineage"]``).
    """
    from airflow.providers.openlineage.plugins import macros

    from opslake.lineage.parent import ParentRun, RunRef

    return ParentRun(
        parent=RunRef(
            macros.lineage_job_namespace(),  # type: ignore[no-untyped-call]
            macros.lineage_job_name(task_instance),
            macros.lineage_run_id(task_instance),
        ),
        root=RunRef(
            macros.lineage_root_job_namespace(task_instance),
            macros.lineage_root_job_name(task_instance),
            macros.lineage_root_run_id(task_instance),
        ),
    )


def task_lineage_env() -> dict[str, str]:
    """``OPENLINEAGE_PARENT_ID`` / ``OPENLINEAGE_ROOT_PARENT_ID`` of the running task, for the
    processes it starts (the spark-submit of a step); empty outside a task or when the provider is
    disabled (the ids would name runs nobody recorded). Never raises: lineage never fails a task.
    """
    try:
        from airflow.providers.openlineage import conf
        from airflow.sdk import get_current_context
    except ImportError:
        return {}
    if conf.is_disabled():
        return {}
    try:
        task_instance = get_current_context()["ti"]
    except (RuntimeError, KeyError):  # not inside a running task
        return {}
    try:
        return task_parent(task_instance).env()
    except Exception:  # a provider change must not fail the task; the job then has no parent
        logger.warning("could not compute the task's OpenLineage parent", exc_info=True)
        return {}


__all__ = [
    "airflow_openlineage_env",
    "openlineage_transport",
    "task_lineage_env",
    "task_parent",
]
