"""SQL over the catalog: Trino in the stack profile, Spark SQL in the embedded one (``sql_engine``).

Also applies the files in ``sql/``: views (``sql/views/*.sql``, in file order) and canned queries
(``sql/queries/*.sql``). SQL files name tables as ``{catalog}.{telemetry}.x`` / ``{catalog}.{analytics}.y``
so the same DDL can be applied to other namespaces (the tests build views over a small known dataset).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from opslake.config import REPO_ROOT, Settings
from opslake.exceptions import ConfigError, ServiceUnavailableError

SQL_DIR = REPO_ROOT / "sql"


class QueryEngine(Protocol):
    def query(self, sql: str) -> pd.DataFrame: ...

    def execute(self, sql: str) -> None: ...


class TrinoEngine:
    """Trino over HTTP; every connection failure becomes a ServiceUnavailableError naming Trino."""

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

    def _run(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        import requests
        import trino

        cur = self._conn.cursor()
        try:
            rows = cur.execute(sql).fetchall()
        except (requests.exceptions.ConnectionError, trino.exceptions.HttpError) as exc:
            raise ServiceUnavailableError(f"Trino at {self.address}", str(exc)) from exc
        finally:
            cur.close()
        columns = [d[0] for d in cur.description or []]
        return columns, rows

    def query(self, sql: str) -> pd.DataFrame:
        columns, rows = self._run(sql)
        return pd.DataFrame(rows, columns=columns)

    def execute(self, sql: str) -> None:
        self._run(sql)


class SparkEngine:
    """Spark SQL on a session built from the same settings (embedded profile)."""

    def __init__(self, settings: Settings) -> None:
        from opslake.lake.session import build_session

        self._spark = build_session(settings)

    def query(self, sql: str) -> pd.DataFrame:
        return self._spark.sql(sql).toPandas()

    def execute(self, sql: str) -> None:
        self._spark.sql(sql)

    def close(self) -> None:
        self._spark.stop()


@contextmanager
def engine_for(settings: Settings) -> Iterator[QueryEngine]:
    """The engine the settings name, closed on exit."""
    if settings.sql_engine == "trino":
        yield TrinoEngine(settings)
    elif settings.sql_engine == "spark":
        engine = SparkEngine(settings)
        try:
            yield engine
        finally:
            engine.close()
    else:
        raise ConfigError(f"unknown sql_engine {settings.sql_engine!r} (spark or trino)")


def render(
    path: Path, catalog: str, telemetry: str = "telemetry", analytics: str = "analytics"
) -> str:
    """The SQL in ``path`` with the catalog and namespace placeholders filled in."""
    text = path.read_text()
    return (
        text.format(catalog=catalog, telemetry=telemetry, analytics=analytics).strip().rstrip(";")
    )


def view_files(sql_dir: Path = SQL_DIR) -> list[Path]:
    return sorted((sql_dir / "views").glob("*.sql"))


def apply_views(
    engine: QueryEngine,
    catalog: str,
    telemetry: str = "telemetry",
    analytics: str = "analytics",
    sql_dir: Path = SQL_DIR,
) -> list[str]:
    """Create or replace every view in ``sql/views``; returns the files applied, in order."""
    applied = []
    for path in view_files(sql_dir):
        engine.execute(render(path, catalog, telemetry, analytics))
        applied.append(path.name)
    return applied


def canned_query(name: str, catalog: str, sql_dir: Path = SQL_DIR) -> str:
    """The SQL of the canned query ``sql/queries/<name>.sql``."""
    path = sql_dir / "queries" / f"{name}.sql"
    if not path.exists():
        known = sorted(p.stem for p in (sql_dir / "queries").glob("*.sql"))
        raise ConfigError(f"no canned query {name!r}; known: {known}")
    return render(path, catalog)
