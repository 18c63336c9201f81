"""What a native service of the stack is (a spec the manager runs) and the small checks they share."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from opslake.config import Settings


@dataclass(frozen=True)
class Launch:
    """A process to start: command line, extra environment, and the signal that stops it cleanly."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: str = "SIGTERM"
    note: str = ""  # what `stack up` tells the user, e.g. which source an install came from


@dataclass(frozen=True)
class Service:
    """One native service of the stack."""

    name: str
    ports: tuple[int, ...]
    start_timeout_s: float
    prepare: Callable[[Settings], Launch]  # install (cached) + write config; returns the launch
    healthy: Callable[[Settings], bool]
    bootstrap: Callable[[Settings], None] = lambda settings: None  # after healthy: DBs, buckets


def http_ok(url: str, timeout: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bytes(resp.read()) if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None
