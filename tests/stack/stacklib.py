"""The handle the stack fixture gives to tests (a module of its own so test files can import it)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from opslake.config import REPO_ROOT, Settings
from opslake.query import TrinoEngine

# The pipeline run the stack tests share (conftest.first_run) and re-run.
RUN_ARGS = ("run", "--days", "2", "--nodes", "12", "--workloads", "150")


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]  # environment for `opslake --profile stack ...` subprocesses

    def opslake(
        self, *args: str, timeout: float = 900, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real CLI in its own process (its own Spark driver), as a user would."""
        return subprocess.run(
            [sys.executable, "-m", "opslake.cli", "--profile", "stack", *args],
            env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout,
            cwd=REPO_ROOT,
        )  # fmt: skip

    def trino(self) -> TrinoEngine:
        return TrinoEngine(self.settings)


def gateway_login(browser: Any, door: str, password: str) -> None:
    """Sign ``browser`` in at the gateway as ``admin`` (its session cookie then opens every UI)."""
    assert browser.open(f"{door}/login", "document.querySelector('form')")
    browser.evaluate(
        "const f = document.querySelector('form'); f.username.value = 'admin'; "
        f"f.password.value = {json.dumps(password)}; f.submit(); true"
    )
    signed_in = "document.body && document.body.innerText.includes('Signed in as')"
    assert browser.wait_for(signed_in, 30), "the gateway login failed"
