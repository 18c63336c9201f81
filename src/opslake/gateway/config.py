"""What the gateway routes where, and its limits: a frozen value built once from ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opslake.config import Settings

if TYPE_CHECKING:
    from opslake.gateway.api import ApiConfig


@dataclass(frozen=True)
class Upstream:
    """One service behind the gateway.

    Attributes:
        name: Shown in errors (502/504), audit lines and ``/ready``.
        match: Path prefix this upstream serves (longest match wins), always ending in ``/``.
        url: Base URL of the service on loopback, without a path.
        strip: Prefix removed from the path before forwarding ("" forwards the path unchanged, for
            services configured with the gateway's prefix as their own base URL: Airflow, Jupyter).
        health_path: Path (on the service) that ``/ready`` GETs; any answer below 500 counts as up.
        preserve_host: Forward the client's ``Host`` (so a UI builds links to the gateway) instead of
            the upstream's.
        inject_headers: Headers the gateway adds (e.g. Jupyter's token); they replace client values.
        encoded_slashes: Its paths may carry ``%2F`` inside a segment (Marquez names namespaces
            like ``s3://lake`` in its paths); dot components stay refused (``paths.check_path``).
    """

    name: str
    match: str
    url: str
    strip: str = ""
    health_path: str = "/"
    preserve_host: bool = True
    inject_headers: tuple[tuple[str, str], ...] = ()
    encoded_slashes: bool = False


@dataclass(frozen=True)
class GatewayConfig:
    """Every tunable of the gateway (see the ``gateway_*`` settings for meanings and defaults)."""

    state_dir: Path
    upstreams: tuple[Upstream, ...]
    issuer: str = "opslake-gateway"
    audience: str = "opslake"
    token_ttl_s: int = 3600
    session_ttl_s: int = 8 * 3600
    rate_per_s: float = 50.0
    rate_burst: int = 200
    # Login attempts per client address: slow enough to make password guessing pointless.
    login_rate_per_s: float = 0.2
    login_burst: int = 10
    max_body_bytes: int = 32 * 1024 * 1024
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0
    tls: bool = False
    public_origin: str = ""
    audit_log: Path | None = None
    ready_timeout_s: float = 2.0
    # The decision API (/api/v1) and its SQL engine; None serves no /api/v1 routes.
    api: ApiConfig | None = None

    def route(self, path: str) -> Upstream | None:
        """The upstream serving ``path`` (longest matching prefix), or None."""
        best: Upstream | None = None
        for upstream in self.upstreams:
            if path.startswith(upstream.match) and (
                best is None or len(upstream.match) > len(best.match)
            ):
                best = upstream
        return best


PREFIX = "/datalake"


def default_upstreams(settings: Settings) -> tuple[Upstream, ...]:
    """The six datalake services of ARCHITECTURE §3 at their configured loopback addresses."""
    jupyter_token = settings.gateway_jupyter_token.get_secret_value()
    jupyter_headers = (("Authorization", f"token {jupyter_token}"),) if jupyter_token else ()
    return (
        Upstream(
            "trino",
            f"{PREFIX}/trino/",
            f"http://{settings.trino_host}:{settings.trino_port}",
            strip=f"{PREFIX}/trino",
            health_path="/v1/info",
        ),
        # Airflow's base_url and Jupyter's base_url already carry the prefix: path unchanged.
        Upstream(
            "airflow",
            f"{PREFIX}/airflow/",
            settings.gateway_airflow_url,
            health_path=f"{PREFIX}/airflow/api/v2/monitor/health",
        ),
        Upstream("spark", f"{PREFIX}/spark/", settings.gateway_spark_url, strip=f"{PREFIX}/spark"),
        Upstream(
            "jupyter",
            f"{PREFIX}/jupyter/",
            settings.gateway_jupyter_url,
            health_path=f"{PREFIX}/jupyter/api/status",
            inject_headers=jupyter_headers,
        ),
        Upstream(
            "marquez",
            f"{PREFIX}/marquez/",
            settings.gateway_marquez_web_url,
            strip=f"{PREFIX}/marquez",
            encoded_slashes=True,  # the UI's own routes: /lineage/dataset/<namespace>/<name>
        ),
        # The API under the web UI's prefix: /datalake/marquez/api/v1/... -> :5000/api/v1/...
        Upstream(
            "marquez-api",
            f"{PREFIX}/marquez/api/",
            settings.lineage_url.rstrip("/"),
            strip=f"{PREFIX}/marquez",
            health_path="/api/v1/namespaces",
            encoded_slashes=True,
        ),
        Upstream(
            "minio",
            f"{PREFIX}/minio/",
            settings.gateway_minio_console_url,
            strip=f"{PREFIX}/minio",
            health_path="/api/v1/login",
        ),
    )


def gateway_config(settings: Settings) -> GatewayConfig:
    """The gateway's configuration from the ``gateway_*`` settings."""
    from opslake.gateway.api import api_config  # api imports this module

    state = settings.gateway_state_dir
    return GatewayConfig(
        state_dir=state,
        upstreams=default_upstreams(settings),
        issuer=settings.gateway_issuer,
        audience=settings.gateway_audience,
        token_ttl_s=settings.gateway_token_ttl_s,
        session_ttl_s=settings.gateway_session_ttl_s,
        rate_per_s=settings.gateway_rate_per_s,
        rate_burst=settings.gateway_rate_burst,
        max_body_bytes=settings.gateway_max_body_bytes,
        connect_timeout_s=settings.gateway_connect_timeout_s,
        read_timeout_s=settings.gateway_read_timeout_s,
        tls=bool(settings.gateway_tls_cert and settings.gateway_tls_key),
        public_origin=settings.gateway_public_origin.rstrip("/"),
        audit_log=state / "audit.jsonl",
        api=api_config(settings),
    )
