"""Check, before any work starts, that every remote service the settings point at answers.

A pipeline that finds MinIO down after ten minutes of Spark work, with a stack trace from the AWS SDK,
helps nobody: this fails first, with the service's name and address. Only configured endpoints are
checked (the embedded profile has none), so nothing here branches on the profile.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from opslake.config import Settings
from opslake.exceptions import ServiceUnavailableError


@dataclass(frozen=True)
class Endpoint:
    service: str  # human name used in the error, e.g. "MinIO (S3 API)"
    host: str
    port: int


def _from_url(service: str, url: str, default_port: int) -> Endpoint:
    parsed = urlparse(url)
    return Endpoint(service, parsed.hostname or "127.0.0.1", parsed.port or default_port)


def endpoints(settings: Settings) -> list[Endpoint]:
    """The remote endpoints a pipeline run uses."""
    found = []
    if settings.s3_endpoint:
        found.append(_from_url("MinIO (S3 API)", settings.s3_endpoint, 9000))
    if settings.catalog_uri.startswith("jdbc:postgresql:"):
        found.append(
            _from_url(
                "PostgreSQL (Iceberg catalog)", settings.catalog_uri.removeprefix("jdbc:"), 5432
            )
        )
    # Marquez is not required: lineage that cannot be delivered is spooled and replayed later.
    return found


def trino_endpoint(settings: Settings) -> Endpoint:
    return Endpoint("Trino", settings.trino_host, settings.trino_port)


def require_services(settings: Settings) -> None:
    """Raise ServiceUnavailableError naming the first service of a pipeline run that is down."""
    require(endpoints(settings))


def require(eps: list[Endpoint], timeout_s: float = 3.0) -> None:
    """Raise ServiceUnavailableError naming the first endpoint that does not accept TCP."""
    for ep in eps:
        try:
            with socket.create_connection((ep.host, ep.port), timeout=timeout_s):
                pass
        except OSError as exc:
            raise ServiceUnavailableError(
                f"{ep.service} at {ep.host}:{ep.port}",
                f"{exc.strerror or exc} (is the stack running? `opslake stack status`)",
            ) from exc
