"""Every refusal answers the right status and nothing reaches the upstream (its count is unchanged)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from opslake.gateway.keys import active_signing_key, create_api_key, revoke_api_key

from .conftest import AUDIENCE, ISSUER, GatewayUnderTest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "mallory", "role": "admin", "iss": ISSUER, "aud": AUDIENCE, "iat": now}
    claims["exp"] = now + 300
    claims.update(overrides)
    return claims


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def refused(gateway: GatewayUnderTest, send: Callable[[], int], status: int) -> None:
    """``send`` answers ``status`` and the upstream saw no request."""
    before = gateway.state.count
    assert send() == status
    assert gateway.state.count == before


def get(
    gateway: GatewayUnderTest, headers: dict[str, str], path: str = "/datalake/trino/v1/info"
) -> Callable[[], int]:
    def send() -> int:
        with gateway.client() as client:
            return client.get(path, headers=headers).status_code

    return send


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_no_token(gateway: GatewayUnderTest) -> None:
    refused(gateway, get(gateway, {}), 401)
    with gateway.client() as client:
        answer = client.get("/datalake/trino/v1/info")
    assert answer.json() == {"error": "no credentials"}
    assert answer.headers["www-authenticate"].startswith('Bearer realm="opslake"')


def test_browser_without_session_is_sent_to_login(gateway: GatewayUnderTest) -> None:
    before = gateway.state.count
    with gateway.client() as client:
        answer = client.get("/datalake/trino/ui/", headers={"accept": "text/html"})
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/login?next=/datalake/trino/ui/",
    )
    assert gateway.state.count == before


def test_expired_token(gateway: GatewayUnderTest) -> None:
    kid, key = active_signing_key(gateway.config.state_dir)
    past = int(time.time()) - 3600
    token = jwt.encode(
        _claims(iat=past, exp=past + 60), key, algorithm="RS256", headers={"kid": kid}
    )
    refused(gateway, get(gateway, auth(token)), 401)


def test_wrong_signature(gateway: GatewayUnderTest) -> None:
    kid, _ = active_signing_key(gateway.config.state_dir)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": kid})
    refused(gateway, get(gateway, auth(token)), 401)


def test_unknown_kid(gateway: GatewayUnderTest) -> None:
    _, key = active_signing_key(gateway.config.state_dir)
    token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "not-ours"})
    refused(gateway, get(gateway, auth(token)), 401)


def test_alg_none(gateway: GatewayUnderTest) -> None:
    kid, _ = active_signing_key(gateway.config.state_dir)
    for alg in ("none", "None", "NONE"):
        token = _unsigned({"alg": alg, "typ": "JWT", "kid": kid}, _claims()) + "."
        refused(gateway, get(gateway, auth(token)), 401)


def test_hs256_signed_with_the_public_key(gateway: GatewayUnderTest) -> None:
    """The classic confusion: the verifier's RSA public key used as an HMAC secret."""
    kid, key = active_signing_key(gateway.config.state_dir)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, _claims())
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    refused(gateway, get(gateway, auth(f"{signing_input}.{_b64(signature)}")), 401)


def test_wrong_audience(gateway: GatewayUnderTest) -> None:
    refused(gateway, get(gateway, auth(gateway.token(audience="someone-else"))), 401)


def test_wrong_issuer(gateway: GatewayUnderTest) -> None:
    refused(gateway, get(gateway, auth(gateway.token(issuer="https://evil.example"))), 401)


@pytest.mark.parametrize("role", ["user", "readonly"])
def test_non_admin_roles_on_datalake(gateway: GatewayUnderTest, role: str) -> None:
    refused(gateway, get(gateway, auth(gateway.token(role=role))), 403)


def test_revoked_api_key(gateway: GatewayUnderTest) -> None:
    key = create_api_key(gateway.config.state_dir, "ci-bot", "admin")
    before = gateway.state.count
    assert get(gateway, {"x-api-key": key})() == 200  # works while valid, by either header
    assert get(gateway, auth(key))() == 200
    assert gateway.state.count == before + 2
    revoke_api_key(gateway.config.state_dir, key)
    refused(gateway, get(gateway, {"x-api-key": key}), 401)
    refused(gateway, get(gateway, auth(key)), 401)
    forged = key[:-4] + "AAAA"  # right id, wrong secret
    refused(gateway, get(gateway, {"x-api-key": forged}), 401)


def raw_request(port: int, request: bytes) -> int:
    """Send bytes as they are (no client normalisation) and return the status code answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "path",
    [
        "/datalake/trino/../airflow/",
        "/datalake/trino/..",
        "/datalake/trino/./v1/info",
        "/datalake/trino/%2e%2e/airflow/",
        "/datalake/trino/%2E%2E/airflow/",
        "/datalake/trino/.%2e/airflow/",
        "/datalake/trino/%2fetc%2fpasswd",
        "/datalake/trino/..%2F..%2Fairflow",
        "/datalake/trino/%5c..%5cairflow",
        "/datalake/trino/..\\airflow",
        "/datalake//trino/v1/info",
        "/datalake/trino/%00",
    ],
)
def test_path_traversal(gateway: GatewayUnderTest, path: str) -> None:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n"
        f"Authorization: Bearer {gateway.token()}\r\nConnection: close\r\n\r\n"
    ).encode()
    refused(gateway, lambda: raw_request(gateway.port, request), 400)


@pytest.mark.parametrize(
    "request_text",
    [
        # encoded CR LF in the path: would split the request line if decoded upstream
        "GET /datalake/trino/x%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}\r\n\r\n",
        # a bare CR inside a header value
        "GET /datalake/trino/x HTTP/1.1\r\nHost: h\r\nX-A: a\rX-Injected: 1\r\nAuthorization: Bearer {t}\r\n\r\n",
        # a bare LF inside a header value
        "GET /datalake/trino/x HTTP/1.1\r\nHost: h\r\nX-A: a\nX-Injected: 1\r\nAuthorization: Bearer {t}\r\n\r\n",
        # obsolete line folding (a continuation line)
        "GET /datalake/trino/x HTTP/1.1\r\nHost: h\r\nX-A: a\r\n X-Injected: 1\r\nAuthorization: Bearer {t}\r\n\r\n",
    ],
)
def test_crlf_header_injection(gateway: GatewayUnderTest, request_text: str) -> None:
    request = request_text.format(t=gateway.token()).encode()
    refused(gateway, lambda: raw_request(gateway.port, request), 400)


def test_oversized_body_with_length(gateway: GatewayUnderTest) -> None:
    body = b"x" * (gateway.config.max_body_bytes + 1)

    def send() -> int:
        with gateway.client() as client:
            return client.post(
                "/datalake/trino/v1/statement", content=body, headers=auth(gateway.token())
            ).status_code

    refused(gateway, send, 413)


def test_oversized_declared_length_refused_before_the_body(gateway: GatewayUnderTest) -> None:
    """Content-Length alone decides: the gateway answers 413 without waiting for the body."""
    request = (
        f"POST /datalake/trino/v1/statement HTTP/1.1\r\nHost: h\r\n"
        f"Authorization: Bearer {gateway.token()}\r\nContent-Length: 999999999\r\n\r\n"
    ).encode()
    refused(gateway, lambda: raw_request(gateway.port, request), 413)


def test_oversized_chunked_body(gateway: GatewayUnderTest) -> None:
    """Without a length the body is counted while streamed and cut at the limit (413)."""
    limit = gateway.config.max_body_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 4096 + 2):
            yield b"y" * 4096

    with gateway.client() as client:
        answer = client.post(
            "/datalake/trino/v1/statement", content=chunks(), headers=auth(gateway.token())
        )
    assert answer.status_code == 413
    assert answer.text == f"request body over {limit} bytes\n"


def test_rate_limit(tight_gateway: GatewayUnderTest) -> None:
    gw = tight_gateway
    token = gw.token(subject="busy-bot")
    before = gw.state.count
    with gw.client() as client:
        statuses = [client.get("/datalake/trino/v1/info", headers=auth(token)) for _ in range(4)]
    assert [a.status_code for a in statuses] == [200, 200, 200, 429]
    assert statuses[3].headers["retry-after"] == "2"  # one token every 2 s, bucket just emptied
    assert gw.state.count == before + 3
    # The bucket is per identity: another admin is not slowed by busy-bot.
    with gw.client() as client:
        other = client.get("/datalake/trino/v1/info", headers=auth(gw.token(subject="other")))
    assert other.status_code == 200


def test_websocket_without_token(gateway: GatewayUnderTest) -> None:
    def send() -> int:
        try:
            with ws_connect(
                f"ws://127.0.0.1:{gateway.port}/datalake/jupyter/api/kernels/k/channels"
            ):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    refused(gateway, send, 401)


def test_websocket_user_role(gateway: GatewayUnderTest) -> None:
    def send() -> int:
        try:
            with ws_connect(
                f"ws://127.0.0.1:{gateway.port}/datalake/jupyter/api/kernels/k/channels",
                additional_headers=auth(gateway.token(role="user")),
            ):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    refused(gateway, send, 403)


def test_refusals_are_audited(gateway: GatewayUnderTest) -> None:
    get(gateway, auth(gateway.token(role="readonly", subject="reader")))()
    line = [r for r in gateway.audit_lines() if r.get("who") == "reader"][-1]
    assert (line["status"], line["route"], line["role"]) == (403, "trino", "readonly")
