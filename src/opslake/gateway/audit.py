"""One JSON line per request to a datalake route: who, which route, status, bytes, duration."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class AuditLog:
    """Appends JSON lines to a file (and to the ``opslake.gateway.audit`` logger at INFO).

    Lines are written whole under a lock, so concurrent requests never interleave within a line.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = path.open("a", encoding="utf-8", buffering=1)

    def record(self, **fields: Any) -> dict[str, Any]:
        """Write one audit line; return the record written."""
        entry = {"ts": round(time.time(), 3), "event": "gateway.request", **fields}
        line = json.dumps(entry, separators=(",", ":"), sort_keys=True)
        if self._handle is not None:
            with self._lock:
                self._handle.write(line + "\n")
        logger.info("%s", line)
        return entry

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
