"""A stand-in OpenLineage HTTP endpoint (records POST bodies, answers as told) and a closed port.

The real Marquez is exercised by the stack tests; here only the HTTP contract matters: POST JSON to
``/api/v1/lineage``, 2xx means delivered.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opslake.config import Settings


@dataclass
class LineageEndpoint:
    url: str
    bodies: list[str] = field(default_factory=list)  # delivered events, in arrival order
    paths: list[str] = field(default_factory=list)
    # Status per POST, by arrival index (0-based); any index not listed gets 201.
    statuses: dict[int, int] = field(default_factory=dict)
    posts: int = 0


@pytest.fixture
def endpoint() -> Iterator[LineageEndpoint]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = LineageEndpoint(url=f"http://127.0.0.1:{server.server_address[1]}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            with lock:
                status = state.statuses.get(state.posts, 201)
                state.posts += 1
                state.paths.append(self.path)
                if status < 300:
                    state.bodies.append(body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def http_settings(tmp_path: Path, closed_url: str) -> Settings:
    """Lineage over HTTP to a Marquez that is down; the spool under ``out_dir``."""
    return Settings(
        home=tmp_path / "lake",
        out_dir=tmp_path / "out",
        lineage_transport="http",
        lineage_url=closed_url,
    )
