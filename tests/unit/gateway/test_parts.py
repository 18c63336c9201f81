"""The gateway's pure parts: path checks, token buckets, keys and credentials, routing, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from opslake.cli import main
from opslake.config import Settings
from opslake.gateway.auth import Authenticator, AuthError, mint_token
from opslake.gateway.config import gateway_config
from opslake.gateway.keys import (
    create_api_key,
    hash_password,
    init_state,
    rotate_signing_key,
    verify_password,
)
from opslake.gateway.paths import PathRejectedError, check_path
from opslake.gateway.proxy import rewrite_location
from opslake.gateway.ratelimit import TokenBuckets, retry_after


@pytest.mark.parametrize(
    "path",
    ["/", "/datalake/trino/ui/", "/datalake/jupyter/api/contents/a.b/c..d", "/x/%20y", "/a/b.c/"],
)
def test_canonical_paths_pass(path: str) -> None:
    check_path(path.encode(), path.replace("%20", " "))


@pytest.mark.parametrize(
    ("raw", "decoded", "reason"),
    [
        ("/a/../b", "/a/../b", "dot segment in path"),
        ("/a/%2e%2e/b", "/a/../b", "encoded dot, slash, backslash or control character in path"),
        ("/a%2Fb", "/a/b", "encoded dot, slash, backslash or control character in path"),
        ("/a//b", "/a//b", "empty segment in path"),
        ("/a\\b", "/a\\b", "backslash in path"),
        ("relative", "relative", "path must start with /"),
        ("/a/\u00e9\x7f", "/a/\u00e9\x7f", "control character in path"),
    ],
)
def test_ambiguous_paths_are_refused(raw: str, decoded: str, reason: str) -> None:
    with pytest.raises(PathRejectedError, match=f"^{reason}$"):
        check_path(raw.encode(), decoded)


def test_token_bucket_refills_at_the_rate() -> None:
    now = [100.0]
    buckets = TokenBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # empty: one token in 1/rate s
    assert buckets.take("b") == 0.0  # another identity has its own bucket
    now[0] += 0.25
    assert buckets.take("a") == pytest.approx(0.25)  # half a token back
    now[0] += 10.0
    assert [buckets.take("a") for _ in range(4)][-1] == pytest.approx(0.5)  # capped at the burst
    assert (retry_after(0.01), retry_after(1.0), retry_after(1.2)) == ("1", "1", "2")


def test_passwords_are_scrypt_hashed() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$16384$8$1$")
    assert "s3cret" not in stored
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret ", stored)
    assert hash_password("s3cret") != stored  # salted


def test_state_files_hold_no_secret_in_clear(tmp_path: Path) -> None:
    password = init_state(tmp_path)
    assert password is not None
    assert init_state(tmp_path) is None  # idempotent: never a second password
    key = create_api_key(tmp_path, "bot", "user")
    credentials = (tmp_path / "credentials.json").read_text()
    assert password not in credentials and key not in credentials
    assert (tmp_path / "credentials.json").stat().st_mode & 0o777 == 0o600
    identity = Authenticator(tmp_path, "i", "a").verify_api_key(key)
    assert (identity.subject, identity.role, identity.via) == ("bot", "user", "api_key")


def test_key_rotation_keeps_the_previous_key_verifying(tmp_path: Path) -> None:
    init_state(tmp_path)
    auth = Authenticator(tmp_path, "iss", "aud")
    old = mint_token(tmp_path, "alice", "admin", "iss", "aud", 60)
    first = rotate_signing_key(tmp_path)
    new = mint_token(tmp_path, "alice", "admin", "iss", "aud", 60)
    assert jwt.get_unverified_header(new)["kid"] == first
    assert auth.verify_token(old).subject == auth.verify_token(new).subject == "alice"
    rotate_signing_key(tmp_path)  # the key that signed `old` now drops out (keep=2)
    with pytest.raises(AuthError, match="unknown key"):
        auth.verify_token(old)
    assert auth.verify_token(new).role == "admin"
    jwks = json.loads((tmp_path / "jwks.json").read_text())
    assert len(jwks["keys"]) == 2 and all("d" not in k for k in jwks["keys"])  # public halves only
    assert len(list((tmp_path / "signing").glob("*.pem"))) == 2


def test_routes_of_the_default_configuration(tmp_path: Path) -> None:
    config = gateway_config(Settings(gateway_dir=str(tmp_path)))
    routes = {
        path: (u.name, u.url, u.strip)
        for path in [
            "/datalake/trino/ui/",
            "/datalake/airflow/home",
            "/datalake/spark/",
            "/datalake/jupyter/lab",
            "/datalake/marquez/lineage",
            "/datalake/marquez/api/v1/namespaces",
            "/datalake/minio/browser",
        ]
        if (u := config.route(path)) is not None
    }
    assert routes == {
        "/datalake/trino/ui/": ("trino", "http://127.0.0.1:8090", "/datalake/trino"),
        "/datalake/airflow/home": ("airflow", "http://127.0.0.1:8082", ""),
        "/datalake/spark/": ("spark", "http://127.0.0.1:8081", "/datalake/spark"),
        "/datalake/jupyter/lab": ("jupyter", "http://127.0.0.1:8888", ""),
        "/datalake/marquez/lineage": ("marquez", "http://127.0.0.1:3000", "/datalake/marquez"),
        "/datalake/marquez/api/v1/namespaces": (
            "marquez-api",
            "http://127.0.0.1:5000",
            "/datalake/marquez",
        ),
        "/datalake/minio/browser": ("minio", "http://127.0.0.1:9001", "/datalake/minio"),
    }
    assert config.route("/datalake/other/") is None
    assert (config.state_dir, config.audit_log) == (tmp_path, tmp_path / "audit.jsonl")


def test_location_rewrite() -> None:
    config = gateway_config(Settings())
    trino = config.route("/datalake/trino/")
    airflow = config.route("/datalake/airflow/")
    assert trino is not None and airflow is not None
    assert rewrite_location("http://127.0.0.1:8090/ui/?a=1", trino) == "/datalake/trino/ui/?a=1"
    assert rewrite_location("/ui/", trino) == "/datalake/trino/ui/"
    assert rewrite_location("/datalake/trino/ui/", trino) == "/datalake/trino/ui/"
    assert rewrite_location("https://elsewhere.example/x", trino) == "https://elsewhere.example/x"
    assert rewrite_location("/datalake/airflow/home", airflow) == "/datalake/airflow/home"


def test_cli_mints_a_verifiable_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSLAKE_GATEWAY_DIR", str(tmp_path))
    assert main(["gateway", "token", "--role", "admin", "--subject", "ops", "--ttl", "120"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert "created gateway login 'admin' with password" in err  # first use creates the state
    identity = Authenticator(tmp_path, "opslake-gateway", "opslake").verify_token(token)
    assert (identity.subject, identity.role) == ("ops", "admin")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120
    assert main(["gateway", "token", "--role", "readonly"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # the admin login exists already
    assert Authenticator(tmp_path, "opslake-gateway", "opslake").verify_token(out.strip()).role == (
        "readonly"
    )
