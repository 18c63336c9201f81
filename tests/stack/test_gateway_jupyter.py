"""A Jupyter kernel through the gateway: create it over REST, execute ``1+1`` over its WebSocket.

The gateway is the real application (``build_app(gateway_config(settings))``) served by uvicorn on a
free loopback port, with a state dir of its own (signing keys, audit log) so the stack's gateway is
left alone; JupyterLab is the stack's `jupyter` service, started here unless it already runs. The
client holds only a gateway JWT: Jupyter's token is added by the gateway, on the REST calls and on
the WebSocket handshake alike, and never appears in what the client receives.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from opslake.config import Settings
from opslake.gateway.app import build_app, server_config
from opslake.gateway.auth import mint_token
from opslake.gateway.config import gateway_config
from opslake.gateway.keys import init_state
from opslake.stack.jupyter import status

pytestmark = [pytest.mark.integration, pytest.mark.stack]


@dataclass(frozen=True)
class Door:
    url: str  # http://127.0.0.1:<port>
    token: str  # an admin JWT of this gateway
    jupyter_token: str

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def door(jupyter: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    """The gateway application in this process, in front of the stack's JupyterLab."""
    settings = jupyter.model_copy(
        update={"gateway_dir": str(tmp_path_factory.mktemp("gateway-state"))}
    )
    config = gateway_config(settings)
    init_state(config.state_dir)
    port = _free_port()
    server = uvicorn.Server(server_config(build_app(config), "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    token = mint_token(
        config.state_dir, "jupyter-test", "admin", config.issuer, config.audience, 600
    )
    yield Door(f"http://127.0.0.1:{port}", token, settings.gateway_jupyter_token.get_secret_value())
    server.should_exit = True
    thread.join(15)


def test_jupyter_answers_only_with_its_token(jupyter: Settings) -> None:
    assert status(jupyter) == 200
    assert status(jupyter, token="") == 403
    assert status(jupyter, token="not-the-token") == 403


def test_the_gateway_adds_the_token_and_no_page_carries_it(door: Door) -> None:
    with httpx.Client(base_url=door.url, timeout=60, trust_env=False) as client:
        refused = client.get("/datalake/jupyter/api/status")
        answer = client.get("/datalake/jupyter/api/status", headers=door.headers())
        lab = client.get("/datalake/jupyter/lab", headers=door.headers())
    assert refused.status_code == 401  # no gateway credential: the gateway answers, not Jupyter
    assert answer.status_code == 200
    assert {"started", "kernels", "connections"} <= set(answer.json())
    assert lab.status_code == 200
    assert '"baseUrl": "/datalake/jupyter/"' in lab.text
    assert '"token": ""' in lab.text  # the page config's token is blanked (deploy/jupyter config)
    assert door.jupyter_token not in lab.text


def _execute_request(session: str, code: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "username": "gateway-test",
            "session": session,
            "date": datetime.now(UTC).isoformat(),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }


def _replies(ws: ClientConnection, msg_id: str, timeout_s: float = 60) -> list[dict[str, Any]]:
    """Messages answering ``msg_id``, until the shell's execute_reply and iopub's idle status (the
    two channels share the socket, in either order)."""
    replies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message: dict[str, Any] = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        replies.append(message)
        kinds = {m["msg_type"] for m in replies}
        idle = any(
            m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in replies
        )
        if idle and "execute_reply" in kinds:
            return replies
    raise AssertionError(f"no complete answer to {msg_id} within {timeout_s}s: {replies}")


def test_kernel_round_trip_through_the_gateway(door: Door) -> None:
    with httpx.Client(base_url=door.url, timeout=120, trust_env=False) as client:
        created = client.post(
            "/datalake/jupyter/api/kernels", headers=door.headers(), json={"name": "python3"}
        )
        assert created.status_code == 201, created.text
        kernel = created.json()["id"]
        try:
            listed = client.get("/datalake/jupyter/api/kernels", headers=door.headers()).json()
            assert kernel in {k["id"] for k in listed}
            session = uuid.uuid4().hex
            url = (
                door.url.replace("http://", "ws://")
                + f"/datalake/jupyter/api/kernels/{kernel}/channels?session_id={session}"
            )
            with ws_connect(url, additional_headers=door.headers(), open_timeout=30) as ws:
                request = _execute_request(session, "1+1")
                ws.send(json.dumps(request))
                replies = _replies(ws, request["header"]["msg_id"])
            results = [m for m in replies if m["msg_type"] == "execute_result"]
            assert [m["content"]["data"]["text/plain"] for m in results] == ["2"]
            [reply] = [m for m in replies if m["msg_type"] == "execute_reply"]
            assert reply["content"]["status"] == "ok"
        finally:
            deleted = client.delete(
                f"/datalake/jupyter/api/kernels/{kernel}", headers=door.headers()
            )
        assert deleted.status_code == 204


def test_a_websocket_without_a_gateway_credential_is_refused(door: Door) -> None:
    url = door.url.replace("http://", "ws://") + "/datalake/jupyter/api/kernels/none/channels"
    with pytest.raises(InvalidStatus) as refused, ws_connect(url, open_timeout=10):
        pass
    assert refused.value.response.status_code == 401
