"""The admin gateway (`opslake gateway serve`) as the last service of the native stack.

It is the only door: every other service listens on loopback, and the gateway itself binds
``gateway_host`` (127.0.0.1 unless configured otherwise). Its ``admin`` login takes the stack's
generated password (``OPSLAKE_GATEWAY_ADMIN_PASSWORD`` in ``.stack/secrets.env``), which
``gateway serve`` sets at every start, so the secrets file stays the one place to look it up.
"""

from __future__ import annotations

import sys
from pathlib import Path

from opslake.config import Settings
from opslake.stack.service import Launch, Service, http_ok


def gateway_url(settings: Settings) -> str:
    """The gateway's own address as a local client reaches it."""
    host = "127.0.0.1" if settings.gateway_host in ("0.0.0.0", "::") else settings.gateway_host
    scheme = "https" if settings.gateway_tls_cert and settings.gateway_tls_key else "http"
    return f"{scheme}://{host}:{settings.gateway_port}"


def gateway_origin(settings: Settings) -> str:
    """Where browsers reach the gateway: the public origin when one is set, else its own address."""
    return settings.gateway_public_origin.rstrip("/") or gateway_url(settings)


def _prepare_gateway(settings: Settings) -> Launch:
    # `gateway serve` creates its keys and sets the admin password from the secrets file it reads.
    env = {
        "OPSLAKE_PROFILE": settings.profile,
        "OPSLAKE_STACK_DIR": str(settings.stack_dir.resolve()),
        "OPSLAKE_HOME": str(settings.home.resolve()),
        "PYTHONUNBUFFERED": "1",
    }
    return Launch([str(Path(sys.executable).parent / "opslake"), "gateway", "serve"], env)


def _gateway_healthy(settings: Settings) -> bool:
    # Plain HTTP only: a TLS gateway with a private CA is checked by the operator, not by urllib.
    if settings.gateway_tls_cert and settings.gateway_tls_key:
        return True
    return http_ok(f"{gateway_url(settings)}/health") is not None


GATEWAY = Service("gateway", (8080,), 60, _prepare_gateway, _gateway_healthy)
