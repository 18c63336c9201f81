"""The decision API (/api/v1) through the whole gateway app, against real engines.

Data answers come from a real Spark engine over a small embedded lake with known rows
(``api_dataset``): exact rows, pages that concatenate to the whole ordered answer, filters. The checks
that never reach an engine (auth, roles, methods, parameters, rate limit, the OpenAPI document) run on
an app whose engine is Trino on a closed port: a real configuration whose engine is down, which also
proves the 503 naming Trino.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api_dataset import (
    check_anomaly_events_for_a_node_and_time_range,
    check_carbon_by_provider_region_day,
    check_carbon_recommendations,
    check_latest_plan_per_pool,
    check_one_pool_s_plan_with_assignments_paged,
    load_statements,
)
from opslake.config import Settings
from opslake.gateway.api import (
    MAX_PAGE_SIZE,
    ApiConfig,
    bind,
    decode_token,
    encode_token,
    fingerprint,
    sql_literal,
    ts_text,
)
from opslake.gateway.app import build_app
from opslake.gateway.auth import mint_token
from opslake.gateway.config import GatewayConfig
from opslake.gateway.keys import create_api_key, init_state, revoke_api_key
from opslake.gateway.login import SESSION_COOKIE
from opslake.query import QueryEngine, engine_for

ISSUER, AUDIENCE = "api-issuer", "api-audience"
CATALOG = "apitest"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def api_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api-gateway")
    init_state(root)
    return root


def _config(state: Path, api: ApiConfig, **overrides: Any) -> GatewayConfig:
    values: dict[str, Any] = {
        "state_dir": state,
        "upstreams": (),
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "rate_per_s": 1000.0,
        "rate_burst": 1000,
        "audit_log": state / f"audit-{_free_port()}.jsonl",
    }
    values.update(overrides)
    return GatewayConfig(api=api, **values)


def token(state: Path, role: str = "user", subject: str = "svc") -> dict[str, str]:
    return {"authorization": f"Bearer {mint_token(state, subject, role, ISSUER, AUDIENCE, 300)}"}


def _down_trino_api() -> ApiConfig:
    settings = Settings(sql_engine="trino", trino_host="127.0.0.1", trino_port=_free_port())
    return ApiConfig(catalog="lake", engine=lambda: engine_for(settings))


@pytest.fixture(scope="module")
def down(api_state: Path) -> Iterator[TestClient]:
    """The gateway with the decision API over a Trino that is not running."""
    with TestClient(build_app(_config(api_state, _down_trino_api()))) as client:
        yield client


def _audit(client: TestClient) -> list[dict[str, Any]]:
    path = client.app.state.gateway.config.audit_log  # type: ignore[attr-defined]
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- no engine needed -----------------------------------------------------------------------------


def test_no_credentials_is_401_with_a_bearer_challenge(down: TestClient) -> None:
    answer = down.get("/api/v1/placement/plans")
    assert answer.status_code == 401
    assert answer.json() == {"error": "unauthenticated", "detail": "no credentials"}
    assert answer.headers["www-authenticate"].startswith('Bearer realm="opslake"')
    bad = down.get("/api/v1/carbon/daily", headers={"authorization": "Bearer not.a.jwt"})
    assert (bad.status_code, bad.json()["detail"]) == (401, "malformed token")


def test_post_and_other_writes_are_405_after_auth(down: TestClient, api_state: Path) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        answer = down.request(method, "/api/v1/carbon/daily", headers=token(api_state))
        assert answer.status_code == 405, method
        assert answer.headers["allow"] == "GET, HEAD"
        assert answer.json()["error"] == "method not allowed"
    assert down.post("/api/v1/carbon/daily").status_code == 401  # nothing said before auth


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/v1/placement/plans?page_size=0", "page_size: Input should be greater than or equal to 1"),
        (f"/api/v1/placement/plans?page_size={MAX_PAGE_SIZE + 1}", "page_size: Input should be less than or equal to 1000"),
        ("/api/v1/placement/plans?pool=p1%01", "pool: String should match pattern"),
        ("/api/v1/placement/pools/p%C3%A9/plan", "pool: String should match pattern"),
        ("/api/v1/placement/plans?colour=red", "colour: Extra inputs are not permitted"),
        ("/api/v1/anomalies/events?node_id=n1&start=2026-11-02T00:00:00Z", "end: Field required"),
        ("/api/v1/anomalies/events?node_id=n1&start=2026-11-02T00:00:00Z&end=2026-11-01T00:00:00Z", "start must be before end"),
        ("/api/v1/anomalies/events?node_id=n1&start=yesterday&end=2026-11-01T00:00:00Z", "start: Input should be a valid datetime"),
        ("/api/v1/anomalies/events?node_id=n1&start=0001-01-01T00:00:00%2B01:00&end=2026-11-01T00:00:00Z", "date-time out of range"),
        ("/api/v1/carbon/daily?start=2026-11-03&end=2026-11-01", "start must not be after end"),
        ("/api/v1/carbon/recommendations?kind=teleport", "kind: Input should be 'time_shift' or 'location_shift'"),
        ("/api/v1/carbon/recommendations?page_token=%%%", "page_token is not one this API issued"),
    ],
)  # fmt: skip
def test_bad_parameters_are_400_naming_them(
    down: TestClient, api_state: Path, path: str, detail: str
) -> None:
    answer = down.get(path, headers=token(api_state))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] in ("invalid parameters", "invalid page_token")
    assert detail in answer.json()["detail"]


def test_an_engine_that_is_down_is_503_naming_trino(down: TestClient, api_state: Path) -> None:
    answer = down.get("/api/v1/carbon/recommendations", headers=token(api_state, "readonly"))
    assert answer.status_code == 503
    body = answer.json()
    assert body["error"].startswith("Trino at 127.0.0.1:") and body["error"].endswith(
        "is unavailable"
    )
    assert "is not reachable" in body["detail"]


def test_unknown_api_path_is_404_json(down: TestClient, api_state: Path) -> None:
    answer = down.get("/api/v1/nope", headers=token(api_state))
    assert (answer.status_code, answer.json()["error"]) == (404, "not found")
    assert down.get("/api/v1/nope").status_code == 401


def test_every_call_writes_one_audit_line(down: TestClient, api_state: Path) -> None:
    before = len(_audit(down))
    down.get("/api/v1/carbon/daily?page_size=5", headers=token(api_state, subject="auditor"))
    lines = _audit(down)[before:]
    assert len(lines) == 1
    line = lines[0]
    assert (line["who"], line["role"], line["route"], line["path"], line["status"]) == (
        "auditor", "user", "api", "/api/v1/carbon/daily", 503,
    )  # fmt: skip
    assert line["bytes_out"] > 0 and line["duration_ms"] >= 0


def test_rate_limit_is_429_with_retry_after(api_state: Path) -> None:
    config = _config(api_state, _down_trino_api(), rate_per_s=0.01, rate_burst=2)
    with TestClient(build_app(config)) as client:
        headers = token(api_state, subject="greedy")
        statuses = [client.get("/api/v1/nope", headers=headers).status_code for _ in range(3)]
        assert statuses == [404, 404, 429]
        answer = client.get("/api/v1/nope", headers=headers)
        assert answer.json()["error"] == "rate limit exceeded"
        assert int(answer.headers["retry-after"]) >= 1


def test_openapi_document_describes_parameters_responses_and_security(down: TestClient) -> None:
    answer = down.get("/api/v1/openapi.json")  # public, like /health: it names no data
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["openapi"].startswith("3.")
    assert sorted(doc["paths"]) == [
        "/api/v1/anomalies/events", "/api/v1/carbon/daily", "/api/v1/carbon/recommendations",
        "/api/v1/placement/plans", "/api/v1/placement/pools/{pool}/plan",
    ]  # fmt: skip
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    }  # fmt: skip
    assert {"bearerAuth": []} in doc["security"]
    events = doc["paths"]["/api/v1/anomalies/events"]["get"]
    params = {p["name"]: p for p in events["parameters"]}
    assert sorted(params) == ["end", "node_id", "page_size", "page_token", "start"]
    assert params["start"]["required"] and params["start"]["schema"]["format"] == "date-time"
    assert params["page_size"]["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 1000, "default": 100,
    }  # fmt: skip
    assert not params["page_token"]["required"]
    assert set(events["responses"]) >= {"200", "400", "401", "503"}
    plan = doc["paths"]["/api/v1/placement/pools/{pool}/plan"]["get"]
    assert "404" in plan["responses"]
    assert plan["parameters"][0]["in"] == "path" and plan["parameters"][0]["required"]
    schemas = doc["components"]["schemas"]
    assert set(schemas) >= {"PlanPage", "PoolPlan", "EventPage", "AnomalyEvent", "ErrorBody"}
    assert schemas["ErrorBody"]["required"] == ["error"]


def test_literals_are_escaped_for_each_dialect() -> None:
    sql = "SELECT * FROM t WHERE a = :a AND b = :b AND c IS NULL OR c = :c LIMIT :n"
    params = {"a": "it's", "b": "back\\slash", "c": None, "n": 3}
    assert bind(sql, params, "trino") == (
        "SELECT * FROM t WHERE a = 'it''s' AND b = 'back\\slash' AND c IS NULL OR c = NULL LIMIT 3"
    )
    assert bind(sql, params, "spark") == (
        "SELECT * FROM t WHERE a = 'it\\'s' AND b = 'back\\\\slash' AND c IS NULL OR c = NULL LIMIT 3"
    )
    with pytest.raises(ValueError, match="do not match"):
        bind(sql, {"a": "x"}, "trino")
    with pytest.raises(ValueError, match="NUL"):
        sql_literal("a\x00b")
    with pytest.raises(ValueError, match="non-finite"):
        sql_literal(float("nan"))
    assert sql_literal(0.1).sql("trino") == "CAST(0.1 AS DOUBLE)"


def test_instants_become_utc_text_both_engines_read() -> None:
    # Found by schemathesis: strftime's %Y wrote year 182 as "182", which Spark refused (a 502).
    assert ts_text(datetime(182, 8, 14, 4, 54, 46, 500000, tzinfo=UTC)) == (
        "0182-08-14 04:54:46.500000 UTC"
    )
    plus_one = timezone(timedelta(hours=1))
    assert (
        ts_text(datetime(2026, 11, 1, 1, 15, tzinfo=plus_one)) == "2026-11-01 00:15:00.000000 UTC"
    )


def test_page_tokens_are_bound_to_their_filters() -> None:
    from opslake.gateway.api import ApiError

    fp = fingerprint("plans", {"pool": None})
    assert decode_token(encode_token(fp, ["p1"]), fp, (str,)) == ["p1"]
    with pytest.raises(ApiError, match="invalid page_token"):
        decode_token(encode_token(fp, ["p1"]), fingerprint("plans", {"pool": "p2"}), (str,))
    forged = base64.urlsafe_b64encode(json.dumps({"f": fp, "k": [1]}).encode()).decode()
    with pytest.raises(ApiError):
        decode_token(forged, fp, (str,))
    nan = base64.urlsafe_b64encode(b'{"f": "%s", "k": [NaN]}' % fp.encode()).decode()
    with pytest.raises(ApiError):
        decode_token(nan, fp, (float,))


# --- against Spark --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lake(isolated_lake: Callable[[str], Settings], spark: Any) -> Settings:
    settings = isolated_lake(CATALOG)
    for statement in load_statements(CATALOG, "analytics", "spark"):
        spark.sql(statement)
    return settings


@pytest.fixture(scope="module")
def api(lake: Settings, spark: Any, api_state: Path) -> Iterator[TestClient]:
    def open_engine() -> AbstractContextManager[QueryEngine]:
        OPENED.append(1)
        return engine_for(lake, spark)

    config = _config(api_state, ApiConfig(catalog=CATALOG, engine=open_engine))
    with TestClient(build_app(config)) as client:
        client.headers.update(token(api_state, "readonly"))
        yield client


pytest_spark = pytest.mark.integration
OPENED: list[int] = []  # engines the api fixture's app opened


@pytest_spark
def test_latest_plan_per_pool(api: TestClient) -> None:
    check_latest_plan_per_pool(api)


@pytest_spark
def test_one_pool_s_plan_with_assignments_paged(api: TestClient) -> None:
    check_one_pool_s_plan_with_assignments_paged(api)


@pytest_spark
def test_anomaly_events_for_a_node_and_time_range(api: TestClient) -> None:
    check_anomaly_events_for_a_node_and_time_range(api)


@pytest_spark
def test_carbon_by_provider_region_day(api: TestClient) -> None:
    check_carbon_by_provider_region_day(api)


@pytest_spark
def test_carbon_recommendations(api: TestClient) -> None:
    check_carbon_recommendations(api)


@pytest_spark
def test_every_role_and_credential_kind_may_read(api: TestClient, api_state: Path) -> None:
    api.get("/api/v1/carbon/daily")
    assert OPENED == [1]  # once per app, however many requests (the other tests made more)
    path = "/api/v1/placement/plans?pool=p3"
    for role in ("admin", "user", "readonly"):
        answer = api.get(path, headers=token(api_state, role))
        assert (role, answer.status_code) == (role, 200)
    key = create_api_key(api_state, "reporting", "readonly")
    assert api.get(path, headers={"x-api-key": key, "authorization": ""}).status_code == 200
    revoke_api_key(api_state, key)
    revoked = api.get(path, headers={"x-api-key": key, "authorization": ""})
    assert (revoked.status_code, revoked.json()["detail"]) == (401, "API key revoked")
    # A browser's session cookie (what /login sets) works too.
    session = mint_token(api_state, "bob", "user", ISSUER, AUDIENCE, 300, extra={"typ": "session"})
    browser = TestClient(api.app, cookies={SESSION_COOKIE: session})  # the app is running already
    assert browser.get(path).json()["items"][0]["pool_id"] == "p3"
