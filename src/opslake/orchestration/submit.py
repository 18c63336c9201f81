"""The ``spark-submit`` of one pipeline step, as an Airflow task runs it.

Each task launches a real Spark application (``spark_jobs/<step>.py``) in a subprocess, so the worker
that runs the task imports neither pyspark nor the jobs. No credential is put on the command line: the
driver reads them from its profile and the stack's secrets file (``opslake.config.load_settings``).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opslake.exceptions import OpslakeError
from opslake.pipeline.spec import STEPS


class SparkSubmitError(OpslakeError):
    """A step's Spark application exited non-zero."""


# Only these variables of the task's environment reach spark-submit: what Spark and opslake read.
PASSED_ENV_PREFIXES = ("OPSLAKE_", "JAVA_", "SPARK_", "PYSPARK_", "OPENLINEAGE_")
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV")


def jobs_dir() -> Path:
    """Folder of the ``spark_jobs/<step>.py`` entry points (``OPSLAKE_SPARK_JOBS_DIR`` overrides)."""
    configured = os.environ.get("OPSLAKE_SPARK_JOBS_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "spark_jobs"


def spark_submit_command(
    step: str,
    dates: Sequence[str],
    master: str,
    profile: str | None = None,
    spark_home_bin: Path | None = None,
    entry_points: Path | None = None,
    conf: Mapping[str, str] | None = None,
) -> list[str]:
    """argv of the spark-submit that runs ``step`` for ``dates`` against ``master``.

    Args:
        step: a step of the spec.
        dates: logical dates (YYYY-MM-DD) the run replaces; at least one.
        master: Spark master URL (``local[*]`` or ``spark://host:7077``); never holds a secret.
        profile: settings profile the driver loads (``stack``), or None for the environment's.
        spark_home_bin: folder holding ``spark-submit`` (default: this interpreter's, i.e. pyspark's).
        entry_points: folder of ``spark_jobs/`` (default: ``jobs_dir()``).
        conf: Spark settings known before the driver starts (``spark.jars``, ``spark.driver.memory``,
            the extensions): the JVM that spark-submit starts must have them, setting them in the
            session builder is too late. Public entries only (``opslake.lake.session.split_secrets``).

    Raises:
        KeyError: ``step`` is not a step of the spec.
        ValueError: no date, a date that is not YYYY-MM-DD, or a credential in ``conf``.
    """
    spec = STEPS[step]
    if not dates:
        raise ValueError(f"{step}: no date to run")
    checked = sorted({dt.date.fromisoformat(d).isoformat() for d in dates})
    if checked != sorted(set(dates)):
        raise ValueError(f"{step}: dates must be YYYY-MM-DD, got {list(dates)}")
    args = [a for day in checked for a in ("--date", day)]
    if profile:
        args += ["--profile", profile]
    return spark_submit_argv(spec.name, args, master, conf, spark_home_bin, entry_points)


def spark_submit_argv(
    job: str,
    args: Sequence[str],
    master: str,
    conf: Mapping[str, str] | None = None,
    spark_home_bin: Path | None = None,
    entry_points: Path | None = None,
) -> list[str]:
    """argv of the spark-submit of ``spark_jobs/<job>.py`` with the job's ``args``.

    Raises:
        ValueError: a credential in ``conf`` (a command line is visible to every user).
    """
    from opslake.lake.session import SECRET_CONF_SUFFIXES

    submit = (spark_home_bin or Path(sys.executable).parent) / "spark-submit"
    argv = [str(submit), "--master", master, "--name", f"opslake-{job}"]
    for key, value in sorted((conf or {}).items()):
        if key.endswith(SECRET_CONF_SUFFIXES):
            raise ValueError(f"{key} is a credential: it must not be on a command line")
        if key not in ("spark.master", "spark.app.name"):
            argv += ["--conf", f"{key}={value}"]
    return [*argv, str((entry_points or jobs_dir()) / f"{job}.py"), *args]


def spark_submit_env(environ: Mapping[str, str], java_home: str | None = None) -> dict[str, str]:
    """Environment of the spark-submit: the task's Spark/opslake variables, nothing else.

    The driver's Python workers must run this interpreter (it has opslake and its dependencies).
    """
    env = {k: v for k, v in environ.items() if k in PASSED_ENV or k.startswith(PASSED_ENV_PREFIXES)}
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if java_home:
        env.setdefault("JAVA_HOME", java_home)
    return env


def interval_dates(start: dt.datetime, end: dt.datetime) -> list[str]:
    """The logical dates a data interval ``[start, end)`` touches (UTC), in order."""
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if end <= start:
        return [start.date().isoformat()]
    last = (end - dt.timedelta(microseconds=1)).date()
    days = (last - start.date()).days
    return [(start.date() + dt.timedelta(days=d)).isoformat() for d in range(days + 1)]


def dates_from_asset_events(extras: Iterable[Mapping[str, Any]]) -> list[str]:
    """The dates named by the ``extra["dates"]`` of the Asset events that triggered a run.

    Upstream tasks record the dates they replaced on each Asset event; an Asset-triggered run has no
    logical date of its own, so this is what it processes.
    """
    found: set[str] = set()
    for extra in extras:
        found.update(str(d) for d in extra.get("dates", ()))
    return sorted(found)


def run_submit(argv: Sequence[str], env: Mapping[str, str], log: Any) -> None:
    """Run ``argv`` in its own process group, its output line by line into ``log.info``.

    If the task is stopped (timeout, kill, SIGTERM) while Spark runs, the whole group goes with it, so no
    orphaned driver keeps writing after Airflow gave up on the attempt.

    Raises:
        SparkSubmitError: spark-submit exited non-zero (its last lines are in the log above).
    """
    import signal
    import subprocess

    log.info("spark-submit: %s", " ".join(argv))
    proc = subprocess.Popen(
        list(argv), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.info("%s", line.rstrip())
        code = proc.wait()
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    if code != 0:
        script = next((Path(a).name for a in argv if a.endswith(".py")), argv[0])
        raise SparkSubmitError(f"spark-submit of {script} exited with {code}")
