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


def test_encoded_slashes_only_where_an_upstream_names_things_with_slashes() -> None:
    from urllib.parse import unquote

    import pytest

    from opslake.gateway.paths import PathRejectedError, check_path

    marquez = "/datalake/marquez/lineage/dataset/s3%3A%2F%2Flake/analytics.carbon_daily"
    check_path(marquez.encode(), unquote(marquez), encoded_slashes=True)
    with pytest.raises(PathRejectedError, match="encoded"):
        check_path(marquez.encode(), unquote(marquez))  # elsewhere %2F stays refused
    for walk in (
        "/datalake/marquez/api/v1/namespaces/..%2F..%2Ftrino",
        "/datalake/marquez/api/v1/x%2F.%2Fy",
        "/datalake/marquez/api/v1/%2F..",
    ):
        with pytest.raises(PathRejectedError, match="dot segment"):
            check_path(walk.encode(), unquote(walk), encoded_slashes=True)
    with pytest.raises(PathRejectedError, match="encoded"):  # encoded dots stay refused
        raw = "/datalake/marquez/api/v1/%2e%2e"
        check_path(raw.encode(), unquote(raw), encoded_slashes=True)


def test_the_gateway_passes_marquez_names_with_slashes_and_nothing_else(
    gateway: GatewayUnderTest,
) -> None:
    from .test_security import raw_request

    token = gateway.token()

    def status(path: str) -> int:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n"
            f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ).encode()
        return raw_request(gateway.port, request)

    before = gateway.state.count
    assert status("/datalake/trino/v1/a%2Fb") == 400  # the Trino route does not take %2F
    assert status("/datalake/marquez%2F..%2Ftrino/v1/info") == 400  # the prefix must be literal
    assert status("/datalake/marquez/api/v1/namespaces/..%2Fx") == 400
    assert gateway.state.count == before
    name = "/api/v1/namespaces/s3%3A%2F%2Flake"
    assert status("/datalake/marquez" + name) == 200
    assert gateway.state.count == before + 1
    assert gateway.state.seen[-1]["path"] == name  # forwarded as sent, still encoded
