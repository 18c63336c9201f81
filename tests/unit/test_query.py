"""The SQL in sql/: one Trino source, transpiled for Spark; row limits in the statement; package data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from opslake.config import REPO_ROOT, Settings, data_path
from opslake.exceptions import ConfigError, NotFoundError, QueryError
from opslake.query import (
    canned_query,
    canned_query_names,
    engine_dialect,
    render,
    resolve,
    transpile,
    view_files,
    view_statements,
    with_limit,
)

VIEWS = [
    "01_node_health.sql",
    "02_top_anomalies.sql",
    "03_carbon_by_provider_region_day.sql",
    "04_placement_efficiency.sql",
    "05_recommendations.sql",
    "06_anomaly_events.sql",
]
QUERIES = ["best_carbon_savings", "carbon_by_provider", "least_efficient_pools", "noisiest_nodes"]

# Trino functions Spark SQL does not have (or has with another meaning): none may reach Spark.
TRINO_ONLY = {
    "APPROX_PERCENTILE", "APPROX_DISTINCT", "ARBITRARY", "DATE_DIFF", "DATE_FORMAT", "DATE_PARSE",
    "FORMAT_DATETIME", "FROM_ISO8601_TIMESTAMP", "TO_UNIXTIME", "STRPOS", "JSON_EXTRACT_SCALAR",
    "REGEXP_EXTRACT_ALL", "ARRAY_JOIN", "HISTOGRAM", "CARDINALITY", "TRY", "TYPEOF",
}  # fmt: skip


def _all_sql() -> list[tuple[str, str]]:
    """(file, Trino SQL) of every shipped view and canned query."""
    views = [(path.name, render(path, "lake")) for path in view_files()]
    queries = [
        (path.name, render(path, "lake")) for path in sorted(data_path("sql").glob("queries/*.sql"))
    ]
    return views + queries


def test_the_shipped_sql_is_the_expected_set() -> None:
    assert [p.name for p in view_files()] == VIEWS
    assert canned_query_names() == QUERIES


@pytest.mark.parametrize(("name", "trino_sql"), _all_sql(), ids=[n for n, _ in _all_sql()])
def test_every_file_transpiles_to_spark_sql_spark_understands(name: str, trino_sql: str) -> None:
    spark_sql = transpile(trino_sql, "spark")
    tree = sqlglot.parse_one(spark_sql, read="spark")
    calls = {f.sql_name() for f in tree.find_all(exp.Func)}
    # An Anonymous call is a function sqlglot does not know: passed through untranslated.
    unknown = [f.name for f in tree.find_all(exp.Anonymous)]
    assert unknown == [], f"{name}: functions sqlglot cannot translate: {unknown}"
    words = set(re.findall(r"\b([A-Z_][A-Z0-9_]*)\s*\(", spark_sql.upper()))
    assert not (words | calls) & TRINO_ONLY, f"{name}: Trino-only functions in {spark_sql}"


def test_trino_only_functions_become_their_spark_equivalents() -> None:
    spark = transpile(canned_query("best_carbon_savings", "lake"), "spark")
    assert "PERCENTILE_APPROX(saving_pct, 0.5) AS median_saving_pct" in spark
    assert "approx_percentile" not in spark.lower()
    # Trino sorts NULLs last in ascending order too; Spark would put them first without this.
    assert "ORDER BY anomalies DESC, node_id NULLS LAST" in canned_query(
        "noisiest_nodes", "lake", "spark"
    )
    assert (
        transpile(
            "SELECT date_trunc('day', ts), date_add('day', 1, d), approx_distinct(x), arbitrary(y) FROM t",
            "spark",
        )
        == "SELECT DATE_TRUNC('DAY', ts), DATE_ADD(d, 1), APPROX_COUNT_DISTINCT(x), ANY_VALUE(y) FROM t"
    )


def test_views_are_created_in_the_lake_catalog_on_both_engines() -> None:
    for dialect in ("trino", "spark"):
        statements = view_statements("lake", dialect, "tel", "ana")
        assert [name for name, _ in statements] == VIEWS
        for _, sql in statements:
            comment = r"(--[^\n]*\n|/\*.*?\*/\s*)?"  # the file's leading comment, in either style
            assert re.match(comment + r"CREATE OR REPLACE VIEW lake\.ana\.v_\w+ AS", sql, re.S), sql
            assert "{" not in sql  # every placeholder filled in
    node_health = dict(view_statements("lake", "spark", "tel", "ana"))["01_node_health.sql"]
    assert "FROM lake.tel.node_metrics AS m" in node_health
    assert "COUNT_IF(is_anomaly)" in node_health


def test_trino_gets_the_file_text_unchanged() -> None:
    path = data_path("sql", "queries", "carbon_by_provider.sql")
    assert canned_query("carbon_by_provider", "lake", "trino") == render(path, "lake")
    assert canned_query("carbon_by_provider", "lake") == render(path, "lake")  # default: Trino


def test_unknown_canned_query_names_the_known_ones() -> None:
    with pytest.raises(
        NotFoundError, match=r"no canned query 'nope'; known: best_carbon_savings, "
    ):
        resolve("@nope", "lake", "spark")


def test_resolve_passes_ad_hoc_sql_through() -> None:
    assert resolve("SELECT 1", "lake", "spark") == "SELECT 1"
    assert resolve("@carbon_by_provider", "x", "spark").endswith(
        "FROM x.analytics.v_carbon_by_provider_region_day GROUP BY provider ORDER BY kgco2e DESC"
    )


def test_engine_dialect_and_unknown_engines() -> None:
    assert engine_dialect(Settings(sql_engine="spark")) == "spark"
    assert engine_dialect(Settings(sql_engine="trino")) == "trino"
    with pytest.raises(ConfigError, match="unknown sql_engine 'duckdb' \\(known: trino, spark\\)"):
        engine_dialect(Settings(sql_engine="duckdb"))


def test_a_statement_sqlglot_cannot_translate_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="expected one SQL statement, found 2"):
        transpile("SELECT 1; SELECT 2", "spark")
    with pytest.raises(QueryError, match="cannot translate this SQL to spark"):
        transpile("SELECT FROM WHERE (", "spark")


# --- limit pushdown: the exact SQL the engine receives ------------------------------------------


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        ("SELECT a FROM t", "spark", "SELECT a FROM t LIMIT 100"),
        ("SELECT a FROM t ORDER BY a LIMIT 500", "trino", "SELECT a FROM t ORDER BY a LIMIT 100"),
        ("SELECT a FROM t LIMIT 10", "spark", "SELECT a FROM t LIMIT 10"),  # smaller: unchanged
        ("select a  from t limit 7", "trino", "select a  from t limit 7"),  # text kept verbatim
        ("SELECT a FROM t UNION ALL SELECT b FROM u", "spark",
         "SELECT a FROM t UNION ALL SELECT b FROM u LIMIT 100"),
        ("WITH x AS (SELECT 1 AS a) SELECT a FROM x", "spark",
         "WITH x AS (SELECT 1 AS a) SELECT a FROM x LIMIT 100"),
        ("SELECT a FROM t OFFSET 5 LIMIT 1000", "trino", "SELECT a FROM t OFFSET 5 LIMIT 100"),
        ("SELECT a FROM t FETCH FIRST 3 ROWS ONLY", "trino", "SELECT a FROM t FETCH FIRST 3 ROWS ONLY"),
        ("SELECT a FROM t FETCH FIRST 300 ROWS ONLY", "trino", "SELECT a FROM t LIMIT 100"),
        ("SELECT a FROM t -- the end", "spark", "SELECT a FROM t /* the end */ LIMIT 100"),
    ],
)  # fmt: skip
def test_the_limit_goes_into_the_statement(sql: str, dialect: str, expected: str) -> None:
    assert with_limit(sql, 100, dialect) == expected


def test_canned_query_limits_on_spark() -> None:
    sql = canned_query("carbon_by_provider", "lake", "spark")
    assert with_limit(sql, 5, "spark") == (
        "/* Energy and emissions per provider over the whole history. */ SELECT provider, "
        "SUM(kwh) AS kwh, SUM(kgco2e) AS kgco2e FROM lake.analytics.v_carbon_by_provider_region_day "
        "GROUP BY provider ORDER BY kgco2e DESC LIMIT 5"
    )
    noisiest = canned_query("noisiest_nodes", "lake", "spark")  # has LIMIT 10 already
    assert with_limit(noisiest, 100, "spark") == noisiest
    assert with_limit(noisiest, 3, "spark").endswith("node_id NULLS LAST LIMIT 3")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "sql",
    [
        "SHOW TABLES FROM lake.analytics",
        "SELECT a FROM t LIMIT n",
        "SELEC a FORM t",
        "SELECT 1; SELECT 2",
    ],
)
def test_statements_that_cannot_carry_a_limit_are_left_to_the_client(sql: str) -> None:
    assert with_limit(sql, 10, "trino") is None


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit must be >= 0"):
        with_limit("SELECT 1", -1, "spark")


# --- package data and state directories ---------------------------------------------------------


def test_package_data_is_found_through_the_package() -> None:
    import opslake

    package = Path(opslake.__file__).parent
    sql = data_path("sql")
    assert sql == package / "_data" / "sql"
    assert sorted(p.name for p in (sql / "views").glob("*.sql")) == VIEWS
    assert (data_path("deploy", "profiles", "stack.env")).is_file()
    assert (data_path("deploy", "postgres", "init.sh")).is_file()
    # In a checkout the package data is the top-level folders (links), not copies that drift.
    assert sql.resolve() == (REPO_ROOT / "sql").resolve()


def test_pyproject_ships_every_file_of_sql_and_deploy() -> None:
    import tomllib

    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["opslake"]
    package = REPO_ROOT / "src" / "opslake"
    shipped = {p.resolve() for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    for top in ("sql", "deploy"):
        files = {p.resolve() for p in (REPO_ROOT / top).rglob("*") if p.is_file()}
        assert files and files <= shipped, sorted(str(p) for p in files - shipped)


def test_state_defaults_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from opslake.config import secrets_file

    monkeypatch.chdir(tmp_path)
    for name in ("OPSLAKE_HOME", "OPSLAKE_OUT_DIR", "OPSLAKE_STACK_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.home, settings.out_dir, settings.stack_dir) == (
        tmp_path / ".lake", tmp_path / "out", tmp_path / ".stack",
    )  # fmt: skip
    assert settings.catalog_jdbc_uri == f"jdbc:sqlite:{tmp_path / '.lake' / 'catalog.db'}"
    assert secrets_file() == tmp_path / ".stack" / "secrets.env"
    monkeypatch.setenv("OPSLAKE_STACK_DIR", str(tmp_path / "elsewhere"))
    assert secrets_file() == tmp_path / "elsewhere" / "secrets.env"
