"""schemathesis over the decision API's OpenAPI document, against the gateway app and a real Spark engine.

Every operation gets generated requests (valid and invalid parameters, bounded in number); each answer
must not be a 5xx, must use a status the document declares, and must match its response schema. The
lake holds the known dataset of ``api_dataset``, so valid requests reach real rows. The same run
against Trino: tests/stack/test_gateway_api.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode

from api_dataset import load_statements
from api_fuzzing import CASES, MODES, OPERATIONS, fuzz
from opslake.config import Settings
from opslake.gateway.api import ApiConfig
from opslake.gateway.app import build_app
from opslake.gateway.auth import mint_token
from opslake.gateway.config import GatewayConfig
from opslake.gateway.keys import create_api_key, init_state
from opslake.query import engine_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CATALOG = "apifuzz"
ISSUER, AUDIENCE = "fuzz-issuer", "fuzz-audience"
# Per operation and mode (12 runs): 80 s with Spark's start on an idle 2-core box, ~4 min when it is
# busy; OPSLAKE_FUZZ_EXAMPLES lowers or raises it.
EXAMPLES = int(os.environ.get("OPSLAKE_FUZZ_EXAMPLES", "30"))


@pytest.fixture(scope="module")
def gateway_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api-fuzz")
    init_state(root)
    return root


@pytest.fixture(scope="module")
def api_schema(isolated_lake: Callable[[str], Settings], spark: Any, gateway_state: Path) -> Any:
    lake = isolated_lake(CATALOG)
    for statement in load_statements(CATALOG, "analytics", "spark"):
        spark.sql(statement)
    config = GatewayConfig(
        state_dir=gateway_state,
        upstreams=(),
        issuer=ISSUER,
        audience=AUDIENCE,
        rate_per_s=10_000.0,
        rate_burst=10_000,
        audit_log=gateway_state / "audit.jsonl",
        api=ApiConfig(catalog=CATALOG, engine=lambda: engine_for(lake, spark)),
    )
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", build_app(config))


@pytest.fixture(scope="module")
def auth_headers(gateway_state: Path) -> dict[str, str]:
    # Both documented schemes, valid: schemathesis would otherwise send a made-up X-API-Key (the
    # gateway tries it first) and most cases would stop at 401.
    jwt = mint_token(gateway_state, "fuzzer", "readonly", ISSUER, AUDIENCE, 3600)
    key = create_api_key(gateway_state, "fuzzer", "readonly")
    return {"Authorization": f"Bearer {jwt}", "X-API-Key": key}


def test_the_document_lists_every_operation(api_schema: Any) -> None:
    labels = sorted(op.ok().label for op in api_schema.get_all_operations())
    assert labels == sorted(OPERATIONS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("label", "path_parameters"), CASES)
def test_no_server_errors_and_answers_match_the_document(
    api_schema: Any,
    auth_headers: dict[str, str],
    label: str,
    path_parameters: dict[str, str] | None,
    mode: GenerationMode,
) -> None:
    fuzz(api_schema, label, path_parameters, mode, auth_headers, EXAMPLES)
