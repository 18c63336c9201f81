"""Errors a user can cause end as ``error: <message>`` on stderr and exit status 2, never a traceback.

None of these start Spark: each is caught before (names, profiles) or by the preflight (services down).
"""

from __future__ import annotations

import socket

import pytest

from opslake.cli import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ") and "Traceback" not in err
    return " ".join(err.split())  # rich wraps long lines


def test_unknown_canned_query(capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(capsys, ["query", "@carbon_by_nothing"])
    assert err == (
        "error: no canned query 'carbon_by_nothing'; known: best_carbon_savings, "
        "carbon_by_provider, least_efficient_pools, noisiest_nodes"
    )


def test_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(capsys, ["--profile", "prod", "query", "SELECT 1"])
    assert err == "error: unknown profile 'prod'; known profiles: embedded, stack"


def test_unknown_sql_engine(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSLAKE_SQL_ENGINE", "duckdb")
    err = _fails(capsys, ["query", "@carbon_by_provider"])
    assert err == "error: unknown sql_engine 'duckdb' (known: trino, spark)"


def test_trino_down(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    monkeypatch.setenv("OPSLAKE_SQL_ENGINE", "trino")
    monkeypatch.setenv("OPSLAKE_TRINO_PORT", str(port))
    err = _fails(capsys, ["query", "@carbon_by_provider"])
    assert err.startswith(f"error: Trino at 127.0.0.1:{port} is not reachable: ")
    assert err.endswith("(is the stack running? `opslake stack status`)")


def test_spark_master_down(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.setenv("OPSLAKE_SPARK_MASTER", f"spark://127.0.0.1:{port}")
    err = _fails(capsys, ["sql", "apply"])
    assert err.startswith(f"error: Spark master at 127.0.0.1:{port} is not reachable: ")


def test_catalog_database_down(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.setenv("OPSLAKE_CATALOG_URI", f"jdbc:postgresql://127.0.0.1:{port}/iceberg")
    err = _fails(capsys, ["query", "SELECT 1"])
    assert err.startswith(
        f"error: PostgreSQL (Iceberg catalog) at 127.0.0.1:{port} is not reachable"
    )


def test_a_limit_below_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["query", "SELECT 1", "--limit", "0"])
    assert exit_info.value.code == 2
    assert "argument --limit: must be at least 1, got 0" in capsys.readouterr().err


def test_a_bad_setting(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLAKE_PLACEMENT_ALGORITHM", "quantum")
    err = _fails(capsys, ["run"])  # refused before any Spark work starts
    assert err.startswith(
        "error: invalid setting(s): OPSLAKE_PLACEMENT_ALGORITHM: Value error, unknown placement "
        "algorithm 'quantum'"
    )
