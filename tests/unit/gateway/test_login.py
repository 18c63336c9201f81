"""Browser flow: login page -> session cookie -> proxied requests; CSRF on state changes; logout."""

from __future__ import annotations

import re

import httpx
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.typing import Origin

from .conftest import GatewayUnderTest


def _set_cookies(answer: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the whole header value)."""
    return {v.split("=", 1)[0]: v for v in answer.headers.get_list("set-cookie")}


def _cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def login(gateway: GatewayUnderTest, **form: str) -> tuple[httpx.Response, str]:
    """GET /login then POST the form with its CSRF token; returns the answer and the CSRF cookie."""
    with gateway.client() as client:
        page = client.get("/login", params={"next": "/datalake/trino/ui/"})
        csrf = _cookie_value(_set_cookies(page)["opslake_csrf"])
        assert f'name="csrf" value="{csrf}"' in page.text
        answer = client.post(
            "/login",
            data={**form, "csrf": csrf, "next": "/datalake/trino/ui/"},
            headers={"cookie": f"opslake_csrf={csrf}"},
        )
    return answer, csrf


def session_cookies(gateway: GatewayUnderTest) -> dict[str, str]:
    answer, _ = login(gateway, username="admin", password=gateway.password)
    cookies = _set_cookies(answer)
    return {name: _cookie_value(value) for name, value in cookies.items()}


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def test_login_with_password_sets_a_strict_http_only_cookie(gateway: GatewayUnderTest) -> None:
    answer, _ = login(gateway, username="admin", password=gateway.password)
    assert (answer.status_code, answer.headers["location"]) == (303, "/datalake/trino/ui/")
    session = _set_cookies(answer)["opslake_session"]
    assert re.fullmatch(
        r"opslake_session=[\w-]+\.[\w-]+\.[\w-]+; Path=/; Max-Age=28800; SameSite=Strict; HttpOnly",
        session,
    )  # no Secure: this gateway speaks plain HTTP on loopback
    assert "HttpOnly" not in _set_cookies(answer)["opslake_csrf"]  # scripts echo it as a header


def test_login_with_a_token(gateway: GatewayUnderTest) -> None:
    answer, _ = login(gateway, token=gateway.token(subject="tok-user"))
    assert answer.status_code == 303
    assert "opslake_session" in _set_cookies(answer)


def test_wrong_password_is_401_without_a_cookie(gateway: GatewayUnderTest) -> None:
    answer, _ = login(gateway, username="admin", password="guess")
    assert answer.status_code == 401
    assert "Sign-in failed" in answer.text
    assert "opslake_session" not in _set_cookies(answer)
    unknown, _ = login(gateway, username="nobody", password="guess")
    assert unknown.status_code == 401


def test_login_without_csrf_token_is_refused(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        answer = client.post("/login", data={"username": "admin", "password": gateway.password})
    assert answer.status_code == 403
    assert "opslake_session" not in _set_cookies(answer)


def test_login_never_redirects_off_site(gateway: GatewayUnderTest) -> None:
    with gateway.client() as client:
        page = client.get("/login", params={"next": "//evil.example/x"})
    assert 'name="next" value="/"' in page.text


def test_session_cookie_reaches_the_upstream(gateway: GatewayUnderTest) -> None:
    cookies = session_cookies(gateway)
    before = gateway.state.count
    with gateway.client() as client:
        answer = client.get(
            "/datalake/trino/ui/",
            headers={
                "cookie": cookie_header(cookies) + "; theirs=2",
                # a header meant for the upstream (Airflow's UI sends its own JWT) passes through
                "authorization": "Bearer upstream-own-token",
            },
        )
    assert answer.status_code == 200
    assert gateway.state.count == before + 1
    seen = answer.json()["headers"]
    assert seen["cookie"] == "theirs=2"
    assert seen["authorization"] == "Bearer upstream-own-token"
    line = [r for r in gateway.audit_lines() if r.get("via") == "session"][-1]
    assert (line["who"], line["status"]) == ("admin", 200)


def test_post_with_session_needs_csrf(gateway: GatewayUnderTest) -> None:
    cookies = session_cookies(gateway)
    cookie = cookie_header(cookies)
    origin = f"http://127.0.0.1:{gateway.port}"
    before = gateway.state.count
    with gateway.client() as client:
        bare = client.post(
            "/datalake/trino/v1/statement", content=b"SELECT 1", headers={"cookie": cookie}
        )
        foreign = client.post(
            "/datalake/trino/v1/statement",
            content=b"SELECT 1",
            headers={"cookie": cookie, "origin": "http://evil.example"},
        )
        wrong_token = client.post(
            "/datalake/trino/v1/statement",
            content=b"SELECT 1",
            headers={"cookie": cookie, "x-csrf-token": "not-it"},
        )
    assert (bare.status_code, foreign.status_code, wrong_token.status_code) == (403, 403, 403)
    assert bare.json() == {"error": "cross-site request refused (CSRF)"}
    assert gateway.state.count == before
    with gateway.client() as client:
        same_origin = client.post(
            "/datalake/trino/v1/statement",
            content=b"SELECT 1",
            headers={"cookie": cookie, "origin": origin},
        )
        double_submit = client.post(
            "/datalake/trino/v1/statement",
            content=b"SELECT 1",
            headers={"cookie": cookie, "x-csrf-token": cookies["opslake_csrf"]},
        )
    assert (same_origin.status_code, double_submit.status_code) == (200, 200)
    assert gateway.state.count == before + 2


def test_cross_site_websocket_with_session_is_refused(gateway: GatewayUnderTest) -> None:
    cookie = cookie_header(session_cookies(gateway))
    url = f"ws://127.0.0.1:{gateway.port}/datalake/jupyter/api/kernels/k/channels"
    before = gateway.state.count
    try:
        with ws_connect(
            url, additional_headers={"cookie": cookie}, origin=Origin("http://evil.example")
        ):
            status = 101
    except InvalidStatus as exc:
        status = exc.response.status_code
    assert (status, gateway.state.count) == (403, before)
    with ws_connect(
        url,
        additional_headers={"cookie": cookie},
        origin=Origin(f"http://127.0.0.1:{gateway.port}"),
    ) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "echo:hi"


def test_logout_clears_the_cookie(gateway: GatewayUnderTest) -> None:
    cookies = session_cookies(gateway)
    with gateway.client() as client:
        home = client.get("/", headers={"cookie": cookie_header(cookies)})
        refused = client.post("/logout", headers={"cookie": cookie_header(cookies)})
        answer = client.post(
            "/logout",
            data={"csrf": cookies["opslake_csrf"]},
            headers={"cookie": cookie_header(cookies)},
        )
    assert home.status_code == 200
    assert "Signed in as <strong>admin</strong> (admin)" in home.text
    assert '<a href="/datalake/jupyter/">jupyter</a>' in home.text
    assert refused.status_code == 403
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert _set_cookies(answer)["opslake_session"].startswith("opslake_session=; Path=/; Max-Age=0")
