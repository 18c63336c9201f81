"""The views in sql/views, applied by Trino to a small hand-made dataset, return the exact aggregates.

The dataset lives in namespaces of its own (the SQL files take the namespaces as placeholders), so it
never mixes with the pipeline's tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from stacklib import Stack

from known_dataset import CANNED, tables
from opslake.query import QueryEngine, apply_views, canned_query_names, render, sql_dir

pytestmark = [pytest.mark.integration, pytest.mark.stack]

TEL, ANA = "viewtest_telemetry", "viewtest_analytics"

TABLES = tables(TEL, ANA)


def _drop_all(trino: QueryEngine) -> None:
    for ns in (ANA, TEL):
        if trino.query(f"SHOW SCHEMAS FROM lake LIKE '{ns}'").empty:
            continue
        for name in trino.query(f"SHOW TABLES FROM lake.{ns}")["Table"]:
            kind = trino.query(
                f"SELECT table_type FROM lake.information_schema.tables "
                f"WHERE table_schema = '{ns}' AND table_name = '{name}'"
            )["table_type"][0]
            trino.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} lake.{ns}.{name}")
        trino.execute(f"DROP SCHEMA lake.{ns}")


@pytest.fixture(scope="module")
def trino(stack: Stack) -> Iterator[QueryEngine]:
    engine = stack.trino()
    _drop_all(engine)
    for ns in (TEL, ANA):
        engine.execute(f"CREATE SCHEMA lake.{ns}")
    for table, (columns, rows) in TABLES.items():
        engine.execute(f"CREATE TABLE lake.{table} ({columns})")
        engine.execute(f"INSERT INTO lake.{table} VALUES {', '.join(rows)}")
    assert apply_views(engine, "lake", TEL, ANA) == [
        "01_node_health.sql", "02_top_anomalies.sql", "03_carbon_by_provider_region_day.sql",
        "04_placement_efficiency.sql", "05_recommendations.sql", "06_anomaly_events.sql",
    ]  # fmt: skip
    yield engine
    _drop_all(engine)


def _rows(trino: QueryEngine, sql: str) -> list[tuple[object, ...]]:
    """Result rows as plain tuples; SQL NULL as None (pandas turns it into NaN in float columns)."""
    frame = trino.query(sql)
    return [
        tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)
        for row in frame.itertuples(index=False)
    ]


def test_node_health_aggregates_per_node_and_day(trino: QueryEngine) -> None:
    rows = _rows(
        trino,
        f"SELECT CAST(dt AS varchar), node_id, samples, round(avg_cpu_util, 6), max_cpu_util, "
        f"round(avg_mem_util, 6), anomalies, max_anomaly_score "
        f"FROM lake.{ANA}.v_node_health ORDER BY dt, node_id",
    )
    assert rows == [
        ("2026-11-01", "n1", 2, 0.3, 0.4, 0.6, 1, 0.8),
        ("2026-11-01", "n2", 1, 0.9, 0.9, 0.1, 1, 0.95),
        ("2026-11-02", "n1", 1, 0.6, 0.6, 0.6, 0, None),  # no anomaly rows that day: 0, not NULL
    ]


def test_top_anomalies_keeps_flagged_rows_ranked_by_score(trino: QueryEngine) -> None:
    rows = _rows(
        trino, f"SELECT node_id, score, rank_in_day FROM lake.{ANA}.v_top_anomalies ORDER BY 3"
    )
    assert rows == [("n2", 0.95, 1), ("n1", 0.8, 2)]


def test_carbon_by_provider_region_day_sums_and_converts_to_kg(trino: QueryEngine) -> None:
    rows = _rows(
        trino,
        f"SELECT provider, nodes, vcpu_hours, kwh, kgco2e, embodied_kgco2e, sci_gco2e_per_vcpu_hour "
        f"FROM lake.{ANA}.v_carbon_by_provider_region_day ORDER BY provider",
    )
    assert rows == [("aws", 3, 40.0, 4.0, 1.0, 0.2, 25.0), ("gcp", 1, 0.0, 0.0, 0.0, 0.0, None)]


def test_placement_efficiency_measures_the_gap_to_the_bound(trino: QueryEngine) -> None:
    rows = _rows(
        trino,
        f"SELECT pool_id, excess_nodes, gap_to_bound FROM lake.{ANA}.v_placement_efficiency ORDER BY 1",
    )
    assert rows == [("p1", 2, 0.2), ("p2", 0, 0.0)]


def test_recommendations_rank_by_saving_with_a_stable_tie_break(trino: QueryEngine) -> None:
    rows = _rows(
        trino, f"SELECT workload_id, rank_in_day FROM lake.{ANA}.v_recommendations ORDER BY 2"
    )
    assert rows == [("w2", 1), ("w1", 2), ("w3", 3)]


def test_anomaly_events_rank_by_peak_score_within_each_day(trino: QueryEngine) -> None:
    rows = _rows(
        trino,
        f"SELECT CAST(dt AS varchar), node_id, metric, rows, peak_score, reason, rank_in_day "
        f"FROM lake.{ANA}.v_anomaly_events ORDER BY dt, rank_in_day",
    )
    assert rows == [
        ("2026-11-01", "n2", "mem_util", 1, 7.0, "diff", 1),
        ("2026-11-01", "n1", "cpu_util", 2, 3.5, "value", 2),
        ("2026-11-02", "n1", "mem_util", 9, 2.0, "season", 1),
    ]


@pytest.mark.parametrize("name", sorted(CANNED))
def test_every_canned_query_answers_exactly_on_trino(trino: QueryEngine, name: str) -> None:
    # The same answers the Spark engine gives on the embedded profile (tests/integration).
    assert sorted(canned_query_names()) == sorted(CANNED)
    sql = render(sql_dir() / "queries" / f"{name}.sql", "lake", TEL, ANA)
    assert _rows(trino, sql) == CANNED[name]
