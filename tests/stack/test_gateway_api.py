"""The decision API (/api/v1) against Trino on the stack.

The gateway app runs in-process, configured from the stack's own settings (``gateway_config``, so the
engine is the one ``sql_engine=trino`` names), with a throwaway key directory. First the known dataset
of ``api_dataset`` in namespaces of its own (the same exact answers as on Spark), fuzzed by schemathesis;
then the pipeline's real tables after the shared run, against Trino queried directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from stacklib import Stack
from starlette.testclient import TestClient

from api_dataset import (
    check_anomaly_events_for_a_node_and_time_range,
    check_carbon_by_provider_region_day,
    check_carbon_recommendations,
    check_latest_plan_per_pool,
    check_one_pool_s_plan_with_assignments_paged,
    load_statements,
    pages,
)
from api_fuzzing import CASES, MODES, fuzz
from opslake.gateway.app import build_app
from opslake.gateway.auth import mint_token
from opslake.gateway.config import GatewayConfig, gateway_config
from opslake.gateway.keys import create_api_key, init_state
from opslake.query import QueryEngine, TrinoEngine

pytestmark = [pytest.mark.integration, pytest.mark.stack]

ANA = "apitest_analytics"
EXAMPLES = int(os.environ.get("OPSLAKE_FUZZ_EXAMPLES", "30"))


def _drop(trino: QueryEngine) -> None:
    if trino.query(f"SHOW SCHEMAS FROM lake LIKE '{ANA}'").empty:
        return
    for name in trino.query(f"SHOW TABLES FROM lake.{ANA}")["Table"]:
        kind = trino.query(
            f"SELECT table_type FROM lake.information_schema.tables "
            f"WHERE table_schema = '{ANA}' AND table_name = '{name}'"
        )["table_type"][0]
        trino.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} lake.{ANA}.{name}")
    trino.execute(f"DROP SCHEMA lake.{ANA}")


@pytest.fixture(scope="module")
def trino(stack: Stack) -> Iterator[TrinoEngine]:
    engine = stack.trino()
    _drop(engine)
    engine.execute(f"CREATE SCHEMA lake.{ANA}")
    for statement in load_statements("lake", ANA, "trino"):
        engine.execute(statement)
    yield engine
    _drop(engine)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gateway-api")
    init_state(root)
    return root


def stack_config(stack: Stack, state: Path, analytics: str) -> GatewayConfig:
    """The stack's gateway configuration, keys and audit in ``state``, the API over ``analytics``."""
    assert stack.settings.sql_engine == "trino"
    config = gateway_config(stack.settings)
    assert config.api is not None and config.api.catalog == "lake"
    return replace(
        config,
        state_dir=state,
        audit_log=state / "audit.jsonl",
        rate_per_s=10_000.0,
        rate_burst=10_000,
        api=replace(config.api, analytics=analytics),
    )


def _headers(config: GatewayConfig) -> dict[str, str]:
    jwt = mint_token(config.state_dir, "svc", "user", config.issuer, config.audience, 3600)
    return {
        "Authorization": f"Bearer {jwt}",
        "X-API-Key": create_api_key(config.state_dir, "svc", "user"),
    }


@pytest.fixture(scope="module")
def api(stack: Stack, trino: TrinoEngine, state: Path) -> Iterator[TestClient]:
    config = stack_config(stack, state, ANA)
    with TestClient(build_app(config)) as client:
        client.headers.update(_headers(config))
        yield client


def test_latest_plan_per_pool(api: TestClient) -> None:
    check_latest_plan_per_pool(api)


def test_one_pool_s_plan_with_assignments_paged(api: TestClient) -> None:
    check_one_pool_s_plan_with_assignments_paged(api)


def test_anomaly_events_for_a_node_and_time_range(api: TestClient) -> None:
    check_anomaly_events_for_a_node_and_time_range(api)


def test_carbon_by_provider_region_day(api: TestClient) -> None:
    check_carbon_by_provider_region_day(api)


def test_carbon_recommendations(api: TestClient) -> None:
    check_carbon_recommendations(api)


@pytest.fixture(scope="module")
def api_schema(stack: Stack, trino: TrinoEngine, state: Path) -> Any:
    app = build_app(stack_config(stack, state, ANA))
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("label", "path_parameters"), CASES)
def test_fuzzed_requests_get_no_5xx_and_match_the_document(
    api_schema: Any,
    stack: Stack,
    state: Path,
    label: str,
    path_parameters: dict[str, str] | None,
    mode: GenerationMode,
) -> None:
    headers = _headers(stack_config(stack, state, ANA))
    fuzz(api_schema, label, path_parameters, mode, headers, EXAMPLES)


# --- the pipeline's own tables --------------------------------------------------------------------


@pytest.fixture(scope="module")
def lake_api(stack: Stack, first_run: dict[str, Any], state: Path) -> Iterator[TestClient]:
    config = stack_config(stack, state, "analytics")
    with TestClient(build_app(config)) as client:
        client.headers.update(_headers(config))
        yield client


def test_the_pipeline_s_decisions_as_trino_has_them(lake_api: TestClient, stack: Stack) -> None:
    trino = stack.trino()
    latest = trino.query(
        "SELECT pool_id, CAST(max(dt) AS varchar) AS dt FROM lake.analytics.placement_runs "
        "GROUP BY pool_id ORDER BY pool_id"
    )
    plans = pages(lake_api, "/api/v1/placement/plans", 3)
    assert [(p["pool_id"], p["dt"]) for p in plans] == list(latest.itertuples(index=False))
    assert plans, "the run placed workloads in at least one pool"
    pool = plans[0]["pool_id"]
    placed = trino.query(
        f"SELECT workload_id FROM lake.analytics.placements WHERE pool_id = '{pool}' "
        f"AND dt = DATE '{plans[0]['dt']}' ORDER BY workload_id"
    )
    assignments = pages(lake_api, f"/api/v1/placement/pools/{pool}/plan", 25, key="assignments")
    assert [a["workload_id"] for a in assignments] == list(placed["workload_id"])

    days = trino.query(
        "SELECT CAST(dt AS varchar), provider, region FROM "
        "lake.analytics.v_carbon_by_provider_region_day ORDER BY 1, 2, 3"
    )
    carbon = pages(lake_api, "/api/v1/carbon/daily", 7)
    assert [(c["dt"], c["provider"], c["region"]) for c in carbon] == [
        tuple(row) for row in days.itertuples(index=False)
    ]

    advice = trino.query(
        "SELECT workload_id, kind FROM lake.analytics.carbon_recommendations WHERE dt = "
        "(SELECT max(dt) FROM lake.analytics.carbon_recommendations) "
        "ORDER BY saving_gco2e DESC, workload_id, kind"
    )
    recommendations = pages(lake_api, "/api/v1/carbon/recommendations", 100)
    assert [(r["workload_id"], r["kind"]) for r in recommendations] == [
        tuple(row) for row in advice.itertuples(index=False)
    ]

    events = trino.query(
        "SELECT node_id, metric, start_ts FROM lake.analytics.anomaly_events "
        "ORDER BY peak_score DESC, node_id, metric LIMIT 1"
    )
    if not events.empty:  # the strongest event, found again by node and a window around it
        node, metric, start = events.iloc[0]
        window = (
            f"/api/v1/anomalies/events?node_id={node}&start={start.isoformat()}"
            f"&end={(start + timedelta(hours=1)).isoformat()}"
        )
        found = lake_api.get(window.replace("+", "%2B")).json()["items"]
        assert (node, metric) in [(e["node_id"], e["metric"]) for e in found]
