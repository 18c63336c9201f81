"""The sql/ views and every canned query on the embedded profile: Spark SQL transpiled from the Trino files.

The dataset is the one tests/stack/test_views.py gives Trino, so both engines are held to the same
numbers. Its DDL is Trino SQL too, run through the same transpiler.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable

import pytest
from pyspark.sql import SparkSession

from known_dataset import CANNED, tables
from opslake.config import Settings
from opslake.exceptions import QueryError
from opslake.query import (
    SparkEngine,
    apply_views,
    canned_query_names,
    resolve,
    transpile,
)

pytestmark = pytest.mark.integration

CATALOG = "querytest"
TABLES = tables()


@pytest.fixture(scope="module")
def lake(isolated_lake: Callable[[str], Settings], spark: SparkSession) -> Settings:
    settings = isolated_lake(CATALOG)
    for table, (columns, rows) in TABLES.items():
        spark.sql(transpile(f"CREATE TABLE {CATALOG}.{table} ({columns})", "spark"))
        spark.sql(transpile(f"INSERT INTO {CATALOG}.{table} VALUES {', '.join(rows)}", "spark"))
    return settings


@pytest.fixture(scope="module")
def engine(lake: Settings, spark: SparkSession) -> SparkEngine:
    engine = SparkEngine(lake, spark)
    assert apply_views(engine, CATALOG) == [
        "01_node_health.sql", "02_top_anomalies.sql", "03_carbon_by_provider_region_day.sql",
        "04_placement_efficiency.sql", "05_recommendations.sql", "06_anomaly_events.sql",
    ]  # fmt: skip
    return engine


def _rows(engine: SparkEngine, sql: str, limit: int | None = None) -> list[tuple[object, ...]]:
    """Result rows as plain tuples; SQL NULL as None (pandas turns it into NaN in float columns)."""
    frame = engine.query(sql, limit=limit)
    return [
        tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)
        for row in frame.itertuples(index=False)
    ]


def test_views_are_persistent_iceberg_views_in_the_jdbc_catalog(
    engine: SparkEngine, lake: Settings
) -> None:
    views = engine.query(f"SHOW VIEWS IN {CATALOG}.analytics")
    assert sorted(zip(views["viewName"], views["isTemporary"], strict=True)) == [
        ("v_anomaly_events", False), ("v_carbon_by_provider_region_day", False), ("v_node_health", False),
        ("v_placement_efficiency", False), ("v_recommendations", False), ("v_top_anomalies", False),
    ]  # fmt: skip
    # In the catalog database itself (where Trino would find them too), typed as views.
    with sqlite3.connect(lake.home / "catalog.db") as db:
        rows = db.execute(
            "SELECT table_name, iceberg_type FROM iceberg_tables "
            "WHERE catalog_name = ? AND table_namespace = 'analytics' AND table_name LIKE 'v\\_%' ESCAPE '\\'",
            (CATALOG,),
        ).fetchall()
    assert sorted(rows) == [
        ("v_anomaly_events", "VIEW"), ("v_carbon_by_provider_region_day", "VIEW"), ("v_node_health", "VIEW"),
        ("v_placement_efficiency", "VIEW"), ("v_recommendations", "VIEW"), ("v_top_anomalies", "VIEW"),
    ]  # fmt: skip
    assert apply_views(engine, CATALOG)[-1] == "06_anomaly_events.sql"  # re-applying replaces


@pytest.mark.parametrize("name", sorted(CANNED))
def test_every_canned_query_answers_exactly(engine: SparkEngine, name: str) -> None:
    assert sorted(canned_query_names()) == sorted(
        CANNED
    )  # a new query needs its expected rows here
    assert _rows(engine, resolve(f"@{name}", CATALOG, engine.dialect), limit=100) == CANNED[name]


def test_views_give_the_same_numbers_as_on_trino(engine: SparkEngine) -> None:
    """The assertions of tests/stack/test_views.py (Trino), on Spark."""
    a = f"{CATALOG}.analytics"
    assert _rows(
        engine,
        f"SELECT CAST(dt AS string), node_id, samples, round(avg_cpu_util, 6), max_cpu_util, "
        f"round(avg_mem_util, 6), anomalies, max_anomaly_score FROM {a}.v_node_health ORDER BY dt, node_id",
    ) == [
        ("2026-11-01", "n1", 2, 0.3, 0.4, 0.6, 1, 0.8),
        ("2026-11-01", "n2", 1, 0.9, 0.9, 0.1, 1, 0.95),
        ("2026-11-02", "n1", 1, 0.6, 0.6, 0.6, 0, None),
    ]
    assert _rows(
        engine, f"SELECT node_id, score, rank_in_day FROM {a}.v_top_anomalies ORDER BY 3"
    ) == [("n2", 0.95, 1), ("n1", 0.8, 2)]
    assert _rows(
        engine,
        f"SELECT provider, nodes, vcpu_hours, kwh, kgco2e, embodied_kgco2e, sci_gco2e_per_vcpu_hour "
        f"FROM {a}.v_carbon_by_provider_region_day ORDER BY provider",
    ) == [("aws", 3, 40.0, 4.0, 1.0, 0.2, 25.0), ("gcp", 1, 0.0, 0.0, 0.0, 0.0, None)]
    assert _rows(
        engine,
        f"SELECT pool_id, excess_nodes, gap_to_bound FROM {a}.v_placement_efficiency ORDER BY 1",
    ) == [("p1", 2, 0.2), ("p2", 0, 0.0)]
    assert _rows(
        engine, f"SELECT workload_id, rank_in_day FROM {a}.v_recommendations ORDER BY 2"
    ) == [("w2", 1), ("w1", 2), ("w3", 3)]
    assert _rows(
        engine,
        f"SELECT CAST(dt AS string), node_id, metric, rows, peak_score, reason, rank_in_day "
        f"FROM {a}.v_anomaly_events ORDER BY dt, rank_in_day",
    ) == [
        ("2026-11-01", "n2", "mem_util", 1, 7.0, "diff", 1),
        ("2026-11-01", "n1", "cpu_util", 2, 3.5, "value", 2),
        ("2026-11-02", "n1", "mem_util", 9, 2.0, "season", 1),
    ]


def test_the_limit_reaches_the_engine(engine: SparkEngine) -> None:
    top = f"SELECT node_id, score FROM {CATALOG}.analytics.v_top_anomalies ORDER BY score DESC"
    assert _rows(engine, top, limit=1) == [("n2", 0.95)]
    # SHOW cannot carry a LIMIT: the plan gets one instead.
    assert len(engine.query(f"SHOW VIEWS IN {CATALOG}.analytics", limit=2)) == 2


def test_bad_sql_is_a_query_error_with_spark_s_message(engine: SparkEngine) -> None:
    with pytest.raises(QueryError, match=r"^Spark: \[PARSE_SYNTAX_ERROR\] Syntax error") as parse:
        engine.query("SELEC 1", limit=5)
    assert "SELEC 1" in str(parse.value)  # the statement with a caret under the error
    with pytest.raises(QueryError, match=r"^Spark: \[TABLE_OR_VIEW_NOT_FOUND\]") as missing:
        engine.query(f"SELECT * FROM {CATALOG}.analytics.v_nope")
    message = str(missing.value)
    assert message.endswith("the v_* views by `opslake run` or `opslake sql apply`)")
    assert "\n" not in message  # no logical plan dumped on the user
    with pytest.raises(QueryError, match=r"UNRESOLVED_COLUMN"):
        engine.query(f"SELECT no_such_column FROM {CATALOG}.analytics.v_node_health")
