"""An admin reaches the upstream through the gateway: headers, paths, streamed bodies, WebSockets,
upstream failures, health, readiness, metrics and the audit line."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from .conftest import JUPYTER_TOKEN, STREAM_CHUNK, STREAM_CHUNKS, GatewayUnderTest


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_admin_reaches_upstream_with_forwarded_headers(gateway: GatewayUnderTest) -> None:
    before = gateway.state.count
    with gateway.client() as client:
        answer = client.get(
            "/datalake/trino/v1/info?x=1&y=%2F",
            headers={
                **auth(gateway.token()),
                "x-forwarded-for": "6.6.6.6",  # client claims are replaced, not trusted
                "x-forwarded-host": "evil.example",
                "cookie": "opslake_session=abc; theirs=1; opslake_csrf=def",
                "connection": "keep-alive, x-hop",
                "x-hop": "dropped",
                "x-custom": "kept",
            },
        )
    assert answer.status_code == 200
    assert gateway.state.count == before + 1
    seen = answer.json()
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/v1/info", "x=1&y=%2F")
    headers = seen["headers"]
    assert headers["host"] == f"127.0.0.1:{gateway.port}"  # the client's Host, for UI links
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-host"] == f"127.0.0.1:{gateway.port}"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-prefix"] == "/datalake/trino"
    assert headers["cookie"] == "theirs=1"  # the gateway's own cookies stay at the gateway
    assert headers["x-custom"] == "kept"
    assert "authorization" not in headers  # the credential the gateway consumed is not forwarded
    assert "x-hop" not in headers
    # response: upstream headers kept (both cookies), security headers added
    assert answer.headers["x-upstream"] == "yes"
    assert answer.headers["set-cookie"] == "up=1; Path=/datalake/trino"  # under the stripped prefix
    assert len(answer.headers.get_list("date")) == 1
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == "frame-ancestors 'self'"


def test_unstripped_upstreams_get_the_full_path(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        seen = client.get("/datalake/airflow/api/v2/dags", headers=auth(gateway.token())).json()
    assert seen["path"] == "/datalake/airflow/api/v2/dags"
    assert seen["headers"]["x-forwarded-prefix"] == "/datalake/airflow"


def test_injected_upstream_token_replaces_the_clients(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        seen = client.get("/datalake/jupyter/api/status", headers=auth(gateway.token())).json()
    assert seen["headers"]["authorization"] == f"token {JUPYTER_TOKEN}"


def test_streamed_request_and_response_bodies(gateway: GatewayUnderTest) -> None:
    blocks = [bytes([i]) * 8192 for i in range(20)]  # 160 KiB, under the 256 KiB limit

    def chunks() -> Iterator[bytes]:
        yield from blocks

    with gateway.client() as client:
        sized = client.put(
            "/datalake/trino/upload", content=b"".join(blocks), headers=auth(gateway.token())
        ).json()
        chunked = client.post(
            "/datalake/trino/upload", content=chunks(), headers=auth(gateway.token())
        ).json()
        with client.stream("GET", "/datalake/trino/stream", headers=auth(gateway.token())) as s:
            received = list(s.iter_raw())
    digest = hashlib.sha256(b"".join(blocks)).hexdigest()
    assert (sized["body_len"], sized["body_sha256"]) == (len(blocks) * 8192, digest)
    assert sized["headers"]["content-length"] == str(len(blocks) * 8192)
    assert (chunked["body_len"], chunked["body_sha256"]) == (len(blocks) * 8192, digest)
    assert chunked["headers"]["transfer-encoding"] == "chunked"
    assert b"".join(received) == STREAM_CHUNK * STREAM_CHUNKS
    assert len(received) > 1  # arrived in pieces, not buffered into one


def test_redirects_stay_under_the_prefix(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        answer = client.get("/datalake/trino/redirect", headers=auth(gateway.token()))
        bare = client.get("/datalake/trino", headers=auth(gateway.token()))
    assert (answer.status_code, answer.headers["location"]) == (302, "/datalake/trino/ui/")
    assert (bare.status_code, bare.headers["location"]) == (308, "/datalake/trino/")


def test_websocket_round_trip(gateway: GatewayUnderTest) -> None:
    url = f"ws://127.0.0.1:{gateway.port}/datalake/jupyter/api/kernels/k1/channels?session_id=s"
    with ws_connect(
        url,
        additional_headers=auth(gateway.token()),
        subprotocols=[Subprotocol("v1.kernel.websocket.jupyter.org")],
    ) as ws:
        assert ws.subprotocol == "v1.kernel.websocket.jupyter.org"
        ws.send("1+1")
        assert ws.recv(timeout=5) == "echo:1+1"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=5) == b"echo:\x00\x01"
    seen = gateway.state.ws_headers
    assert seen["authorization"] == f"token {JUPYTER_TOKEN}"
    assert seen["x-forwarded-prefix"] == "/datalake/jupyter"


def test_upstream_down_is_502_naming_it(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        answer = client.get("/datalake/spark/", headers=auth(gateway.token()))
    assert answer.status_code == 502
    assert answer.text == "upstream spark is not reachable (ConnectError)\n"


def test_upstream_timeout_is_504(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        answer = client.get("/datalake/slow/", headers=auth(gateway.token()))
    assert answer.status_code == 504
    assert answer.text == "upstream slow did not answer in time\n"


def test_unknown_service_is_404_after_auth(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        anonymous = client.get("/datalake/nothing/")
        admin = client.get("/datalake/nothing/", headers=auth(gateway.token()))
    assert (anonymous.status_code, admin.status_code) == (401, 404)


def test_health_ready_metrics(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        health = client.get("/health")
        ready = client.get("/ready")
        metrics_anonymous = client.get("/metrics")
        client.get("/datalake/trino/v1/info", headers=auth(gateway.token()))
        metrics = client.get("/metrics", headers=auth(gateway.token(role="readonly")))
    assert health.json() == {"status": "ok"}
    assert health.headers["content-security-policy"].startswith("default-src 'none'")
    assert health.headers["x-frame-options"] == "SAMEORIGIN"
    assert health.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in health.headers  # no TLS here
    assert ready.status_code == 503
    report = ready.json()
    assert report["ready"] is False
    assert report["upstreams"]["spark"] == {"ok": False, "error": "ConnectError"}
    assert report["upstreams"]["trino"] == {"ok": True, "status": 200}
    assert metrics_anonymous.status_code == 401
    assert metrics.status_code == 200
    assert 'gateway_requests_total{method="GET",route="trino",status="200"}' in metrics.text
    assert 'gateway_upstream_up{upstream="spark"} 0.0' in metrics.text


def test_audit_line_per_proxied_request(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        answer = client.get(
            "/datalake/trino/stream", headers=auth(gateway.token(subject="auditor"))
        )
    assert answer.status_code == 200
    line = [r for r in gateway.audit_lines() if r.get("who") == "auditor"][-1]
    assert line["event"] == "gateway.request"
    assert (line["route"], line["method"], line["path"], line["status"]) == (
        "trino",
        "GET",
        "/datalake/trino/stream",
        200,
    )
    assert (line["role"], line["via"], line["client"]) == ("admin", "jwt", "127.0.0.1")
    assert line["bytes_out"] == len(STREAM_CHUNK) * STREAM_CHUNKS
    assert line["duration_ms"] > 0
