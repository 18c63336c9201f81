"""Where OpenLineage events go: one JSON document per event, sent as-is.

Senders take the serialised event (one line of JSON), so the live path and ``opslake lineage replay``
deliver exactly the same bytes. ``file`` appends to the lineage JSONL file (embedded profile); ``http``
posts to Marquez's ``/api/v1/lineage`` (stack profile). A failed send raises ``OSError`` (requests'
exceptions are ``OSError`` subclasses); the recorder decides what to do with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import requests

from opslake.config import Settings
from opslake.exceptions import ConfigError

# An unreachable Marquez must cost a second, not the ~10 s of connect retries with back-off that
# openlineage-python's HTTP transport spends per event; a slow but alive one still gets time to answer.
HTTP_CONNECT_TIMEOUT_S = 1.0
HTTP_READ_TIMEOUT_S = 10.0
LINEAGE_ENDPOINT = "api/v1/lineage"


class Sender(Protocol):
    """Delivers one serialised OpenLineage event or raises ``OSError``."""

    target: str  # human name for log lines, e.g. "Marquez at http://127.0.0.1:5000"

    def send(self, event_json: str) -> None:
        """Deliver ``event_json`` (one JSON document, no newline)."""

    def close(self) -> None:
        """Release connections."""


class FileSender:
    """Appends events to a JSONL file, one per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = f"lineage file {path}"

    def send(self, event_json: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(event_json + "\n")

    def close(self) -> None:
        return None


class HttpSender:
    """Posts events to an OpenLineage HTTP endpoint (Marquez) without retries: a failure is spooled."""

    def __init__(
        self,
        url: str,
        connect_timeout_s: float = HTTP_CONNECT_TIMEOUT_S,
        read_timeout_s: float = HTTP_READ_TIMEOUT_S,
    ) -> None:
        self.base_url = url.rstrip("/")
        # Joined by hand: urljoin would drop a path prefix such as a gateway's /datalake/marquez.
        self.url = f"{self.base_url}/{LINEAGE_ENDPOINT}"
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.target = f"Marquez at {self.base_url}"
        self._session = requests.Session()

    def send(self, event_json: str) -> None:
        response = self._session.post(
            self.url,
            data=event_json.encode("utf-8"),
            headers={"Content-Type": "application/json"},
            timeout=self.timeout,
        )
        with response:
            response.raise_for_status()

    def close(self) -> None:
        self._session.close()


def make_sender(settings: Settings) -> Sender:
    """The sender the settings name (``lineage_transport``: ``file`` or ``http``).

    Raises:
        ConfigError: for any other transport name.
    """
    if settings.lineage_transport == "file":
        return FileSender(settings.lineage_file)
    if settings.lineage_transport == "http":
        return HttpSender(settings.lineage_url)
    raise ConfigError(
        f"unknown lineage transport {settings.lineage_transport!r} (OPSLAKE_LINEAGE_TRANSPORT: "
        "file or http)"
    )


def describe_failure(sender: Sender, exc: BaseException) -> str:
    """One log line naming the target and what went wrong, e.g. ``Marquez at … unreachable: …``."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        body = exc.response.text[:200].strip()
        return (
            f"{sender.target} rejected the event: HTTP {exc.response.status_code} {body}".rstrip()
        )
    if isinstance(exc, requests.ConnectionError):  # includes ConnectTimeout
        return f"{sender.target} unreachable: {exc}"
    if isinstance(exc, requests.Timeout):
        return f"{sender.target} did not answer in time: {exc}"
    return f"{sender.target} failed: {type(exc).__name__}: {exc}"
