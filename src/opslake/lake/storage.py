"""Object storage access through pyarrow's filesystem layer: ``file://`` locally, ``s3://`` on MinIO.

``StorageOptions`` is small and picklable so Spark executors can open the same filesystem themselves
(no data passes through the driver).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow.fs as pafs

from opslake.config import Settings


@dataclass(frozen=True)
class StorageOptions:
    """Connection options for S3-compatible storage; unused for ``file://`` URIs."""

    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""
    region: str = "us-east-1"

    @classmethod
    def from_settings(cls, settings: Settings) -> StorageOptions:
        return cls(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region,
        )


def s3_filesystem(
    options: StorageOptions, allow_bucket_creation: bool = False
) -> pafs.S3FileSystem:
    """An S3 filesystem with path-style addressing (MinIO has no per-bucket host names)."""
    endpoint = urlparse(options.endpoint) if options.endpoint else None
    return pafs.S3FileSystem(
        access_key=options.access_key or None,
        secret_key=options.secret_key or None,
        region=options.region,
        endpoint_override=endpoint.netloc if endpoint else None,
        scheme=endpoint.scheme if endpoint else "https",
        force_virtual_addressing=False,
        allow_bucket_creation=allow_bucket_creation,
        connect_timeout=5,
        request_timeout=60,
    )


def open_uri(uri: str, options: StorageOptions) -> tuple[pafs.FileSystem, str]:
    """The filesystem for ``uri`` and the path inside it."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return pafs.LocalFileSystem(), parsed.path if parsed.scheme else uri
    if parsed.scheme in ("s3", "s3a"):
        return s3_filesystem(options), f"{parsed.netloc}{parsed.path}"
    raise ValueError(f"unsupported storage URI scheme: {uri}")


def join(uri: str, *parts: str) -> str:
    """Join URI path segments with single slashes."""
    return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts)])


def to_uri(base_uri: str, path: str) -> str:
    """Turn a filesystem path from ``open_uri(base_uri)`` back into a URI of the same scheme."""
    scheme = urlparse(base_uri).scheme
    if scheme in ("", "file"):
        return f"file://{path}" if path.startswith("/") else path
    return f"{scheme}://{path}"
