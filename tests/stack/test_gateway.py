"""The gateway is the one door: every datalake service through `/datalake/<service>/*` on the real
stack, a browser session across all of their UIs, refusals that never reach Trino, and no listener
beyond loopback but the gateway.

The `door` fixture (conftest) starts what the core stack fixture does not: the Spark master and
worker, the Airflow api-server, JupyterLab and the gateway itself, as `opslake stack up` does.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from browser import Browser
from stacklib import Stack, gateway_login

from opslake.config import REPO_ROOT
from opslake.gateway.auth import mint_token
from opslake.gateway.config import gateway_config
from opslake.stack import install, manager
from opslake.stack.services import SERVICES

pytestmark = [pytest.mark.integration, pytest.mark.stack]

ARTIFACTS = REPO_ROOT / "out" / "test-artifacts" / "gateway"
# The overview's "active workers" figure, which the UI fetches from /ui/api/stats.
TRINO_ONE_ACTIVE_WORKER = (
    "[...document.querySelectorAll('.stat.stat-large')].map(e => e.innerText.trim())[1] === '1'"
)


def _admin_token(stack: Stack, role: str = "admin", ttl: int = 600) -> str:
    config = gateway_config(stack.settings)
    return mint_token(config.state_dir, "stack-test", role, config.issuer, config.audience, ttl)


def _get(door: str, path: str, token: str | None, **headers: str) -> httpx.Response:
    if token:
        headers["authorization"] = f"Bearer {token}"
    return httpx.get(door + path, headers=headers, timeout=60, trust_env=False)


def test_every_route_reaches_its_own_service(stack: Stack, door: str) -> None:
    token = _admin_token(stack)
    trino = _get(door, "/datalake/trino/v1/info", token).json()
    assert (trino["nodeVersion"]["version"], trino["environment"]) == ("476", "opslake")
    airflow = _get(door, "/datalake/airflow/api/v2/monitor/health", token).json()
    assert airflow["metadatabase"]["status"] == "healthy"
    spark = _get(door, "/datalake/spark/json/", token).json()
    assert (spark["url"], spark["status"], spark["aliveworkers"]) == (
        "spark://127.0.0.1:7077",
        "ALIVE",
        1,
    )
    namespaces = _get(door, "/datalake/marquez/api/v1/namespaces", token).json()["namespaces"]
    assert stack.settings.lineage_namespace in {n["name"] for n in namespaces}
    marquez_web = _get(door, "/datalake/marquez/", token).text
    assert '<base href="/datalake/marquez/"/>' in marquez_web and "bundle.js" in marquez_web
    minio = _get(door, "/datalake/minio/", token).text
    assert '<base href="/datalake/minio/"/>' in minio and "MinIO" in minio
    if "jupyter" in SERVICES:
        status = _get(door, "/datalake/jupyter/api/status", token).json()
        assert {"started", "kernels", "connections"} <= set(status)
    ready = _get(door, "/ready", None).json()
    assert ready["ready"] is True, ready


def _wait_for_text(browser: Browser, *texts: str, timeout_s: float = 60) -> bool:
    check = " && ".join(f"document.body.innerText.includes({json.dumps(t)})" for t in texts)
    return browser.wait_for(f"document.body && {check}", timeout_s)


def test_a_browser_logs_in_once_and_uses_every_ui(stack: Stack, door: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    password = stack.settings.gateway_admin_password.get_secret_value()
    airflow_password = stack.settings.airflow_admin_password.get_secret_value()
    seen: dict[str, bool] = {}
    with Browser(install.chromium_binary()) as browser:
        gateway_login(browser, door, password)
        browser.screenshot(ARTIFACTS / "gateway_home.png")

        # Trino: its own (password-less, HTTP) login, then the cluster overview, whose figures come
        # from /ui/api/stats: proof that the UI's absolute API paths find their way back.
        browser.open(f"{door}/datalake/trino/ui/", "document.getElementById('username')")
        browser.evaluate(
            "document.getElementById('username').value = 'admin'; "
            "document.getElementById('submit').click(); true"
        )
        seen["trino"] = _wait_for_text(browser, "ACTIVE WORKERS", "QUERY DETAILS")
        seen["trino_stats"] = browser.wait_for(TRINO_ONE_ACTIVE_WORKER, 60)
        browser.screenshot(ARTIFACTS / "trino.png")

        browser.open(f"{door}/datalake/spark/", "document.body")
        seen["spark"] = _wait_for_text(browser, "Spark Master at spark://127.0.0.1:7077", "ALIVE")
        browser.screenshot(ARTIFACTS / "spark.png")

        browser.open(f"{door}/datalake/marquez/", "document.body")
        seen["marquez"] = _wait_for_text(browser, "DataOps", "JOBS", timeout_s=60)
        browser.screenshot(ARTIFACTS / "marquez.png")

        browser.open(f"{door}/datalake/minio/", "document.body")
        seen["minio"] = browser.wait_for(
            "document.querySelector('input#accessKey, input[name=accessKey]') !== null", 60
        )
        browser.screenshot(ARTIFACTS / "minio_login.png")

        # Airflow keeps its own users: its FAB login, then the DAG list.
        browser.open(f"{door}/datalake/airflow/", "document.querySelector('form[name=login]')")
        browser.evaluate(
            "const g = document.querySelector('form[name=login]'); g.username.value = 'admin'; "
            f"g.password.value = {json.dumps(airflow_password)}; g.submit(); true"
        )
        seen["airflow"] = _wait_for_text(browser, "Dag Processor")
        browser.screenshot(ARTIFACTS / "airflow.png")

        if "jupyter" in SERVICES:
            browser.open(f"{door}/datalake/jupyter/lab", "document.body")
            seen["jupyter"] = browser.wait_for(
                "document.querySelector('.jp-LabShell') !== null && "
                "document.body.innerText.includes('01_telemetry_exploration')",
                90,
            )
            browser.screenshot(ARTIFACTS / "jupyter.png")
    (ARTIFACTS / "seen.json").write_text(json.dumps(seen, indent=1))
    assert all(seen.values()), f"{seen}; screenshots in {ARTIFACTS}"


def _raw_status(stack: Stack, head: str, token: str) -> int:
    """Send ``head`` (request line and headers) with the token over a bare socket; the status."""
    request = f"{head}Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", stack.settings.gateway_port), timeout=30) as sock:
        sock.sendall(request.encode())
        return int(sock.recv(64).split(b" ", 2)[1])


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1, a dual-stack JVM's loopback
    return (mapped or address).is_loopback


def _trino_request_log(stack: Stack) -> Path:
    return stack.settings.stack_dir / "trino" / "data" / "var" / "log" / "http-request.log"


def _logged(stack: Stack, marker: str) -> bool:
    log = _trino_request_log(stack)
    return log.exists() and marker in log.read_text(errors="replace")


def test_refused_requests_never_reach_trino(stack: Stack, door: str) -> None:
    """Each bad credential or path is refused by the gateway; Trino's own request log proves it
    received none of them (and did receive the admin's request sent last)."""
    config = gateway_config(stack.settings)
    expired = mint_token(config.state_dir, "x", "admin", config.issuer, config.audience, -60)
    wrong_aud = mint_token(config.state_dir, "x", "admin", config.issuer, "someone-else", 600)
    wrong_iss = mint_token(config.state_dir, "x", "admin", "not-the-gateway", config.audience, 600)
    good = _admin_token(stack)
    header, payload, signature = good.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    cases = {
        "none": (None, 401),
        "expired": (expired, 401),
        "wrong-signature": (forged, 401),
        "wrong-audience": (wrong_aud, 401),
        "wrong-issuer": (wrong_iss, 401),
        "user-role": (_admin_token(stack, role="user"), 403),
        "readonly-role": (_admin_token(stack, role="readonly"), 403),
    }
    markers = {}
    for name, (token, status) in cases.items():
        marker = f"refused-{name}-{uuid.uuid4().hex[:8]}"
        markers[name] = marker
        answer = _get(door, f"/datalake/trino/v1/info?probe={marker}", token)
        assert answer.status_code == status, (name, answer.status_code, answer.text)
    # Raw requests: an HTTP client would normalise these paths before sending them.
    traversal = f"probe-{uuid.uuid4().hex[:8]}"
    bad_requests = {
        f"/datalake/trino/../airflow/{traversal}": "",
        f"/datalake/trino/%2e%2e/airflow/{traversal}": "",
        f"/datalake/trino/v1%2finfo/{traversal}": "",
        f"/datalake/trino/v1/info?probe={traversal}": "X-Evil: a\rInjected: b\r\n",  # bare CR
    }
    for path, extra in bad_requests.items():
        status = _raw_status(stack, f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}", good)
        assert status == 400, (path, status)
    control = f"admitted-{uuid.uuid4().hex[:8]}"
    assert _get(door, f"/datalake/trino/v1/info?probe={control}", good).status_code == 200
    deadline = time.monotonic() + 60  # Trino's request log is flushed every few seconds
    while not _logged(stack, control) and time.monotonic() < deadline:
        time.sleep(1)
    assert _logged(stack, control), "the admitted request is not in Trino's request log"
    log = _trino_request_log(stack).read_text(errors="replace")
    assert [m for m in [*markers.values(), traversal] if m in log] == []


def _stack_pids(stack: Stack) -> dict[int, str]:
    """Every process of the running stack (each service's process tree), by pid."""
    pids: dict[int, str] = {}
    for status in manager.status(stack.settings):
        if status.pid is None:
            continue
        try:
            root = psutil.Process(status.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        pids.update({p.pid: status.name for p in tree})
    return pids


def test_only_the_gateway_listens_beyond_loopback(stack: Stack, door: str) -> None:
    pids = _stack_pids(stack)
    assert {"postgres", "trino", "gateway", "spark-master"} <= set(pids.values())
    listening: list[tuple[str, str, int]] = []
    for pid, name in pids.items():
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        listening += [(name, c.laddr.ip, c.laddr.port) for c in conns if c.status == "LISTEN"]
    beyond = [(n, ip, port) for n, ip, port in listening if not _loopback(ip)]
    assert beyond == [], f"bound beyond loopback: {beyond}"
    ports = {port for _, _, port in listening}
    assert {8090, 7077, 8081, 8080, 5432, 9000, 9001} <= ports  # the sockets really were listed
    assert 6066 not in ports  # the Spark master's REST submission server is off
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", 6066), timeout=2):
        pass
