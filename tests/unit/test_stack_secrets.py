"""No secret on any command line: every service's argv (and the helpers they run) built with known secrets.

`ps` shows every process's command line to every user of the machine; secrets go through the
environment (or psql's \\getenv), never argv. Installers are replaced by fixed paths: these tests look
at the command lines, not at downloads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from opslake.config import Settings, data_path
from opslake.exceptions import ConfigError
from opslake.lake.session import catalog_conf, split_secrets
from opslake.stack import airflow, install, manager, services

SECRETS = {
    "catalog_password": "PG-pass-3f9a1c",
    "s3_access_key": "opslake-AK-77e2",
    "s3_secret_key": "S3-secret-0b5d48",
    "airflow_admin_password": "AF-admin-91c2e0",
    "airflow_fernet_key": "AF-fernet-5d1e77",
    "airflow_secret_key": "AF-secret-0c4b19",
    "airflow_jwt_secret": "AF-jwt-a8e3f2",
    "gateway_jupyter_token": "JP-token-6b0d3e",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        stack_dir=tmp_path / "stack",
        cache_dir=tmp_path / "cache",
        catalog_uri="jdbc:postgresql://127.0.0.1:5432/iceberg_catalog",
        catalog_user="opslake",
        s3_endpoint="http://127.0.0.1:9000",
        **{k: SecretStr(v) for k, v in SECRETS.items()},
    )


class _Module:
    """A module whose listed functions are replaced, for this test only (the real one stays intact)."""

    def __init__(self, module: Any, **functions: Any) -> None:
        self._module, self._functions = module, functions

    def __getattr__(self, name: str) -> Any:
        return self._functions.get(name) or getattr(self._module, name)


class _Marquez:
    classpath = "/opt/marquez/lib/*"
    source = "(test)"


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """Every argv the service specs run themselves (initdb, init.sh), recorded instead of run."""
    seen: list[list[str]] = []

    def run(argv: list[str], *args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append([str(a) for a in argv])
        return subprocess.CompletedProcess(argv, 0, "", "")

    fake = tmp_path / "installed"
    monkeypatch.setattr(services, "subprocess", _Module(subprocess, run=run))
    monkeypatch.setattr(airflow, "subprocess", _Module(subprocess, run=run))
    monkeypatch.setattr(services, "shutil", _Module(shutil, chown=lambda *a, **k: None))
    monkeypatch.setattr(install, "postgres_bin_dir", lambda *a, **k: fake / "pg" / "bin")
    monkeypatch.setattr(install, "minio_binary", lambda *a, **k: fake / "minio")
    monkeypatch.setattr(install, "trino_home", lambda *a, **k: fake / "trino")
    monkeypatch.setattr(install, "jdk25_home", lambda *a, **k: fake / "jdk25")
    monkeypatch.setattr(install, "marquez_api", lambda *a, **k: _Marquez(), raising=False)
    monkeypatch.setattr(
        install, "marquez_web", lambda *a, **k: (fake / "web", "(test)"), raising=False
    )
    monkeypatch.setattr(install, "debian_tools", lambda tools, why: dict(tools), raising=False)
    return seen


def _leaks(argv: list[str]) -> list[str]:
    return [arg for arg in argv if any(secret in arg for secret in SECRETS.values())]


def test_no_service_gets_a_secret_on_its_command_line(
    settings: Settings, commands: list[list[str]]
) -> None:
    launches = {name: svc.prepare(settings) for name, svc in services.SERVICES.items()}
    services.SERVICES["postgres"].bootstrap(settings)
    assert set(launches) >= {
        "postgres",
        "minio",
        "trino",
        "marquez",
        "spark-master",
        "spark-worker",
        "airflow-api-server",
        "airflow-scheduler",
    }
    for name, launch in launches.items():
        assert _leaks(launch.argv) == [], name
        manager.refuse_secrets_in_argv(settings, name, launch.argv)  # the guard agrees
    assert any("initdb" in " ".join(c) for c in commands)
    assert any(c[-1].endswith("init.sh") for c in commands)
    assert [c for c in commands if _leaks(c)] == []
    # The secrets still reach the services, through their environment.
    assert launches["minio"].env["MINIO_ROOT_PASSWORD"] == SECRETS["s3_secret_key"]
    assert launches["trino"].env["OPSLAKE_CATALOG_PASSWORD"] == SECRETS["catalog_password"]
    assert launches["marquez"].env["POSTGRES_PASSWORD"] == SECRETS["catalog_password"]
    scheduler = launches["airflow-scheduler"].env
    assert scheduler["AIRFLOW__CORE__FERNET_KEY"] == SECRETS["airflow_fernet_key"]
    assert SECRETS["catalog_password"] in scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert any(c[1:3] == ["db", "migrate"] for c in commands)  # `airflow db migrate`, no secret
    assert launches["jupyter"].env["JUPYTER_TOKEN"] == SECRETS["gateway_jupyter_token"]


def test_postgres_bootstrap_passes_the_password_in_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def run(argv: list[str], *args: Any, env: dict[str, str], **kwargs: Any) -> Any:
        calls.append((argv, env))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(services, "subprocess", _Module(subprocess, run=run))
    monkeypatch.setattr(airflow, "subprocess", _Module(subprocess, run=run))
    monkeypatch.setattr(install, "postgres_bin_dir", lambda *a, **k: tmp_path / "bin")
    services.SERVICES["postgres"].bootstrap(settings)
    [(argv, env)] = calls
    assert argv[-2:] == ["bash", str(data_path("deploy", "postgres", "init.sh"))]
    assert _leaks(argv) == []
    assert env["POSTGRES_PASSWORD"] == SECRETS["catalog_password"]


def test_init_sh_gives_psql_the_password_through_its_environment_only(tmp_path: Path) -> None:
    """Run the real init.sh against a stand-in psql that records its argv, stdin and environment."""
    record = tmp_path / "record"
    record.mkdir()
    psql = tmp_path / "bin" / "psql"
    psql.parent.mkdir()
    psql.write_text(
        '#!/bin/bash\nn=$(ls "$RECORD" | wc -l)\nprintf "%s\\n" "$@" > "$RECORD/$n.argv"\n'
        'cat > "$RECORD/$n.stdin"\nprintf "%s" "$POSTGRES_PASSWORD" > "$RECORD/$n.env"\n'
    )
    psql.chmod(0o755)
    env = {
        "PATH": f"{psql.parent}:{os.environ['PATH']}",
        "RECORD": str(record),
        "POSTGRES_USER": "opslake",
        "POSTGRES_PASSWORD": SECRETS["catalog_password"],
    }
    subprocess.run(["bash", str(data_path("deploy", "postgres", "init.sh"))], env=env, check=True)
    argvs = sorted(record.glob("*.argv"))
    assert len(argvs) == 2  # roles/databases, then the catalog tables
    for path in argvs:
        assert SECRETS["catalog_password"] not in path.read_text()
        assert path.with_suffix(".env").read_text() == SECRETS["catalog_password"]
    first_stdin = (record / "0.stdin").read_text()
    assert first_stdin.startswith("\\getenv app_password POSTGRES_PASSWORD\n")
    assert "PASSWORD %L', :'app_user', :'app_password')" in first_stdin


def test_the_guard_refuses_a_command_line_with_a_secret(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"^refusing to start minio: .*\(argument\(s\) \[2\]\)$"):
        manager.refuse_secrets_in_argv(
            settings, "minio", ["minio", "server", f"--password={SECRETS['s3_secret_key']}"]
        )
    assert sorted(manager.secret_values(settings)) == sorted(SECRETS.values())


def test_spark_driver_gets_secrets_on_the_session_not_on_spark_submit(settings: Settings) -> None:
    """pyspark turns builder options into `spark-submit --conf k=v`: secrets must not be among them."""
    public, secret = split_secrets(catalog_conf(settings))
    assert _leaks([f"{k}={v}" for k, v in public.items()]) == []
    assert secret == {
        "spark.sql.catalog.lake.jdbc.password": SECRETS["catalog_password"],
        "spark.sql.catalog.lake.s3.access-key-id": SECRETS["s3_access_key"],
        "spark.sql.catalog.lake.s3.secret-access-key": SECRETS["s3_secret_key"],
    }
    assert public["spark.sql.catalog.lake.jdbc.user"] == "opslake"
