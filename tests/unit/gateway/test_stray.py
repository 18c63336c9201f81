"""Absolute paths fetched by a UI behind a stripped prefix are sent back under it (Trino's /ui/api)."""

from __future__ import annotations

from .conftest import GatewayUnderTest
from .test_login import cookie_header, session_cookies

TRINO_PAGE = "http://127.0.0.1/datalake/trino/ui/"


def test_a_stray_path_from_a_stripped_upstream_page_is_redirected_under_its_prefix(
    gateway: GatewayUnderTest,
) -> None:
    cookies = cookie_header(session_cookies(gateway))
    before = gateway.state.count
    with gateway.client() as client:
        answer = client.get("/ui/api/stats?x=1", headers={"cookie": cookies, "referer": TRINO_PAGE})
        assert (answer.status_code, answer.headers["location"]) == (
            307,
            "/datalake/trino/ui/api/stats?x=1",
        )
        assert gateway.state.count == before  # the redirect itself reaches nothing
        followed = client.get(answer.headers["location"], headers={"cookie": cookies})
    assert followed.status_code == 200
    assert followed.json()["path"] == "/ui/api/stats"  # the upstream sees its own path


def test_a_stray_path_is_404_without_a_session_or_from_elsewhere(gateway: GatewayUnderTest) -> None:
    cookies = cookie_header(session_cookies(gateway))
    with gateway.client() as client:
        no_session = client.get("/ui/api/stats", headers={"referer": TRINO_PAGE})
        no_referer = client.get("/ui/api/stats", headers={"cookie": cookies})
        other_site = client.get(
            "/ui/api/stats", headers={"cookie": cookies, "referer": "http://evil.example/x"}
        )
        # Airflow keeps its prefix itself (nothing stripped): no guessing there.
        unstripped = client.get(
            "/api/v2/dags", headers={"cookie": cookies, "referer": "http://h/datalake/airflow/"}
        )
    assert [a.status_code for a in (no_session, no_referer, other_site, unstripped)] == [404] * 4


def test_cookie_paths_of_a_stripped_upstream_are_moved_under_its_prefix() -> None:
    from opslake.gateway.proxy import rewrite_cookie_path

    prefix = "/datalake/trino"
    assert rewrite_cookie_path("T=1;Version=1;Path=/ui;HttpOnly", prefix) == (
        "T=1;Version=1;Path=/datalake/trino/ui;HttpOnly"
    )
    assert rewrite_cookie_path("T=1; path=/", prefix) == "T=1; path=/datalake/trino"
    assert rewrite_cookie_path("T=1; Path=/datalake/trino/ui", prefix) == (
        "T=1; Path=/datalake/trino/ui"
    )
    assert rewrite_cookie_path("T=1; HttpOnly", prefix) == "T=1; HttpOnly"  # the page's own path
