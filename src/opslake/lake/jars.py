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


def fetch(artifact: Artifact, cache_dir: Path, subdir: str = "jars") -> Path:
    """Return the cached path of ``artifact``, downloading and verifying it first if needed.

    Streams to a ``.part`` file while hashing, so large archives (Trino's plugins are ~350 MB) never sit
    in memory, and a killed download never leaves a truncated file under the final name.
    """
    target = cache_dir / subdir / artifact.filename
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    logger.info("downloading %s", artifact.url)
    digest = hashlib.sha1()
    try:
        with urllib.request.urlopen(artifact.url + ".sha1", timeout=60) as resp:
            expected = resp.read().decode().split()[0].strip()
        with urllib.request.urlopen(artifact.url, timeout=120) as resp, tmp.open("wb") as out:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"cannot download {artifact.url}: {exc}") from exc
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {artifact.url}: {digest.hexdigest()} != {expected}"
        )
    tmp.replace(target)
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
