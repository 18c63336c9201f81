"""What each native service is: how it is installed, configured, started, checked and bootstrapped.

The manager (``opslake.stack.manager``) runs these specs in order; this module holds no process state.
Service config files come from ``deploy/`` and are the same ones docker-compose mounts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from opslake.config import Settings, data_path
from opslake.exceptions import ServiceUnavailableError
from opslake.lake.java import find_java_home
from opslake.lake.storage import StorageOptions, s3_filesystem
from opslake.stack import install
from opslake.stack.airflow import AIRFLOW_SERVICES
from opslake.stack.gateway import GATEWAY, gateway_origin
from opslake.stack.jupyter import JUPYTER
from opslake.stack.service import Launch, Service, http_ok

DEPLOY = data_path("deploy")  # the service configs docker-compose mounts, shipped in the package
BUCKETS = ("raw", "lake")


def _as_postgres_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the ``postgres`` account the Debian package made."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _postgres_dirs(settings: Settings) -> tuple[Path, Path]:
    root = settings.stack_dir / "postgres"
    return root / "data", root / "run"


def _prepare_postgres(settings: Settings) -> Launch:
    bin_dir = install.postgres_bin_dir()
    data, sock = _postgres_dirs(settings)
    for d in (data.parent, sock):
        d.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(d, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        shutil.rmtree(data, ignore_errors=True)  # a half-done initdb is not a cluster
        cmd = [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
        subprocess.run(_as_postgres_user(cmd), check=True, capture_output=True)
    argv = [
        str(bin_dir / "postgres"),
        "-D",
        str(data),
        "-p",
        "5432",
        "-k",
        str(sock),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "shared_buffers=256MB",
        "-c",
        "max_connections=200",
    ]
    return Launch(_as_postgres_user(argv), stop_signal="SIGINT")  # SIGINT = fast shutdown


def _postgres_healthy(settings: Settings) -> bool:
    _, sock = _postgres_dirs(settings)
    pg_isready = install.postgres_bin_dir(install_missing=False) / "pg_isready"
    proc = subprocess.run([str(pg_isready), "-h", str(sock), "-p", "5432", "-q"], check=False)
    return proc.returncode == 0


def _bootstrap_postgres(settings: Settings) -> None:
    _, sock = _postgres_dirs(settings)
    # The password travels in the environment (runuser keeps it; init.sh reads it with psql's
    # \getenv), never in an argv that `ps` shows to every user of the machine.
    env = {
        **os.environ,
        "PATH": f"{install.postgres_bin_dir()}:{os.environ.get('PATH', '')}",
        "PGHOST": str(sock),
        "PGPORT": "5432",
        "PGUSER": "postgres",
        "POSTGRES_USER": settings.catalog_user,
        "POSTGRES_PASSWORD": settings.catalog_password.get_secret_value(),
    }
    argv = _as_postgres_user(["bash", str(DEPLOY / "postgres" / "init.sh")])
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd="/", env=env)
    if proc.returncode != 0:
        raise ServiceUnavailableError("PostgreSQL", f"init.sh failed: {proc.stderr.strip()}")


def _prepare_minio(settings: Settings) -> Launch:
    binary = install.minio_binary(settings.cache_dir)
    data = settings.stack_dir / "minio" / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = {
        "MINIO_ROOT_USER": settings.s3_access_key.get_secret_value(),
        "MINIO_ROOT_PASSWORD": settings.s3_secret_key.get_secret_value(),
        "MINIO_BROWSER": "on",
        # The console is served under the gateway's /datalake/minio/ (it reads its base path here).
        "MINIO_BROWSER_REDIRECT_URL": f"{gateway_origin(settings)}/datalake/minio/",
        "GOMEMLIMIT": "1GiB",  # soft heap cap: the 2-core/24 GiB box also runs Spark and Trino
    }
    argv = [
        str(binary),
        "server",
        str(data),
        "--address",
        "127.0.0.1:9000",
        "--console-address",
        "127.0.0.1:9001",
        "--quiet",
    ]
    return Launch(argv, env)


def _minio_healthy(settings: Settings) -> bool:
    return http_ok("http://127.0.0.1:9000/minio/health/live") is not None


def _bootstrap_minio(settings: Settings) -> None:
    import pyarrow.fs as pafs

    fs = s3_filesystem(StorageOptions.from_settings(settings), allow_bucket_creation=True)
    for bucket in BUCKETS:
        if fs.get_file_info(bucket).type == pafs.FileType.NotFound:
            fs.create_dir(bucket)


def trino_env(settings: Settings) -> dict[str, str]:
    """Environment that Trino's ``${ENV:...}`` substitutions in ``lake.properties`` read."""
    return {
        "OPSLAKE_CATALOG_URI": settings.catalog_uri,
        "OPSLAKE_CATALOG_USER": settings.catalog_user,
        "OPSLAKE_CATALOG_PASSWORD": settings.catalog_password.get_secret_value(),
        "OPSLAKE_S3_ENDPOINT": settings.s3_endpoint,
        "OPSLAKE_S3_REGION": settings.s3_region,
        "OPSLAKE_S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
        "OPSLAKE_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
    }


def _prepare_trino(settings: Settings) -> Launch:
    home = install.trino_home(settings.cache_dir)
    java_home = install.jdk25_home(settings.cache_dir)
    root = settings.stack_dir / "trino"
    etc, data = root / "etc", root / "data"
    shutil.rmtree(etc, ignore_errors=True)
    shutil.copytree(DEPLOY / "trino" / "etc", etc)
    # node.data-dir is a container path in the shared file; natively it lives in the state dir.
    (etc / "node.properties").write_text(
        f"node.environment=opslake\nnode.id=opslake-trino-1\nnode.data-dir={data}\n"
        # Loopback only (the default binds every interface): the gateway is the way in. The node
        # announces itself (to itself: coordinator and worker) at the same address, not the host's IP.
        "node.bind-ip=127.0.0.1\nnode.internal-address=127.0.0.1\n"
    )
    data.mkdir(parents=True, exist_ok=True)
    env = {
        "JAVA_HOME": str(java_home),
        "PATH": f"{java_home / 'bin'}:{os.environ.get('PATH', '')}",
        **trino_env(settings),
    }
    argv = [str(home / "bin" / "launcher"), "run", f"--etc-dir={etc}", f"--data-dir={data}"]
    return Launch(argv, env)


def _trino_healthy(settings: Settings) -> bool:
    body = http_ok(f"http://{settings.trino_host}:{settings.trino_port}/v1/info")
    return body is not None and json.loads(body).get("starting") is False


MARQUEZ_API_PORT = 5000
MARQUEZ_ADMIN_PORT = 5001
MARQUEZ_WEB_PORT = 3000


def _prepare_marquez(settings: Settings) -> Launch:
    api = install.marquez_api(settings.cache_dir)
    java = find_java_home() / "bin" / "java"
    env = {  # marquez.yml reads these; the password stays out of the command line
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_DB": "marquez",
        "POSTGRES_USER": settings.catalog_user,
        "POSTGRES_PASSWORD": settings.catalog_password.get_secret_value(),
        "MARQUEZ_PORT": str(MARQUEZ_API_PORT),
        "MARQUEZ_ADMIN_PORT": str(MARQUEZ_ADMIN_PORT),
        "MARQUEZ_BIND_HOST": "127.0.0.1",
    }
    argv = [
        str(java),
        "-Xms256m",
        "-Xmx1g",  # lineage metadata only; the 24 GB box also runs Spark, Trino and Airflow
        "-XX:+ExitOnOutOfMemoryError",
        "-Duser.timezone=UTC",
        "-Dlog4j2.formatMsgNoLookups=true",
        "-cp",
        api.classpath,
        "marquez.MarquezApp",
        "server",
        str(DEPLOY / "marquez" / "marquez.yml"),
    ]
    return Launch(argv, env, note=f"Marquez API {api.source}")


def _marquez_healthy(settings: Settings) -> bool:
    return http_ok(f"http://127.0.0.1:{MARQUEZ_ADMIN_PORT}/healthcheck") is not None


def _prepare_marquez_web(settings: Settings) -> Launch:
    web_dir, source = install.marquez_web(settings.cache_dir)
    node = install.debian_tools({"node": "nodejs"}, "running the Marquez web UI")["node"]
    env = {  # read by upstream's setupProxy.js (Express: static dist/ + /api proxy to the API)
        "MARQUEZ_HOST": "127.0.0.1",
        "MARQUEZ_PORT": str(MARQUEZ_API_PORT),
        "WEB_PORT": str(MARQUEZ_WEB_PORT),
        "WEB_HOST": "127.0.0.1",  # read by the loopback preload
    }
    preload = DEPLOY / "marquez" / "web-loopback.js"
    argv = [node, "--require", str(preload), str(web_dir / "setupProxy.js")]
    return Launch(argv, env, note=f"Marquez web UI {source}")


def _marquez_web_healthy(settings: Settings) -> bool:
    # The proxy is part of health: the page is useless if /api does not reach the API.
    base = f"http://127.0.0.1:{MARQUEZ_WEB_PORT}"
    return http_ok(f"{base}/healthcheck") == b"OK" and (
        http_ok(f"{base}/api/v1/namespaces") is not None
    )


# Spark standalone: the pyspark wheel carries the whole distribution (bin/spark-class and jars/),
# so the cluster runs the same Spark build as the driver. One worker with both cores; its
# executors get the catalog and S3 jars from the driver (spark.jars) like on a real cluster.
SPARK_MASTER_PORT = 7077
SPARK_MASTER_UI_PORT = 8081
SPARK_WORKER_UI_PORT = 8084
SPARK_MASTER_URL = f"spark://127.0.0.1:{SPARK_MASTER_PORT}"


_SPARK_UI_PROXY = " -Dspark.ui.reverseProxy=true -Dspark.ui.reverseProxyUrl=/datalake/spark"


def _spark_env(settings: Settings) -> dict[str, str]:
    import pyspark

    return {
        "JAVA_HOME": str(find_java_home()),
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": "512m",  # master and worker daemons; executors are sized apart
        # The master's REST submission server (6066) takes unauthenticated job submissions: off.
        # The UIs sit behind the gateway at /datalake/spark: links carry that prefix, and the master
        # proxies the worker and application UIs (reverse proxy mode), so one route reaches them all.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false" + _SPARK_UI_PROXY,
        "SPARK_WORKER_OPTS": _SPARK_UI_PROXY.strip(),
        "SPARK_LOG_DIR": str(settings.stack_dir / "spark" / "logs"),
    }


def _spark_class(settings: Settings, *args: str) -> Launch:
    env = _spark_env(settings)
    return Launch([str(Path(env["SPARK_HOME"]) / "bin" / "spark-class"), *args], env)


def _prepare_spark_master(settings: Settings) -> Launch:
    return _spark_class(
        settings, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
        "--port", str(SPARK_MASTER_PORT), "--webui-port", str(SPARK_MASTER_UI_PORT),
    )  # fmt: skip


def _prepare_spark_worker(settings: Settings) -> Launch:
    work = settings.stack_dir / "spark" / "work"
    work.mkdir(parents=True, exist_ok=True)
    return _spark_class(
        settings, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
        "--webui-port", str(SPARK_WORKER_UI_PORT), "--cores", "2", "--memory", "4g",
        "--work-dir", str(work), SPARK_MASTER_URL,
    )  # fmt: skip


def spark_master_state() -> dict[str, Any] | None:
    """The master's JSON status (workers, running and completed applications), or None if down."""
    body = http_ok(f"http://127.0.0.1:{SPARK_MASTER_UI_PORT}/json/")
    return dict(json.loads(body)) if body is not None else None


def _spark_master_healthy(settings: Settings) -> bool:
    state = spark_master_state()
    return state is not None and state.get("status") == "ALIVE"


def _spark_worker_healthy(settings: Settings) -> bool:
    state = spark_master_state() or {}
    workers = state.get("workers", [])
    return isinstance(workers, list) and any(w.get("state") == "ALIVE" for w in workers)


POSTGRES = Service(
    "postgres", (5432,), 60, _prepare_postgres, _postgres_healthy, _bootstrap_postgres
)
MINIO = Service("minio", (9000, 9001), 60, _prepare_minio, _minio_healthy, _bootstrap_minio)
TRINO = Service("trino", (8090,), 240, _prepare_trino, _trino_healthy)
MARQUEZ = Service(
    "marquez", (MARQUEZ_API_PORT, MARQUEZ_ADMIN_PORT), 180, _prepare_marquez, _marquez_healthy
)
MARQUEZ_WEB = Service(
    "marquez-web", (MARQUEZ_WEB_PORT,), 60, _prepare_marquez_web, _marquez_web_healthy
)
SPARK_MASTER = Service(
    "spark-master", (SPARK_MASTER_PORT, SPARK_MASTER_UI_PORT), 90, _prepare_spark_master,
    _spark_master_healthy,
)  # fmt: skip
SPARK_WORKER = Service(
    "spark-worker", (SPARK_WORKER_UI_PORT,), 90, _prepare_spark_worker, _spark_worker_healthy
)

# Start order: dependencies first (Trino and Marquez need PostgreSQL; Trino's catalog needs MinIO;
# Marquez web proxies to the Marquez API; a worker registers with the master; Airflow keeps its
# metadata in PostgreSQL and its tasks use all of the above).
SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        POSTGRES, MINIO, TRINO, MARQUEZ, MARQUEZ_WEB, SPARK_MASTER, SPARK_WORKER, *AIRFLOW_SERVICES,
        JUPYTER,
        GATEWAY,  # last: the door to everything above (a service that is down answers 502)
    )
}  # fmt: skip
