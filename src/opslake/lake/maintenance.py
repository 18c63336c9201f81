"""Iceberg table maintenance through Iceberg's Spark procedures: compaction, snapshot expiry, orphans.

Every declared table (``opslake.pipeline.tables.TABLES``) gets, in this order:

1. ``rewrite_data_files``: bin-packs the small files of a partition into one (a partition is rewritten
   only when it has ``min_input_files`` or more small files, so a compacted partition costs a manifest
   read, nothing more);
2. ``expire_snapshots``: drops snapshots older than ``snapshot_age`` (keeping the last ``retain_last``)
   and deletes the files only they referenced, among them the files step 1 replaced;
3. ``remove_orphan_files``: deletes files under the table's location that no snapshot or metadata file
   references and that are older than ``orphan_age`` (failed writes, killed jobs). The age is the
   safety window: a write still in flight has files that nothing references *yet*, and they must
   never look like orphans, so it cannot go below a day (Iceberg refuses shorter windows too).

Files are listed through the table's FileIO (``prefix_listing``), not Hadoop's file systems, so the same
calls work on the embedded lake (``file://``) and on MinIO (``s3://``, ``S3FileIO``; Spark has no
Hadoop ``s3`` file system here). The procedures need the Iceberg SQL extensions, which
``opslake.lake.session.spark_conf`` sets on every session.

This module is imported by the ``lake_maintenance`` DAG's task at run time; pyspark is imported only
inside the functions that need a session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opslake.pipeline.tables import TABLES, TableSpec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from opslake.config import Settings

logger = logging.getLogger(__name__)

# Iceberg's own floor for remove_orphan_files: anything younger may belong to a write in flight.
MIN_ORPHAN_AGE = dt.timedelta(days=1)
JOB_NAME = "lake_maintenance"
ENV_PREFIX = "OPSLAKE_MAINTENANCE_"
# Daily, at an hour away from midnight's burst of date rollovers (ingest and the daily steps).
DEFAULT_SCHEDULE = "30 3 * * *"


def maintenance_schedule(environ: Mapping[str, str] | None = None) -> str:
    """Cron schedule of the ``lake_maintenance`` DAG (``OPSLAKE_MAINTENANCE_SCHEDULE``, daily at
    03:30 UTC by default)."""
    env = os.environ if environ is None else environ
    return env.get(ENV_PREFIX + "SCHEDULE", "").strip() or DEFAULT_SCHEDULE


@dataclass(frozen=True)
class MaintenancePolicy:
    """How much history to keep and what to compact.

    Attributes:
        snapshot_age: snapshots older than this are expired (Iceberg's default is 5 days); time travel
            reaches back this far.
        retain_last: snapshots kept per table whatever their age (at least 1, the current one).
        orphan_age: only unreferenced files older than this are deleted; at least ``MIN_ORPHAN_AGE``.
        compact_days: compact only partitions dated within this many days before the run's date
            (tables partitioned by ``dt``); None compacts whole tables, which stays cheap because a
            partition already made of one file is skipped at planning time.
        min_input_files: a partition is rewritten only when it has this many small files.
    """

    snapshot_age: dt.timedelta = dt.timedelta(days=5)
    retain_last: int = 10
    orphan_age: dt.timedelta = dt.timedelta(days=3)
    compact_days: int | None = None
    min_input_files: int = 2

    def __post_init__(self) -> None:
        if self.retain_last < 1:
            raise ValueError(f"retain_last must be at least 1, got {self.retain_last}")
        if self.snapshot_age < dt.timedelta(0):
            raise ValueError(f"snapshot_age must not be negative, got {self.snapshot_age}")
        if self.orphan_age < MIN_ORPHAN_AGE:
            raise ValueError(
                f"orphan_age {self.orphan_age} is below the safety window {MIN_ORPHAN_AGE}: files "
                "of writes still in flight would be deleted as orphans"
            )
        if self.compact_days is not None and self.compact_days < 0:
            raise ValueError(f"compact_days must not be negative, got {self.compact_days}")
        if self.min_input_files < 2:
            raise ValueError(f"min_input_files must be at least 2, got {self.min_input_files}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MaintenancePolicy:
        """The policy set by ``OPSLAKE_MAINTENANCE_*`` variables, defaults for those unset.

        ``SNAPSHOT_AGE_DAYS`` and ``ORPHAN_AGE_DAYS`` (may be fractional), ``RETAIN_LAST``,
        ``COMPACT_DAYS`` (empty: whole tables), ``MIN_INPUT_FILES``.

        Raises:
            ValueError: a value is not a number or breaks a rule of the policy.
        """
        env = os.environ if environ is None else environ
        default = cls()

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        def days(name: str, fallback: dt.timedelta) -> dt.timedelta:
            value = get(name)
            return fallback if value is None else dt.timedelta(days=float(value))

        def number(name: str, fallback: int | None) -> int | None:
            value = get(name)
            return fallback if value is None else int(value)

        retain = number("RETAIN_LAST", default.retain_last)
        min_files = number("MIN_INPUT_FILES", default.min_input_files)
        assert retain is not None and min_files is not None  # both have defaults
        return cls(
            snapshot_age=days("SNAPSHOT_AGE_DAYS", default.snapshot_age),
            retain_last=retain,
            orphan_age=days("ORPHAN_AGE_DAYS", default.orphan_age),
            compact_days=number("COMPACT_DAYS", default.compact_days),
            min_input_files=min_files,
        )


def _days(span: dt.timedelta) -> str:
    days = span / dt.timedelta(days=1)
    return f"{days:g} day" + ("" if days == 1 else "s")


def policy_doc(policy: MaintenancePolicy, schedule: str) -> str:
    """Markdown for the DAG's docs: the schedule and windows in force, and the variables that set them."""
    compact = (
        "whole tables"
        if policy.compact_days is None
        else f"partitions of the last {policy.compact_days} days"
    )
    rows = [
        ("schedule (cron, UTC)", schedule, "SCHEDULE"),
        ("snapshots expire after", _days(policy.snapshot_age), "SNAPSHOT_AGE_DAYS"),
        ("snapshots always kept", str(policy.retain_last), "RETAIN_LAST"),
        (
            "orphan files removed after",
            f"{_days(policy.orphan_age)} (at least {_days(MIN_ORPHAN_AGE)})",
            "ORPHAN_AGE_DAYS",
        ),
        ("compaction covers", compact, "COMPACT_DAYS"),
        (
            "small files that make a partition worth compacting",
            str(policy.min_input_files),
            "MIN_INPUT_FILES",
        ),
    ]
    lines = ["| setting | value | variable |", "|---|---|---|"]
    lines += [f"| {what} | {value} | `{ENV_PREFIX}{var}` |" for what, value, var in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table.

    ``status`` is ``ok``, ``missing`` (declared but not created yet: nothing to do) or ``failed``
    (``error`` says why; the other tables were still maintained).
    """

    table: str
    status: Literal["ok", "missing", "failed"]
    data_files_before: int = 0
    data_files_after: int = 0
    rewritten_data_files: int = 0
    added_data_files: int = 0
    rewritten_bytes: int = 0
    snapshots_before: int = 0
    snapshots_after: int = 0
    deleted_data_files: int = 0
    orphan_files: tuple[str, ...] = ()
    error: str | None = None

    @property
    def snapshots_expired(self) -> int:
        return self.snapshots_before - self.snapshots_after

    def line(self) -> str:
        """One log line."""
        if self.status != "ok":
            return f"{self.table}: {self.status}" + (f" ({self.error})" if self.error else "")
        return (
            f"{self.table}: data files {self.data_files_before} -> {self.data_files_after} "
            f"({self.rewritten_data_files} rewritten into {self.added_data_files}), snapshots "
            f"{self.snapshots_before} -> {self.snapshots_after}, {self.deleted_data_files} expired "
            f"data files deleted, {len(self.orphan_files)} orphan files removed"
        )


@dataclass(frozen=True)
class MaintenanceReport:
    """Maintenance of every table, in declaration order."""

    tables: tuple[TableMaintenance, ...]

    @property
    def failed(self) -> tuple[TableMaintenance, ...]:
        return tuple(t for t in self.tables if t.status == "failed")


# --- SQL of the procedures (pure) --------------------------------------------------------------------


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def timestamp_literal(moment: dt.datetime) -> str:
    """A Spark ``TIMESTAMP`` literal for an aware datetime, with its UTC offset spelled out, so the
    session's time zone cannot shift it."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone")
    return f"TIMESTAMP '{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f}+00:00'"


def table_names(catalog: str, tables: Mapping[str, TableSpec] = TABLES) -> list[str]:
    """``catalog.namespace.table`` of every declared table, in declaration order."""
    return [f"{catalog}.{key}" for key in tables]


def compaction_filter(spec: TableSpec, today: dt.date, compact_days: int | None) -> str | None:
    """The ``where`` of ``rewrite_data_files`` for ``spec``: its recent ``dt`` partitions, or None
    (whole table) without a window or for a table not partitioned by date."""
    if compact_days is None or not spec.by_date:
        return None
    return f"dt >= DATE '{today - dt.timedelta(days=compact_days)}'"


def rewrite_sql(catalog: str, key: str, where: str | None, min_input_files: int) -> str:
    """``CALL rewrite_data_files`` (bin-pack) of table ``key`` (``namespace.table``)."""
    args = [
        f"table => {_quote(key)}",
        "strategy => 'binpack'",
        f"options => map('min-input-files', '{min_input_files}')",
    ]
    if where:
        args.append(f"where => {_quote(where)}")
    return f"CALL {catalog}.system.rewrite_data_files({', '.join(args)})"


def expire_sql(catalog: str, key: str, older_than: dt.datetime, retain_last: int) -> str:
    """``CALL expire_snapshots`` of table ``key``: older than ``older_than``, keeping ``retain_last``."""
    return (
        f"CALL {catalog}.system.expire_snapshots(table => {_quote(key)}, "
        f"older_than => {timestamp_literal(older_than)}, retain_last => {retain_last})"
    )


def orphans_sql(catalog: str, key: str, older_than: dt.datetime) -> str:
    """``CALL remove_orphan_files`` of table ``key``, listing through the table's FileIO."""
    return (
        f"CALL {catalog}.system.remove_orphan_files(table => {_quote(key)}, "
        f"older_than => {timestamp_literal(older_than)}, prefix_listing => true)"
    )


# --- running them ------------------------------------------------------------------------------------


def _count(spark: SparkSession, sql: str) -> int:
    return int(spark.sql(sql).collect()[0][0])


def _error_line(exc: BaseException) -> str:
    """The first line of the error; for a JVM exception pyspark did not convert (procedures raise
    those), the Java exception's own message rather than py4j's "error calling o62.sql"."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString() if java is not None else exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]


def maintain_table(
    spark: SparkSession,
    catalog: str,
    key: str,
    policy: MaintenancePolicy,
    now: dt.datetime,
    spec: TableSpec | None = None,
) -> TableMaintenance:
    """Compact, expire and clean table ``key`` (``namespace.table``) of ``catalog``.

    Args:
        spark: a session with the Iceberg extensions and ``catalog`` configured.
        catalog: the Spark catalog name.
        key: the declared table, ``namespace.table``.
        policy: the windows and thresholds.
        now: the run's wall-clock time (aware); the age windows count back from it.
        spec: the table's declaration (default ``TABLES[key]``), for its partitioning.

    Raises:
        Exception: whatever Spark or Iceberg raised (``maintain_lake`` records it per table).
    """
    name = f"{catalog}.{key}"
    spec = spec or TABLES[key]
    if not spark.catalog.tableExists(name):
        return TableMaintenance(name, "missing")
    files_before = _count(spark, f"SELECT count(*) FROM {name}.data_files")
    where = compaction_filter(spec, now.astimezone(dt.UTC).date(), policy.compact_days)
    rewrite = spark.sql(rewrite_sql(catalog, key, where, policy.min_input_files)).collect()[0]
    snapshots_before = _count(spark, f"SELECT count(*) FROM {name}.snapshots")
    expired = spark.sql(
        expire_sql(catalog, key, now - policy.snapshot_age, policy.retain_last)
    ).collect()[0]
    orphans = spark.sql(orphans_sql(catalog, key, now - policy.orphan_age)).collect()
    spark.catalog.refreshTable(name)  # the session's cached table must see the new snapshot
    return TableMaintenance(
        table=name,
        status="ok",
        data_files_before=files_before,
        data_files_after=_count(spark, f"SELECT count(*) FROM {name}.data_files"),
        rewritten_data_files=int(rewrite["rewritten_data_files_count"]),
        added_data_files=int(rewrite["added_data_files_count"]),
        rewritten_bytes=int(rewrite["rewritten_bytes_count"]),
        snapshots_before=snapshots_before,
        snapshots_after=_count(spark, f"SELECT count(*) FROM {name}.snapshots"),
        deleted_data_files=int(expired["deleted_data_files_count"] or 0),
        orphan_files=tuple(sorted(str(r["orphan_file_location"]) for r in orphans)),
    )


def maintain_lake(
    spark: SparkSession,
    catalog: str,
    policy: MaintenancePolicy | None = None,
    now: dt.datetime | None = None,
    tables: Mapping[str, TableSpec] = TABLES,
) -> MaintenanceReport:
    """Maintain every declared table of ``catalog``; a table that fails does not stop the others.

    Args:
        spark: a session with the Iceberg extensions and ``catalog`` configured.
        catalog: the Spark catalog name.
        policy: windows and thresholds (default: ``MaintenancePolicy.from_env()``).
        now: the reference time of the age windows (default: the current time).
        tables: the declared tables (default: all of ``opslake.pipeline.tables``).

    Returns:
        One ``TableMaintenance`` per table; check ``failed``.
    """
    policy = policy or MaintenancePolicy.from_env()
    now = now or dt.datetime.now(dt.UTC)
    results = []
    for key, spec in tables.items():
        try:
            result = maintain_table(spark, catalog, key, policy, now, spec)
        except Exception as exc:  # one table's conflict or bad file must not stop the rest
            logger.exception("maintenance of %s.%s failed", catalog, key)
            result = TableMaintenance(f"{catalog}.{key}", "failed", error=_error_line(exc))
        logger.info("%s", result.line())
        results.append(result)
    return MaintenanceReport(tuple(results))


def reapply_views(settings: Settings, spark: SparkSession) -> list[str]:
    """Re-create the ``sql/views`` over the maintained tables with the configured SQL engine (Trino on
    the stack, this Spark session on the embedded lake): the same code ``opslake run`` ends with.

    Raises:
        ServiceUnavailableError: the engine (Trino) is down.
        QueryError: a view failed to apply.
    """
    from opslake.query import apply_views, engine_for

    with engine_for(settings, spark) as engine:
        applied = apply_views(engine, settings.catalog_name)
        logger.info("views applied with %s: %s", engine.dialect, ", ".join(applied))
        return applied


# --- the spark-submit that the DAG task runs ---------------------------------------------------------


def maintenance_submit_command(
    master: str,
    profile: str | None = None,
    conf: Mapping[str, str] | None = None,
    spark_home_bin: Path | None = None,
    entry_points: Path | None = None,
) -> list[str]:
    """argv of the spark-submit of ``spark_jobs/lake_maintenance.py`` against ``master``.

    Like ``opslake.orchestration.submit.spark_submit_command`` for a step: this venv's spark-submit,
    the session's public conf as ``--conf`` (the JVM needs the jars and extensions at start), never a
    credential (the driver reads those from its profile).

    Raises:
        ValueError: a credential in ``conf``.
    """
    from opslake.orchestration.submit import spark_submit_argv

    args = ["--profile", profile] if profile else []
    return spark_submit_argv(JOB_NAME, args, master, conf, spark_home_bin, entry_points)


def submit_maintenance(log: Any = logger) -> None:
    """Run the maintenance job as a Spark application (what the DAG's task does).

    The ``OPSLAKE_MAINTENANCE_*`` variables of the task's environment reach the driver with the
    other ``OPSLAKE_`` ones.

    Raises:
        SparkSubmitError: the application exited non-zero (a table failed, or the views did).
    """
    from opslake.config import load_settings
    from opslake.lake.java import find_java_home
    from opslake.lake.session import spark_conf, split_secrets
    from opslake.orchestration.submit import run_submit, spark_submit_env

    settings = load_settings()
    public, _secret = split_secrets(spark_conf(settings))
    argv = maintenance_submit_command(settings.spark_master, settings.profile, public)
    run_submit(argv, spark_submit_env(os.environ, java_home=str(find_java_home())), log)


# --- the job's main ----------------------------------------------------------------------------------


def _parser() -> Any:
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"spark_jobs/{JOB_NAME}.py",
        description="Compact, expire snapshots and remove orphan files of every declared Iceberg "
        "table, then re-apply the sql/ views. Unset options come from OPSLAKE_MAINTENANCE_*.",
    )
    parser.add_argument("--profile", default=None)
    parser.add_argument("--snapshot-age-days", type=float, default=None)
    parser.add_argument("--retain-last", type=int, default=None)
    parser.add_argument("--orphan-age-days", type=float, default=None)
    parser.add_argument("--compact-days", type=int, default=None)
    parser.add_argument("--table", action="append", dest="tables", help="namespace.table (repeat)")
    parser.add_argument("--no-views", action="store_true", help="do not re-apply the views")
    return parser


def policy_from_args(args: Any, environ: Mapping[str, str] | None = None) -> MaintenancePolicy:
    """The environment's policy with the command line's options on top."""
    base = MaintenancePolicy.from_env(environ)
    updates: dict[str, Any] = {}
    if args.snapshot_age_days is not None:
        updates["snapshot_age"] = dt.timedelta(days=args.snapshot_age_days)
    if args.retain_last is not None:
        updates["retain_last"] = args.retain_last
    if args.orphan_age_days is not None:
        updates["orphan_age"] = dt.timedelta(days=args.orphan_age_days)
    if args.compact_days is not None:
        updates["compact_days"] = args.compact_days
    return dataclasses.replace(base, **updates)


def selected_tables(keys: Iterable[str] | None) -> dict[str, TableSpec]:
    """The declared tables named by ``keys`` (all of them for None).

    Raises:
        KeyError: a key that is not a declared table.
    """
    if not keys:
        return dict(TABLES)
    unknown = sorted(set(keys) - set(TABLES))
    if unknown:
        raise KeyError(f"not declared tables: {unknown}; known: {sorted(TABLES)}")
    return {k: TABLES[k] for k in TABLES if k in set(keys)}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spark_jobs/lake_maintenance.py``: 0 when every table and the views are done."""
    from opslake.config import load_settings
    from opslake.exceptions import OpslakeError
    from opslake.lake.session import build_session

    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        policy = policy_from_args(args)
        tables = selected_tables(args.tables)
    except (ValueError, KeyError) as exc:
        parser.error(str(exc))
    try:
        settings = load_settings(args.profile)
        spark = build_session(settings, app_name=f"opslake-{JOB_NAME}")
        try:
            logger.info("maintenance policy: %s", policy)
            report = maintain_lake(spark, settings.catalog_name, policy, tables=tables)
            if not args.no_views:
                reapply_views(settings, spark)
        finally:
            spark.stop()
    except OpslakeError as exc:
        logger.error("%s failed: %s", JOB_NAME, exc)
        return 1
    for failed in report.failed:
        logger.error("%s", failed.line())
    return 1 if report.failed else 0
