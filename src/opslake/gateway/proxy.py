"""Forwarding to an upstream: HTTP with streamed bodies both ways, and WebSocket pass-through.

The gateway's own credentials (its session and CSRF cookies, the bearer token or API key it
consumed) are removed before forwarding; hop-by-hop headers are dropped both ways; ``X-Forwarded-*``
describe the client as the gateway saw it (the gateway is the edge, so client values are replaced).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import aiohttp
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
from yarl import URL

from opslake.gateway.config import Upstream

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the gateway itself, never taken from the client.
_FORWARDED = frozenset(
    {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-prefix", "forwarded"}
)
GATEWAY_COOKIES = frozenset({"opslake_session", "opslake_csrf"})


class BodyTooLargeError(Exception):
    """Raised while streaming a request body that exceeds the limit."""


@dataclass
class Exchange:
    """What one proxied request did, for the audit line and metrics (filled as it goes)."""

    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    error: str = ""


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[str]:
    """Header names listed in ``Connection`` (hop-by-hop by declaration)."""
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.decode("latin-1").split(","))
    return tokens


def _strip_cookies(value: str) -> str:
    """The ``Cookie`` header without the gateway's own cookies."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(value)
    except Exception:  # an unparsable Cookie header is forwarded without our names, best effort
        return "; ".join(
            p for p in value.split(";") if p.split("=", 1)[0].strip() not in GATEWAY_COOKIES
        )
    return "; ".join(f"{k}={m.coded_value}" for k, m in jar.items() if k not in GATEWAY_COOKIES)


def forward_headers(
    raw: list[tuple[bytes, bytes]],
    upstream: Upstream,
    client_host: str,
    scheme: str,
    drop: frozenset[str] = frozenset(),
) -> list[tuple[str, str]]:
    """The request headers sent upstream.

    Args:
        raw: The client's headers (ASGI raw form).
        upstream: Where they go (``Host`` policy, injected headers).
        client_host: The peer address, for ``X-Forwarded-For``.
        scheme: ``http`` or ``https`` as the client spoke to the gateway.
        drop: Further header names (lower case) to remove, e.g. the ``authorization`` the gateway used.
    """
    skip = HOP_BY_HOP | _FORWARDED | _connection_tokens(raw) | drop | {"host"}
    skip |= {name.lower() for name, _ in upstream.inject_headers}
    host = ""
    out: list[tuple[str, str]] = []
    for name_b, value_b in raw:
        name, value = name_b.decode("latin-1").lower(), value_b.decode("latin-1")
        if name == "host":
            host = value
        if name in skip:
            continue
        if name == "cookie":
            value = _strip_cookies(value)
            if not value:
                continue
        out.append((name, value))
    upstream_host = urlsplit(upstream.url).netloc
    out.append(("host", host if upstream.preserve_host and host else upstream_host))
    out += [
        ("x-forwarded-for", client_host),
        ("x-forwarded-host", host or upstream_host),
        ("x-forwarded-proto", scheme),
        ("x-forwarded-prefix", upstream.strip or upstream.match.rstrip("/")),
    ]
    out += [(name.lower(), value) for name, value in upstream.inject_headers]
    return out


def upstream_target(upstream: Upstream, raw_path: bytes, query: bytes) -> str:
    """The upstream path (raw, still percent-encoded) and query for a gateway path."""
    path = raw_path.decode("latin-1")
    if upstream.strip:
        path = path[len(upstream.strip) :] or "/"
    return path + ("?" + query.decode("latin-1") if query else "")


def response_headers(
    headers: list[tuple[bytes, bytes]], upstream: Upstream
) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers minus hop-by-hop ones, with ``Location`` mapped back.

    A redirect to the upstream's own origin, or to a root path of an upstream whose prefix is
    stripped, is rewritten under the gateway prefix so the browser stays behind the gateway.
    """
    # "date": uvicorn stamps every response with its own; two Date headers confuse caches.
    skip = HOP_BY_HOP | _connection_tokens(headers) | {"date"}
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        lname = name.lower().decode("latin-1")
        if lname in skip:
            continue
        if lname == "location":
            value = rewrite_location(value.decode("latin-1"), upstream).encode("latin-1")
        elif lname == "set-cookie" and upstream.strip:
            value = rewrite_cookie_path(value.decode("latin-1"), upstream.strip).encode("latin-1")
        out.append((name.lower(), value))
    return out


_COOKIE_PATH = re.compile(r"(;\s*path\s*=\s*)(/[^;]*)", re.IGNORECASE)


def rewrite_cookie_path(cookie: str, prefix: str) -> str:
    """A ``Set-Cookie`` from an upstream whose prefix is stripped, with its ``Path`` under the prefix.

    Trino's UI sets its login cookie on ``Path=/ui``; the browser sees ``/datalake/trino/ui`` and
    would never send it back (what nginx's ``proxy_cookie_path`` does).
    """

    def under(match: re.Match[str]) -> str:
        path = match.group(2)
        inside = path == prefix or path.startswith(prefix + "/")
        return match.group(1) + (path if inside else prefix + path.rstrip("/"))

    return _COOKIE_PATH.sub(under, cookie)


def rewrite_location(location: str, upstream: Upstream) -> str:
    parts = urlsplit(location)
    if parts.netloc and f"{parts.scheme}://{parts.netloc}" != upstream.url.rstrip("/"):
        return location  # elsewhere: leave it
    path = parts.path
    if upstream.strip and path.startswith("/") and not path.startswith(upstream.strip + "/"):
        path = upstream.strip + path
    return (
        path
        + (f"?{parts.query}" if parts.query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


async def _limited(
    stream: AsyncIterator[bytes], limit: int, exchange: Exchange
) -> AsyncIterator[bytes]:
    async for chunk in stream:
        exchange.bytes_in += len(chunk)
        if exchange.bytes_in > limit:
            raise BodyTooLargeError(f"request body over {limit} bytes")
        yield chunk


def error_response(status: int, message: str) -> Response:
    return PlainTextResponse(message + "\n", status_code=status)


async def proxy_http(
    request: Request,
    upstream: Upstream,
    client: aiohttp.ClientSession,
    *,
    max_body: int,
    scheme: str,
    drop_headers: frozenset[str],
    exchange: Exchange,
    on_done: Callable[[], None],
) -> Response:
    """Forward ``request`` to ``upstream``; ``on_done`` runs once the response body is sent."""
    scope = request.scope
    raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
    client_host = request.client.host if request.client else ""
    headers = forward_headers(raw_headers, upstream, client_host, scheme, drop_headers)
    has_body = any(n in (b"content-length", b"transfer-encoding") for n, _ in raw_headers)
    target = upstream.url.rstrip("/") + upstream_target(
        upstream, scope.get("raw_path") or scope["path"].encode(), scope.get("query_string", b"")
    )
    content = _limited(request.stream(), max_body, exchange) if has_body else None
    try:
        # encoded=True: the path goes upstream as the client sent it (already checked by Guard).
        upstream_response = await client.request(
            request.method,
            URL(target, encoded=True),
            headers=headers,
            data=content,
            allow_redirects=False,
        )
    except (TimeoutError, asyncio.TimeoutError):  # noqa: UP041 - aiohttp raises either
        if exchange.bytes_in > max_body:
            return _fail(exchange, 413, f"request body over {max_body} bytes", on_done)
        return _fail(exchange, 504, f"upstream {upstream.name} did not answer in time", on_done)
    except aiohttp.ClientError as exc:
        if exchange.bytes_in > max_body:  # _limited cut the body: aiohttp wraps our error
            return _fail(exchange, 413, f"request body over {max_body} bytes", on_done)
        return _fail(
            exchange,
            502,
            f"upstream {upstream.name} is not reachable ({error_name(exc)})",
            on_done,
        )
    exchange.status = upstream_response.status

    async def close() -> None:
        upstream_response.release()
        on_done()

    response = _UpstreamResponse(upstream_response, upstream.name, exchange, close)
    response.raw_headers = response_headers(list(upstream_response.raw_headers), upstream)
    return response


def error_name(exc: BaseException) -> str:
    """A stable name for an upstream failure (audit lines, 502 bodies, ``/ready``)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "ConnectError"  # refused, unreachable or unresolvable: nothing was sent
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "Timeout"
    return type(exc).__name__


class _UpstreamResponse(Response):
    """An upstream answer streamed to the client; the upstream connection is released however
    sending ends (also when the client goes away before the body starts).

    A body that had fully arrived with the headers (the common small answer) is sent in one
    message; a longer one is streamed while the client's disconnect is watched, so a client that
    leaves stops the upstream read. The audit line is written before the last body message, so
    it exists by the time the client holds the whole answer.
    """

    def __init__(
        self,
        upstream_response: aiohttp.ClientResponse,
        upstream_name: str,
        exchange: Exchange,
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.status_code = upstream_response.status
        self.background = None
        self._upstream = upstream_response
        self._name = upstream_name
        self._exchange = exchange
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            content = self._upstream.content
            if content.is_eof():  # the whole body is buffered already: no need to watch
                body = await content.read()
                self._exchange.bytes_out += len(body)
                await self._close()
                await send({"type": "http.response.body", "body": body})
                return
            await _until_disconnect(self._stream(send), receive)
        finally:
            await self._close()  # again when sending ended early: releasing and auditing run once

    async def _stream(self, send: Send) -> None:
        try:
            async for chunk in self._upstream.content.iter_any():
                self._exchange.bytes_out += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (aiohttp.ClientError, TimeoutError, asyncio.TimeoutError) as exc:  # noqa: UP041
            # The upstream broke off mid-body: end the answer; the client sees a short body.
            self._exchange.error = f"upstream body interrupted ({error_name(exc)})"
            logger.warning("upstream %s: %s", self._name, self._exchange.error)
        await self._close()
        await send({"type": "http.response.body", "body": b""})


async def _until_disconnect(work: Awaitable[None], receive: Receive) -> None:
    """Run ``work`` until it ends or the client disconnects, whichever comes first."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.ensure_future(work), asyncio.ensure_future(disconnected())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if tasks[0].done() and not tasks[0].cancelled() and tasks[0].exception() is not None:
        raise tasks[0].exception()  # type: ignore[misc]


def _fail(exchange: Exchange, status: int, message: str, on_done: Callable[[], None]) -> Response:
    exchange.status, exchange.error = status, message
    on_done()
    return error_response(status, message)


def websocket_url(upstream: Upstream, raw_path: bytes, query: bytes) -> str:
    base = upstream.url.rstrip("/")
    base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    return base + upstream_target(upstream, raw_path, query)


# Handshake headers the websockets client sets itself, or that describe the client's own link.
_WS_OWN = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "origin",  # checked by the gateway; the upstream would compare it with its own Host
    }
)


async def proxy_websocket(
    websocket: WebSocket,
    upstream: Upstream,
    *,
    scheme: str,
    max_message: int,
    open_timeout: float,
    drop_headers: frozenset[str],
    exchange: Exchange,
) -> None:
    """Connect to the upstream first, then accept the client with the subprotocol it chose."""
    scope = websocket.scope
    raw_headers: list[tuple[bytes, bytes]] = list(scope["headers"])
    client_host = websocket.client.host if websocket.client else ""
    headers = [
        (n, v)
        for n, v in forward_headers(raw_headers, upstream, client_host, scheme, drop_headers)
        if n not in _WS_OWN and n != "host" and n != "content-length"
    ]
    url = websocket_url(
        upstream, scope.get("raw_path") or scope["path"].encode(), scope.get("query_string", b"")
    )
    subprotocols = [p for p in scope.get("subprotocols", []) if p]
    try:
        upstream_ws = await ws_connect(
            url,
            additional_headers=headers,
            subprotocols=subprotocols or None,
            open_timeout=open_timeout,
            max_size=max_message,
            compression=None,
            proxy=None,
        )
    except (OSError, TimeoutError, InvalidStatus, InvalidURI) as exc:
        status = 504 if isinstance(exc, TimeoutError) else 502
        message = f"upstream {upstream.name} refused the WebSocket ({type(exc).__name__})"
        if isinstance(exc, InvalidStatus):
            message = f"upstream {upstream.name} answered {exc.response.status_code}"
        exchange.status, exchange.error = status, message
        await deny(websocket, status, message)
        return
    exchange.status = 101
    await websocket.accept(subprotocol=upstream_ws.subprotocol)

    async def client_to_upstream() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    exchange.bytes_in += len(message["bytes"])
                    await upstream_ws.send(message["bytes"])
                elif message.get("text") is not None:
                    exchange.bytes_in += len(message["text"].encode())
                    await upstream_ws.send(message["text"])
        except (WebSocketDisconnect, ConnectionClosed):
            return

    async def upstream_to_client() -> None:
        try:
            async for data in upstream_ws:
                if isinstance(data, bytes):
                    exchange.bytes_out += len(data)
                    await websocket.send_bytes(data)
                else:
                    exchange.bytes_out += len(data.encode())
                    await websocket.send_text(data)
        except (WebSocketDisconnect, ConnectionClosed, RuntimeError):
            return

    tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream_ws.close()
        code = upstream_ws.close_code or 1000
        # Already closed by the client: uvicorn then raises ClientDisconnected, which Starlette
        # turns into WebSocketDisconnect (a browser closing a JupyterLab tab logged a traceback).
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=code if 1000 <= code < 5000 and code != 1006 else 1011)


async def deny(websocket: WebSocket, status: int, message: str) -> None:
    """Refuse a WebSocket handshake with an HTTP answer where the server supports it."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(status, message))
    else:
        await websocket.close(code=1008 if status < 500 else 1011, reason=message[:120])
