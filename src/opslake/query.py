"""SQL over the catalog: Trino in the stack profile, Spark SQL in the embedded one (``sql_engine``).

One SQL source: the files in ``sql/`` (shipped as package data) are Trino SQL, the dialect SQL users
write against the stack. The Spark engine runs them transpiled by sqlglot, so the views
(``sql/views/*.sql``, applied in file order) and canned queries (``sql/queries/*.sql``) exist once and
work on both profiles. On Spark the views are persistent Iceberg views in the same JDBC catalog as the
tables (schema version V1 keeps views), visible to every session, like Trino's.

SQL files name tables as ``{catalog}.{telemetry}.x`` / ``{catalog}.{analytics}.y`` so the same DDL can be
applied to other namespaces (the tests build views over a small known dataset).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from opslake.config import Settings, data_path
from opslake.exceptions import (
    ConfigError,
    NotFoundError,
    OpslakeError,
    QueryError,
    ServiceUnavailableError,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

# The dialect of the files in sql/, and the sqlglot dialect of each sql_engine.
SOURCE_DIALECT = "trino"
ENGINE_DIALECTS = {"trino": "trino", "spark": "spark"}


class QueryEngine(Protocol):
    """A SQL engine over the catalog; ``dialect`` is its sqlglot dialect name."""

    dialect: str

    def query(self, sql: str, limit: int | None = None) -> pd.DataFrame: ...

    def execute(self, sql: str) -> None: ...


def engine_dialect(settings: Settings) -> str:
    """The SQL dialect of the engine ``settings`` names (ConfigError for an unknown engine)."""
    try:
        return ENGINE_DIALECTS[settings.sql_engine]
    except KeyError:
        raise ConfigError(
            f"unknown sql_engine {settings.sql_engine!r} (known: {', '.join(ENGINE_DIALECTS)})"
        ) from None


# --- SQL text: files, transpilation, limits ----------------------------------------------------------


def sql_dir() -> Path:
    """The shipped ``sql/`` folder."""
    return data_path("sql")


def render(
    path: Path, catalog: str, telemetry: str = "telemetry", analytics: str = "analytics"
) -> str:
    """The SQL in ``path`` with the catalog and namespace placeholders filled in (Trino dialect)."""
    text = path.read_text()
    return (
        text.format(catalog=catalog, telemetry=telemetry, analytics=analytics).strip().rstrip(";")
    )


def transpile(sql: str, dialect: str) -> str:
    """One Trino statement in ``dialect``: unchanged for Trino, translated by sqlglot otherwise.

    Raises QueryError when sqlglot cannot express the statement in ``dialect``.
    """
    if dialect == SOURCE_DIALECT:
        return sql
    try:
        statements = sqlglot.transpile(
            sql, read=SOURCE_DIALECT, write=dialect, unsupported_level=ErrorLevel.RAISE
        )
    except SqlglotError as exc:
        raise QueryError(f"cannot translate this SQL to {dialect}: {exc}\n{sql}") from exc
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, found {len(statements)}:\n{sql}")
    return statements[0]


def _literal_int(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None


def _parse_query(sql: str, dialect: str) -> exp.Query | None:
    """``sql`` as one query (SELECT, set operation, ...), or None for anything else or unparsable."""
    sqlglot_logger = logging.getLogger("sqlglot")
    level = sqlglot_logger.level
    sqlglot_logger.setLevel(logging.ERROR)  # SHOW/DESCRIBE fall back to a Command with a warning
    try:
        statements = sqlglot.parse(sql, read=dialect)
    except SqlglotError:
        return None  # the engine is the judge of its own SQL: it reports the error
    finally:
        sqlglot_logger.setLevel(level)
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return None
    return statements[0]


def with_limit(sql: str, limit: int, dialect: str) -> str | None:
    """``sql`` returning at most ``limit`` rows, with the limit in the statement so the engine plans it.

    An existing smaller ``LIMIT``/``FETCH FIRST`` leaves the text unchanged; a larger one is lowered.
    Returns None when ``sql`` is not a single query sqlglot can rewrite (``SHOW TABLES``, a syntax error,
    a non-literal limit): callers then cap the rows on the client side.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    query = _parse_query(sql, dialect)
    if query is None:
        return None
    current = query.args.get("limit")
    if current is not None:
        size = _literal_int(
            current.args.get("count") if isinstance(current, exp.Fetch) else current.expression
        )
        if size is None:
            return None
        if size <= limit:
            return sql
    return query.limit(limit).sql(dialect=dialect)


def _files(kind: str, base: Path | None) -> list[Path]:
    return sorted(((base or sql_dir()) / kind).glob("*.sql"))


def view_files(base: Path | None = None) -> list[Path]:
    """The view definitions, in the order they must be applied (later views may use earlier ones)."""
    return _files("views", base)


def canned_query_names(base: Path | None = None) -> list[str]:
    return [p.stem for p in _files("queries", base)]


def view_statements(
    catalog: str,
    dialect: str,
    telemetry: str = "telemetry",
    analytics: str = "analytics",
    base: Path | None = None,
) -> list[tuple[str, str]]:
    """``(file name, CREATE OR REPLACE VIEW statement in dialect)`` for every view, in order."""
    return [
        (path.name, transpile(render(path, catalog, telemetry, analytics), dialect))
        for path in view_files(base)
    ]


def apply_views(
    engine: QueryEngine,
    catalog: str,
    telemetry: str = "telemetry",
    analytics: str = "analytics",
    sql_dir: Path | None = None,
) -> list[str]:
    """Create or replace every view in ``sql/views`` with ``engine``; returns the files applied, in order."""
    applied = []
    for name, statement in view_statements(catalog, engine.dialect, telemetry, analytics, sql_dir):
        engine.execute(statement)
        applied.append(name)
    return applied


def canned_query(
    name: str, catalog: str, dialect: str = SOURCE_DIALECT, sql_dir: Path | None = None
) -> str:
    """The SQL of the canned query ``sql/queries/<name>.sql`` in ``dialect``."""
    path = (sql_dir or data_path("sql")) / "queries" / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(canned_query_names(sql_dir))
        raise NotFoundError(f"no canned query {name!r}; known: {known}")
    return transpile(render(path, catalog), dialect)


def resolve(text: str, catalog: str, dialect: str) -> str:
    """The SQL that ``opslake query`` runs for ``text``.

    ``@name`` is the canned query ``sql/queries/<name>.sql`` in ``dialect``; any other text is SQL in
    the engine's own dialect, passed unchanged.
    """
    return canned_query(text[1:], catalog, dialect) if text.startswith("@") else text


# --- engines ----------------------------------------------------------------------------------------


class TrinoEngine:
    """Trino over HTTP; every connection failure becomes a ServiceUnavailableError naming Trino."""

    dialect = "trino"

    def __init__(self, settings: Settings) -> None:
        import trino

        from opslake.lake.preflight import require, trino_endpoint

        require([trino_endpoint(settings)])
        self.address = f"{settings.trino_host}:{settings.trino_port}"
        self._conn = trino.dbapi.connect(  # type: ignore[no-untyped-call]
            host=settings.trino_host,
            port=settings.trino_port,
            user=settings.trino_user,
            catalog=settings.catalog_name,
            request_timeout=120,
        )

    def _run(self, sql: str, max_rows: int | None) -> tuple[list[str], list[list[Any]]]:
        import requests
        import trino

        cur = self._conn.cursor()
        try:
            cur.execute(sql)
            rows = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows)
        except trino.exceptions.TrinoQueryError as exc:  # the query failed: syntax, table, runtime
            raise QueryError(f"Trino: {exc.error_name}: {exc.message}") from exc
        except (
            requests.exceptions.ConnectionError,
            trino.exceptions.HttpError,
            trino.exceptions.OperationalError,
        ) as exc:
            raise ServiceUnavailableError(f"Trino at {self.address}", str(exc)) from exc
        finally:
            cur.close()  # cancels whatever the engine has not sent yet
        columns = [d[0] for d in cur.description or []]
        return columns, rows

    def query(self, sql: str, limit: int | None = None) -> pd.DataFrame:
        """Rows of ``sql``; with ``limit``, the statement carries the LIMIT (or the cursor stops there)."""
        statement = sql if limit is None else (with_limit(sql, limit, self.dialect) or sql)
        columns, rows = self._run(statement, limit)
        return pd.DataFrame(rows, columns=columns)

    def execute(self, sql: str) -> None:
        self._run(sql, None)


def _spark_message(exc: Exception) -> str:
    """A Spark error without the logical plan and JVM stack that follow the message."""
    text = str(exc).strip()
    if type(exc).__name__ == "ParseException":
        return text  # the message ends with the statement and a caret under the error
    first = text.splitlines()[0] if text else type(exc).__name__
    if "TABLE_OR_VIEW_NOT_FOUND" in first:
        first += (
            " (tables are created by `opslake run`, the v_* views by `opslake run` or "
            "`opslake sql apply`)"
        )
    return first


class SparkEngine:
    """Spark SQL on a session built from the same settings, or on a session the caller already has."""

    dialect = "spark"

    def __init__(self, settings: Settings, spark: SparkSession | None = None) -> None:
        self._owned = spark is None
        self._spark = spark if spark is not None else _start_spark(settings)
        _quiet_pyspark_error_logs()

    def _guard(self, run: Any) -> Any:
        from py4j.protocol import Py4JError, Py4JNetworkError
        from pyspark.errors.exceptions.captured import CapturedException

        try:
            return run()
        except CapturedException as exc:
            raise QueryError(f"Spark: {_spark_message(exc)}") from exc
        except Py4JNetworkError as exc:
            raise ServiceUnavailableError("Spark (driver JVM)", str(exc)) from exc
        except Py4JError as exc:  # a JVM exception pyspark does not convert
            raise QueryError(f"Spark: {_spark_message(exc)}") from exc

    def query(self, sql: str, limit: int | None = None) -> pd.DataFrame:
        """Rows of ``sql``; with ``limit``, the statement carries the LIMIT (or the plan gets one)."""

        def run() -> pd.DataFrame:
            statement = sql if limit is None else with_limit(sql, limit, self.dialect)
            frame: DataFrame = self._spark.sql(statement or sql)
            if limit is not None and statement is None:
                frame = frame.limit(limit)
            return frame.toPandas()

        result: pd.DataFrame = self._guard(run)
        return result

    def execute(self, sql: str) -> None:
        self._guard(lambda: self._spark.sql(sql))

    def close(self) -> None:
        if self._owned:
            self._spark.stop()


def _quiet_pyspark_error_logs() -> None:
    """pyspark logs each failing statement with the whole JVM stack (ERROR, on its own handler).

    The QueryError raised here already says what failed; the dump stays available under ``-v``.
    """
    from pyspark.logger import PySparkLogger

    if not logger.isEnabledFor(logging.DEBUG):
        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            # Created through PySparkLogger: pyspark calls it with keyword fields a Logger lacks.
            PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _start_spark(settings: Settings) -> SparkSession:
    """A session for ``settings``; the services it needs are checked first, so a dead one is named."""
    from opslake.lake.preflight import Endpoint, endpoints, require
    from opslake.lake.session import build_session

    # Queries need the catalog and the object store, not the lineage server.
    needed = endpoints(settings.model_copy(update={"lineage_transport": "file"}))
    if settings.spark_master.startswith("spark://"):
        host, _, port = settings.spark_master.removeprefix("spark://").partition(":")
        needed.append(Endpoint("Spark master", host, int(port or 7077)))
    require(needed)
    try:
        return build_session(settings)
    except OpslakeError:
        raise
    except Exception as exc:  # the JVM did not start or the catalog did not open: say which
        detail = (str(exc).strip().splitlines() or [""])[0]
        raise ServiceUnavailableError("Spark session", f"{type(exc).__name__}: {detail}") from exc


@contextmanager
def engine_for(settings: Settings, spark: SparkSession | None = None) -> Iterator[QueryEngine]:
    """The engine the settings name, closed on exit. ``spark`` reuses a running session."""
    dialect = engine_dialect(settings)
    if dialect == "trino":
        yield TrinoEngine(settings)
        return
    engine = SparkEngine(settings, spark)
    try:
        yield engine
    finally:
        engine.close()
