"""The Marquez installer's own logic, without building: source selection, build failures, the pom, and
the loopback preload of the web server."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from opslake.config import REPO_ROOT
from opslake.exceptions import DownloadError
from opslake.stack import install, versions

POM = REPO_ROOT / "deploy" / "marquez" / "pom.xml"
NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def test_configured_source_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPSLAKE_MARQUEZ_SOURCE", str(tmp_path / "nope.tar.gz"))
    with pytest.raises(
        DownloadError, match=r"OPSLAKE_MARQUEZ_SOURCE=.*nope\.tar\.gz is not a file"
    ):
        install.marquez_source()
    tarball = tmp_path / "m.tar.gz"
    tarball.write_bytes(b"x")
    monkeypatch.setenv("OPSLAKE_MARQUEZ_SOURCE", str(tarball))
    assert install.marquez_source() == tarball


def test_default_source_is_the_vendored_tarball_beside_the_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPSLAKE_MARQUEZ_SOURCE", raising=False)
    assert (
        REPO_ROOT.parent / "shared" / "vendor" / "marquez-0.51.1-src.tar.gz"
    ) == versions.MARQUEZ_SOURCE_DEFAULT
    expected = (
        versions.MARQUEZ_SOURCE_DEFAULT if versions.MARQUEZ_SOURCE_DEFAULT.is_file() else None
    )
    assert install.marquez_source() == expected


def test_build_cache_is_keyed_by_the_tarball_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    cache = tmp_path / "cache"
    build_a = install._SourceBuild.of(cache, a)
    assert build_a.sha256 == "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
    assert build_a.root == cache / "stack" / "marquez-0.51.1-src-7692c3ad3540bb80"
    assert install._SourceBuild.of(cache, b).root != build_a.root
    b.write_bytes(b"one")  # same bytes elsewhere: same build
    assert install._SourceBuild.of(cache, b).root == build_a.root


def test_a_failed_build_step_names_the_step_and_keeps_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "step.log"
    cmd = ["bash", "-c", "echo compiling; echo 'error: boom' >&2; exit 3"]
    with pytest.raises(DownloadError) as err:
        install._build_step("mvn package (API)", cmd, tmp_path, {"PATH": "/usr/bin:/bin"}, log)
    message = str(err.value)
    assert message.startswith("building Marquez failed at step 'mvn package (API)' (exit 3)")
    assert str(log) in message and message.endswith("compiling\nerror: boom")
    assert log.read_text() == "compiling\nerror: boom\n"


def test_no_source_and_no_published_jar_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPSLAKE_MARQUEZ_SOURCE", raising=False)
    monkeypatch.setattr(versions, "MARQUEZ_SOURCE_DEFAULT", tmp_path / "absent.tar.gz")

    def unreachable(*args: object, **kwargs: object) -> Path:
        raise DownloadError("cannot download https://repo1.maven.org/...: HTTP Error 404")

    monkeypatch.setattr(install, "fetch", unreachable)
    with pytest.raises(DownloadError, match=r"published jar is not available .*HTTP Error 404.* "
                       r"no source tarball to build from"):  # fmt: skip
        install.marquez_api(tmp_path / "cache")
    with pytest.raises(DownloadError, match="web UI is built from the Marquez source tarball"):
        install.marquez_web(tmp_path / "cache")


def _gradle_dependencies(text: str) -> set[str]:
    """``group:artifact`` of every ``implementation`` coordinate in a build.gradle."""
    found = re.findall(r"^\s*implementation\s+['\"]([^:'\"]+):([^:'\"]+):", text, flags=re.M)
    return {f"{g}:{a}" for g, a in found}


def test_the_pom_declares_exactly_the_gradle_dependencies() -> None:
    tarball = install.marquez_source()
    if tarball is None:
        pytest.skip("no Marquez source tarball here (OPSLAKE_MARQUEZ_SOURCE)")
    with tarfile.open(tarball) as tar:
        gradle = {
            name: tar.extractfile(f"marquez-0.51.1/{name}").read().decode()  # type: ignore[union-attr]
            for name in ("build.gradle", "api/build.gradle", "clients/java/build.gradle")
        }
    wanted = _gradle_dependencies(gradle["api/build.gradle"])
    wanted |= _gradle_dependencies(gradle["clients/java/build.gradle"])
    # The root build.gradle adds Lombok to every project (`implementation "...${lombokVersion}"`).
    wanted |= {"org.projectlombok:lombok"}
    assert len(wanted) == 28
    deps = ET.parse(POM).getroot().findall("m:dependencies/m:dependency", NS)
    declared = {
        f"{d.findtext('m:groupId', '', NS)}:{d.findtext('m:artifactId', '', NS)}" for d in deps
    }
    assert declared == wanted
    assert "lombokVersion = '1.18.34'" in gradle["build.gradle"]
    assert "<lombok.version>1.18.34</lombok.version>" in POM.read_text()


def test_the_pom_imports_the_boms_in_the_order_that_matches_gradle() -> None:
    managed = (
        ET.parse(POM).getroot().findall("m:dependencyManagement/m:dependencies/m:dependency", NS)
    )
    boms = [
        d.findtext("m:artifactId", "", NS)
        for d in managed
        if d.findtext("m:scope", "", NS) == "import"
    ]
    assert boms == ["jackson-bom", "jdbi3-bom", "dropwizard-dependencies"]


def test_the_web_server_preload_binds_to_loopback(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (stack up installs it)")
    script = tmp_path / "server.js"
    # The same call upstream's setupProxy.js makes: app.listen(port-as-string, callback).
    script.write_text(
        "const http = require('http');\n"
        "const s = http.createServer(() => {});\n"
        "s.listen('0', () => { console.log(s.address().address); s.close(); });\n"
    )
    preload = REPO_ROOT / "deploy" / "marquez" / "web-loopback.js"
    out = subprocess.run(
        [node, "--require", str(preload), str(script)], capture_output=True, text=True, timeout=30,
        check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "127.0.0.1"
    plain = subprocess.run(
        [node, str(script)], capture_output=True, text=True, timeout=30, check=True
    )
    assert plain.stdout.strip() == "::"  # without it: every interface
