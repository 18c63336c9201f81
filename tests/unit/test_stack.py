"""The stack manager's own logic, without starting services: secrets, selection, preflight, configs."""

from __future__ import annotations

import base64
import json
import re
import socket
import stat
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from opslake.config import REPO_ROOT, Settings, load_settings
from opslake.exceptions import ConfigError, ServiceUnavailableError
from opslake.lake.preflight import endpoints, require, require_services, trino_endpoint
from opslake.stack import manager
from opslake.stack.service import Launch, Service
from opslake.stack.services import SERVICES, trino_env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_secrets_are_generated_once_private_and_random(tmp_path: Path) -> None:
    path = manager.ensure_secrets(tmp_path)
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert manager.ensure_secrets(tmp_path).read_text() == first  # never rotated behind your back
    other = manager.ensure_secrets(tmp_path / "other").read_text()
    values = dict(line.split("=", 1) for line in first.splitlines() if "=" in line)
    assert set(values) == {
        "OPSLAKE_CATALOG_PASSWORD",
        "OPSLAKE_S3_ACCESS_KEY",
        "OPSLAKE_S3_SECRET_KEY",
        "OPSLAKE_AIRFLOW_ADMIN_PASSWORD",
        "OPSLAKE_AIRFLOW_FERNET_KEY",
        "OPSLAKE_AIRFLOW_SECRET_KEY",
        "OPSLAKE_AIRFLOW_JWT_SECRET",
        "OPSLAKE_GATEWAY_ADMIN_PASSWORD",
        "OPSLAKE_GATEWAY_JUPYTER_TOKEN",
    }
    assert all(len(v) >= 16 for v in values.values())
    assert len(base64.urlsafe_b64decode(values["OPSLAKE_AIRFLOW_FERNET_KEY"])) == 32
    assert not set(values.values()) & set(other.splitlines())


def test_a_credential_added_later_is_appended_and_the_old_ones_kept(tmp_path: Path) -> None:
    path = manager.ensure_secrets(tmp_path)
    old = "OPSLAKE_CATALOG_PASSWORD=kept-from-an-older-stack\nOPSLAKE_S3_SECRET_KEY=also-kept\n"
    path.write_text(old)
    values = _parse(manager.ensure_secrets(tmp_path).read_text())
    assert values["OPSLAKE_CATALOG_PASSWORD"] == "kept-from-an-older-stack"
    assert values["OPSLAKE_S3_SECRET_KEY"] == "also-kept"
    assert len(values["OPSLAKE_AIRFLOW_ADMIN_PASSWORD"]) >= 16
    assert set(values) == set(manager._generated_secrets())  # the 2 kept and every other added


def test_stack_profile_without_credentials_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPSLAKE_STACK_DIR", str(tmp_path))  # no secrets.env there
    with pytest.raises(ConfigError, match="no credentials"):
        load_settings("stack")


def test_stack_profile_reads_the_generated_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPSLAKE_STACK_DIR", str(tmp_path))
    secrets = _parse(manager.ensure_secrets(tmp_path).read_text())
    settings = load_settings("stack")
    assert settings.s3_secret_key.get_secret_value() == secrets["OPSLAKE_S3_SECRET_KEY"]
    assert settings.catalog_uri == "jdbc:postgresql://127.0.0.1:5432/iceberg_catalog"
    assert settings.warehouse_uri == "s3://lake/warehouse" and settings.sql_engine == "trino"


def test_service_selection_keeps_dependency_order_and_an_empty_list_means_none() -> None:
    names = [s.name for s in manager._select(["trino", "postgres"])]
    assert names == ["postgres", "trino"]
    assert manager._select([]) == []  # `down([])` must stop nothing, not everything
    assert [s.name for s in manager._select(None)] == list(manager.DEFAULT_SERVICES)
    with pytest.raises(ConfigError, match="unknown service"):
        manager._select(["kafka"])


def test_status_of_a_stopped_stack_reports_nothing_running(tmp_path: Path) -> None:
    settings = Settings(stack_dir=tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "minio.pid").write_text("999999999\nSIGTERM\n")  # stale pid file
    rows = manager.status(settings, ["minio"])
    assert [(r.name, r.running, r.healthy) for r in rows] == [("minio", False, False)]
    assert not (tmp_path / "run" / "minio.pid").exists()  # stale files are cleaned up
    assert manager.down(settings, ["minio"]) == []


def test_preflight_names_the_service_that_is_down() -> None:
    port = _free_port()
    settings = Settings(s3_endpoint=f"http://127.0.0.1:{port}", catalog_uri="jdbc:sqlite:/tmp/x.db")
    assert [e.service for e in endpoints(settings)] == ["MinIO (S3 API)"]
    with pytest.raises(ServiceUnavailableError, match=rf"MinIO \(S3 API\) at 127.0.0.1:{port}"):
        require_services(settings)
    trino = Settings(trino_port=port)
    with pytest.raises(
        ServiceUnavailableError, match=rf"^Trino at 127.0.0.1:{port} is not reachable"
    ):
        require([trino_endpoint(trino)])


def test_embedded_profile_has_no_remote_endpoints() -> None:
    assert endpoints(Settings()) == []


def test_trino_catalog_file_reads_exactly_the_environment_trino_env_provides() -> None:
    text = (REPO_ROOT / "deploy" / "trino" / "etc" / "catalog" / "lake.properties").read_text()
    wanted = set(re.findall(r"\$\{ENV:([A-Z0-9_]+)\}", text))
    assert wanted == set(trino_env(Settings()))
    # Spark and Trino must agree on the catalog name stored in every catalog row.
    assert f"iceberg.jdbc-catalog.catalog-name={Settings().catalog_name}" in text


def test_service_ports_match_the_architecture() -> None:
    ports = {name: svc.ports for name, svc in SERVICES.items()}
    assert ports == {
        "postgres": (5432,), "minio": (9000, 9001), "trino": (8090,), "marquez": (5000, 5001),
        "marquez-web": (3000,), "spark-master": (7077, 8081), "spark-worker": (8084,),
        "airflow-api-server": (8082,), "airflow-scheduler": (), "airflow-dag-processor": (),
        "airflow-triggerer": (), "jupyter": (8888,), "gateway": (8080,),
    }  # fmt: skip
    config = (REPO_ROOT / "deploy" / "trino" / "etc" / "config.properties").read_text()
    assert "http-server.http.port=8090" in config


def _sleeper(command: list[str], healthy: bool) -> Service:
    return Service("sleeper", (), 20, lambda s: Launch(command), lambda s: healthy)


def test_a_service_this_process_started_stops_promptly(tmp_path: Path) -> None:
    # The tests and benchmarks start services themselves: an unreaped child must not look alive.
    settings = Settings(stack_dir=tmp_path)
    assert manager.start_service(settings, _sleeper(["sleep", "600"], healthy=True)).running
    started = time.monotonic()
    assert manager.stop_service(settings, "sleeper", timeout_s=20)
    assert time.monotonic() - started < 5  # not the 20 s timeout and a SIGKILL
    assert manager._read_pid(settings, "sleeper") is None


def test_a_service_that_exits_during_start_up_is_reported_at_once(tmp_path: Path) -> None:
    settings = Settings(stack_dir=tmp_path)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError, match="process exited during start-up"):
        manager.start_service(settings, _sleeper(["false"], healthy=False))
    assert time.monotonic() - started < 5  # not the 20 s start timeout


def test_airflow_listens_on_loopback_only_and_runs_no_log_servers(tmp_path: Path) -> None:
    from opslake.stack import airflow

    keys = {k: SecretStr("x" * 20) for k in ("airflow_fernet_key", "airflow_secret_key",
                                              "airflow_jwt_secret")}  # fmt: skip
    settings = Settings(stack_dir=tmp_path, lineage_transport="http", **keys)
    env = airflow.airflow_env(settings)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8082/datalake/airflow"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "4"
    assert env["OPSLAKE_STACK_DIR"] == str(tmp_path.resolve())
    assert (
        json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["url"].rstrip("/")
        == settings.lineage_url
    )
    for service in (airflow.SCHEDULER, airflow.TRIGGERER):  # 8793/8794 would bind 0.0.0.0
        assert "--skip-serve-logs" in service.prepare(settings).argv


def test_airflow_without_generated_keys_names_the_fix(tmp_path: Path) -> None:
    from opslake.stack import airflow

    with pytest.raises(ServiceUnavailableError, match="run `opslake stack up`"):
        airflow.airflow_env(Settings(stack_dir=tmp_path))


def test_the_spark_masters_unauthenticated_rest_submission_server_is_off(tmp_path: Path) -> None:
    from opslake.stack import services

    launch = services.SERVICES["spark-master"].prepare(Settings(stack_dir=tmp_path))
    assert "-Dspark.master.rest.enabled=false" in launch.env["SPARK_MASTER_OPTS"].split()
    assert launch.env["SPARK_LOCAL_IP"] == "127.0.0.1"
