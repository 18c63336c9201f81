"""Pinned JVM artifacts from Maven Central, downloaded once into a cache outside the repository.

Run ``python -m opslake.lake.jars`` to prefetch (``make setup`` does). Every download is verified against
the ``.sha1`` that Maven Central publishes next to the artifact.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from opslake.exceptions import DownloadError

logger = logging.getLogger(__name__)

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"

# One place for the versions. The runtime must match pyspark's minor version (pyproject pins pyspark 4.1).
ICEBERG_VERSION = "1.11.0"
SPARK_MINOR = "4.1"
SCALA = "2.13"


@dataclass(frozen=True)
class Artifact:
    """A Maven coordinate ``group:artifact:version``."""

    group: str
    artifact: str
    version: str
    ext: str = "jar"

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.{self.ext}"

    @property
    def url(self) -> str:
        group_path = self.group.replace(".", "/")
        return f"{MAVEN_CENTRAL}/{group_path}/{self.artifact}/{self.version}/{self.filename}"


ICEBERG_RUNTIME = Artifact(
    "org.apache.iceberg", f"iceberg-spark-runtime-{SPARK_MINOR}_{SCALA}", ICEBERG_VERSION
)
ICEBERG_AWS_BUNDLE = Artifact("org.apache.iceberg", "iceberg-aws-bundle", ICEBERG_VERSION)
SQLITE_JDBC = Artifact("org.xerial", "sqlite-jdbc", "3.50.3.0")
POSTGRES_JDBC = Artifact("org.postgresql", "postgresql", "42.7.7")

# Jars every Spark session loads. The AWS bundle (S3FileIO) and both JDBC drivers are small next to
# the runtime, and loading the same set in both profiles keeps the code path identical.
SPARK_JARS = (ICEBERG_RUNTIME, ICEBERG_AWS_BUNDLE, SQLITE_JDBC, POSTGRES_JDBC)


def fetch(artifact: Artifact, cache_dir: Path) -> Path:
    """Return the cached path of ``artifact``, downloading and verifying it first if needed."""
    target = cache_dir / "jars" / artifact.filename
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s", artifact.url)
    try:
        with urllib.request.urlopen(artifact.url, timeout=120) as resp:
            payload = resp.read()
        with urllib.request.urlopen(artifact.url + ".sha1", timeout=60) as resp:
            expected = resp.read().decode().split()[0].strip()
    except OSError as exc:
        raise DownloadError(f"cannot download {artifact.url}: {exc}") from exc
    actual = hashlib.sha1(payload).hexdigest()
    if actual != expected:
        raise DownloadError(f"checksum mismatch for {artifact.url}: {actual} != {expected}")
    tmp = target.with_suffix(".part")
    tmp.write_bytes(payload)
    tmp.replace(target)  # atomic: a killed download never leaves a truncated jar behind
    return target


def spark_jar_paths(cache_dir: Path) -> list[Path]:
    """Paths of every jar the Spark session needs, fetched on first use."""
    return [fetch(a, cache_dir) for a in SPARK_JARS]


def main() -> int:
    from opslake.config import load_settings

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in spark_jar_paths(load_settings().cache_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
