"""What the Airflow tasks do at run time (the DAG files only wire these up).

Imported by the DAG files at parse time, so everything heavy is imported inside the functions.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opslake.orchestration.submit import (
    dates_from_asset_events,
    interval_dates,
    run_submit,
    spark_submit_command,
    spark_submit_env,
)

logger = logging.getLogger(__name__)

DEFAULT_INGEST_SCHEDULE = "*/15 * * * *"
# Every DAG starts here (the generator's first day); runs before the first deploy are not caught up.
START_DATE = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
TAGS = ("opslake",)


def default_args(timeout: dt.timedelta = dt.timedelta(minutes=45)) -> dict[str, Any]:
    """Task defaults of every DAG: owner, retries with exponential backoff (1, 2, 4 min, at most 15;
    the first delay is ``OPSLAKE_RETRY_DELAY_S``), an execution timeout, and the failure callback."""
    return {
        "owner": "opslake",
        "retries": 3,
        "retry_delay": dt.timedelta(seconds=float(os.environ.get("OPSLAKE_RETRY_DELAY_S", "60"))),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=15),
        "execution_timeout": timeout,
        "on_failure_callback": log_failure,
    }


def step_doc(step: str) -> str:
    """``doc_md`` of the DAG running ``step``, from its spec."""
    from opslake.pipeline.spec import STEPS

    spec = STEPS[step]
    lines = [f"### `{spec.name}`", "", spec.doc, "", "Runs `spark_jobs/" + spec.name + ".py`", ""]
    lines += [f"- reads `{t}`" for t in (*spec.raw_inputs, *spec.inputs)]
    lines += [f"- writes `{t}` (its Asset)" for t in spec.outputs]
    return "\n".join(lines)


def ingest_schedule() -> str:
    """Cron schedule of ``telemetry_ingest`` (``OPSLAKE_INGEST_SCHEDULE``, every 15 minutes by default)."""
    return os.environ.get("OPSLAKE_INGEST_SCHEDULE", DEFAULT_INGEST_SCHEDULE)


def ingest_end_date() -> dt.datetime | None:
    """Last data interval end of ``telemetry_ingest`` (``OPSLAKE_INGEST_END_DATE``, YYYY-MM-DD), or None.

    Set, it closes the schedule: no run is scheduled after it, while manual runs and backfills inside
    it still run (re-processing a past window, the stack tests).
    """
    value = os.environ.get("OPSLAKE_INGEST_END_DATE")
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC) if value else None


def catalog_name() -> str:
    """Catalog whose tables the Assets name (``OPSLAKE_CATALOG_NAME``, as the jobs read it)."""
    from opslake.config import Settings

    default = Settings.model_fields["catalog_name"].default
    return os.environ.get("OPSLAKE_CATALOG_NAME", str(default))


def data_interval(context: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """The ``[start, end)`` data interval of the running task's DAG run.

    Raises:
        ValueError: the run has none (an Asset-triggered run): such a run processes dates instead.
    """
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise ValueError("this run has no data interval; trigger it with one (REST API, backfill)")
    return start, end


def asset_extra(dates: Sequence[str]) -> dict[str, Any]:
    """The ``extra`` of an Asset event: the dates its table was replaced for (read downstream)."""
    return {"dates": sorted(set(dates))}


def run_dates(
    conf: Mapping[str, Any] | None,
    event_extras: Iterable[Mapping[str, Any]],
    logical_date: dt.datetime | None,
) -> list[str]:
    """The dates a run processes: ``conf["dates"]`` of a manual trigger, else the dates the triggering
    Asset events carry, else the run's logical date.

    Raises:
        ValueError: none of the three names a date.
    """
    if conf and conf.get("dates"):
        return sorted({str(d) for d in conf["dates"]})
    dates = dates_from_asset_events(event_extras)
    if dates:
        return dates
    if logical_date is not None:
        return [logical_date.astimezone(dt.UTC).date().isoformat()]
    raise ValueError("no dates: trigger with conf {'dates': [...]} or through its Assets")


def land(start: dt.datetime, end: dt.datetime, drop: str | None = None) -> dict[str, int]:
    """Land the batch of the data interval ``[start, end)``: the export in the folder ``drop`` (a
    manual trigger's ``conf["drop"]``, else ``OPSLAKE_INGEST_DROP``), or the generator's rows."""
    from opslake.config import load_settings
    from opslake.orchestration.drop import land_drop
    from opslake.orchestration.landing import land_interval

    settings = load_settings()
    drop = drop or os.environ.get("OPSLAKE_INGEST_DROP")
    if drop:
        result = land_drop(settings, start, end, drop)
    else:
        result = land_interval(
            settings, start, end, settings.generator_nodes, settings.generator_workloads_per_day
        )
    logger.info("landed %s for %s .. %s from %s", result.rows_written, start, end,
                drop or "the generator")  # fmt: skip
    return result.rows_written


def gate(start: dt.datetime, end: dt.datetime) -> str:
    """Great-expectations gate on the interval's landed batch; a failure quarantines the batch and
    fails the task, so ingest does not run and no Asset is updated."""
    from opslake.config import load_settings
    from opslake.orchestration.landing import gate_interval

    message = gate_interval(load_settings(), start, end).message()
    logger.info("quality gate: %s", message)
    return message


def spark_step(step: str, dates: Sequence[str]) -> list[str]:
    """Run ``step`` for ``dates`` as a Spark application (spark-submit); returns the sorted dates."""
    from opslake.config import load_settings
    from opslake.lake.java import find_java_home
    from opslake.lake.session import spark_conf, split_secrets
    from opslake.orchestration.lineage import task_lineage_env

    settings = load_settings()
    public, _secret = split_secrets(spark_conf(settings))  # the driver sets secrets on its session
    argv = spark_submit_command(
        step, dates, settings.spark_master, profile=settings.profile, conf=public
    )
    env = spark_submit_env(os.environ, java_home=str(find_java_home()))
    env.update(task_lineage_env())  # the job's lineage runs get this task's run as their parent
    run_submit(argv, env, logger)
    return sorted(set(dates))


def ingest_dates(start: dt.datetime, end: dt.datetime) -> list[str]:
    """The dates the ingest of the interval ``[start, end)`` replaces."""
    return interval_dates(start, end)


def log_failure(context: Mapping[str, Any]) -> None:
    """Failure callback: one line naming the DAG, task, try and error (the OpenLineage provider
    emits the FAIL event of the task itself)."""
    ti = context.get("task_instance")
    logger.error(
        "opslake task failed: dag=%s task=%s try=%s run=%s error=%s",
        getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"), getattr(ti, "try_number", "?"),
        context.get("run_id"), context.get("exception"),
    )  # fmt: skip


__all__ = [
    "START_DATE",
    "TAGS",
    "asset_extra",
    "catalog_name",
    "data_interval",
    "default_args",
    "gate",
    "ingest_dates",
    "ingest_end_date",
    "ingest_schedule",
    "land",
    "log_failure",
    "run_dates",
    "spark_step",
    "step_doc",
]
