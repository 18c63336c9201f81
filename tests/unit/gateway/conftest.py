"""A real counting upstream and real gateways, each served by uvicorn on a loopback port.

Nothing on the proxy path is mocked: requests go over TCP to the gateway, which forwards them over
TCP to the upstream. The upstream counts every request it receives (HTTP and WebSocket) before
reading any body, so a refused request is proven not to have reached it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from opslake.gateway.app import build_app, server_config
from opslake.gateway.auth import mint_token
from opslake.gateway.config import GatewayConfig, Upstream
from opslake.gateway.keys import init_state

ISSUER, AUDIENCE = "test-issuer", "test-audience"
JUPYTER_TOKEN = "jupyter-secret-token"
STREAM_CHUNKS = 50
STREAM_CHUNK = b"x" * 4096


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Upstream_State:  # noqa: N801 - reads as "the upstream's state"
    count: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)
    ws_headers: dict[str, str] = field(default_factory=dict)


class Counting:
    """ASGI middleware counting every request the upstream receives, before its body."""

    def __init__(self, app: ASGIApp, state: Upstream_State) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self.state.count += 1
        await self.app(scope, receive, send)


def upstream_app(state: Upstream_State) -> ASGIApp:
    async def echo(request: Request) -> Response:
        body = await request.body()
        record = {
            "method": request.method,
            "path": request.scope["raw_path"].decode(),
            "query": request.url.query,
            "headers": {k: v for k, v in request.headers.items()},
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        state.seen.append(record)
        return JSONResponse(record, headers={"set-cookie": "up=1; Path=/", "x-upstream": "yes"})

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(STREAM_CHUNKS):
                yield STREAM_CHUNK
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(3)
        return Response("late")

    async def redirect(request: Request) -> Response:
        return Response(status_code=302, headers={"location": "/ui/"})

    async def ws_echo(websocket: WebSocket) -> None:
        state.ws_headers = dict(websocket.headers.items())
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol=offered[0] if offered else None)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text("echo:" + message["text"])
            else:
                await websocket.send_bytes(b"echo:" + message["bytes"])

    routes = [
        Route("/stream", stream),
        Route("/datalake/slow/", slow),
        Route("/redirect", redirect),
        WebSocketRoute("/{rest:path}", ws_echo),
        Route("/{rest:path}", echo, methods=["GET", "POST", "PUT", "DELETE", "HEAD"]),
    ]
    return Counting(Starlette(routes=routes), state)


class Served:
    """An ASGI app served by uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: ASGIApp) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(server_config(app, "127.0.0.1", self.port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for the slow upstream's sleeping handler
        self.thread.join(5)


@pytest.fixture(scope="package")
def upstream() -> Iterator[tuple[Served, Upstream_State]]:
    state = Upstream_State()
    with Served(upstream_app(state)) as served:
        yield served, state


@pytest.fixture(scope="package")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("gateway")
    password = init_state(root)
    assert password is not None
    return root, password


def make_config(state: Path, upstream_url: str, dead_url: str, **overrides: Any) -> GatewayConfig:
    upstreams = (
        Upstream("trino", "/datalake/trino/", upstream_url, strip="/datalake/trino"),
        Upstream("airflow", "/datalake/airflow/", upstream_url),
        Upstream(
            "jupyter",
            "/datalake/jupyter/",
            upstream_url,
            inject_headers=(("Authorization", f"token {JUPYTER_TOKEN}"),),
        ),
        Upstream("spark", "/datalake/spark/", dead_url, strip="/datalake/spark"),
        Upstream("slow", "/datalake/slow/", upstream_url),
        Upstream(
            "marquez",
            "/datalake/marquez/",
            upstream_url,
            strip="/datalake/marquez",
            encoded_slashes=True,
        ),
    )
    settings: dict[str, Any] = {
        "state_dir": state,
        "upstreams": upstreams,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "rate_per_s": 1000.0,
        "rate_burst": 1000,
        "max_body_bytes": 256 * 1024,
        "read_timeout_s": 1.0,
        "connect_timeout_s": 1.0,
        "audit_log": state / f"audit-{free_port()}.jsonl",
        "ready_timeout_s": 0.5,
    }
    settings.update(overrides)
    return GatewayConfig(**settings)


@dataclass
class GatewayUnderTest:
    url: str
    port: int
    config: GatewayConfig
    state: Upstream_State
    upstream_url: str
    password: str

    def token(self, role: str = "admin", subject: str = "alice", **kw: Any) -> str:
        return mint_token(
            self.config.state_dir,
            subject,
            role,
            kw.get("issuer", ISSUER),
            kw.get("audience", AUDIENCE),
            kw.get("ttl", 300),
        )

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, trust_env=False, timeout=10)

    def audit_lines(self) -> list[dict[str, Any]]:
        assert self.config.audit_log is not None
        text = self.config.audit_log.read_text()
        return [json.loads(line) for line in text.splitlines()]


def _gateway(
    upstream: tuple[Served, Upstream_State], state_dir: tuple[Path, str], **overrides: Any
) -> Iterator[GatewayUnderTest]:
    served, state = upstream
    config = make_config(state_dir[0], served.url, f"http://127.0.0.1:{free_port()}", **overrides)
    with Served(build_app(config)) as gw:
        yield GatewayUnderTest(gw.url, gw.port, config, state, served.url, state_dir[1])


@pytest.fixture(scope="package")
def gateway(
    upstream: tuple[Served, Upstream_State], state_dir: tuple[Path, str]
) -> Iterator[GatewayUnderTest]:
    yield from _gateway(upstream, state_dir)


@pytest.fixture()
def tight_gateway(
    upstream: tuple[Served, Upstream_State], state_dir: tuple[Path, str]
) -> Iterator[GatewayUnderTest]:
    """A gateway allowing 3 requests at once per identity, refilled at one every 2 s."""
    yield from _gateway(upstream, state_dir, rate_per_s=0.5, rate_burst=3)
