"""The local spool of lineage events a transport could not deliver, and their replay.

One OpenLineage event per line (JSONL), oldest first. Appends and replays take an exclusive ``flock``
on a sibling ``.lock`` file, so parallel jobs (Airflow tasks) may spool into the same file while a
replay rewrites it. A replay stops at the first failure and keeps that event and every later one, in
order: Marquez must not see a run's COMPLETE before its START.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from opslake.config import Settings
from opslake.lineage.transport import Sender, describe_failure, make_sender

logger = logging.getLogger(__name__)


class Spool:
    """A JSONL file of undelivered events."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bad_path = path.with_name(path.name + ".bad")
        self._lock_path = path.with_name(path.name + ".lock")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the spool's exclusive lock (not re-entrant: do not nest)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, event_json: str) -> None:
        """Add one event at the end (durably: the spool is the only copy)."""
        with self.locked(), self.path.open("ab") as handle:
            # A writer killed mid-line leaves no newline; start a fresh line so this event stays whole.
            prefix = b"\n" if handle.tell() and not self._ends_with_newline() else b""
            handle.write(prefix + event_json.encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[str]:
        """The spooled events, oldest first (empty when there is no spool file)."""
        if not self.path.exists():
            return []
        return [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def rewrite(self, lines: Sequence[str]) -> None:
        """Atomically replace the spool with ``lines``; no lines removes the file."""
        if not lines:
            self.path.unlink(missing_ok=True)
            return
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in lines)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"


def _is_event(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def replay(spool: Spool, sender: Sender) -> tuple[int, int]:
    """Send ``spool``'s events in order through ``sender``; keep the first failed one and the rest.

    Lines that are not JSON objects (a torn write) can never be delivered: they move to
    ``<spool>.bad`` instead of blocking the queue.

    Returns:
        ``(sent, left)``: events delivered and removed, events still in the spool.
    """
    with spool.locked():
        lines = spool.read()
        events = [line for line in lines if _is_event(line)]
        torn = [line for line in lines if not _is_event(line)]
        if torn:
            with spool.bad_path.open("a", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in torn)
            logger.warning(
                "%d unreadable lines of %s moved to %s", len(torn), spool.path, spool.bad_path
            )
        sent = 0
        for event_json in events:
            try:
                sender.send(event_json)
            except Exception as exc:  # any failure: keep the event, report, stop to preserve order
                logger.warning("lineage replay stopped: %s", describe_failure(sender, exc))
                break
            sent += 1
        spool.rewrite(events[sent:])
    return sent, len(events) - sent


def replay_spool(settings: Settings, sender: Sender | None = None) -> tuple[int, int]:
    """Re-send the events in ``settings.lineage_spool_file`` through the configured transport.

    Args:
        settings: names the spool file and the transport (``lineage_transport``, ``lineage_url``).
        sender: overrides the configured transport (tests, or replay to another target).

    Returns:
        ``(sent, left)``: events delivered and removed from the spool, events still in it.
    """
    own = sender is None
    target = sender or make_sender(settings)
    try:
        return replay(Spool(settings.lineage_spool_file), target)
    finally:
        if own:
            target.close()
