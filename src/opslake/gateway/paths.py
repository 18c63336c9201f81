"""Request-line checks made before routing: a path that could mean two things is refused (400).

Upstreams decode and normalise paths in their own ways, so the gateway refuses anything that could
normalise differently there than here: dot segments (``..``, ``.``), encoded dots, slashes,
backslashes and control characters, empty segments, and control characters in header values.
"""

from __future__ import annotations

import re

# Percent-encodings of "." "/" "\" NUL CR LF anywhere in the raw (undecoded) path.
_ENCODED = re.compile(rb"%(2e|2f|5c|00|0d|0a)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_BAD = re.compile(rb"[\r\n\x00]")


class PathRejectedError(Exception):
    """Raised when a request path or header is not in canonical, unambiguous form."""


def check_path(raw_path: bytes, path: str) -> None:
    """Refuse traversal and ambiguous encodings.

    Args:
        raw_path: The path as sent on the wire (``scope["raw_path"]``, without the query).
        path: The same path percent-decoded by the server (``scope["path"]``).

    Raises:
        PathRejectedError: With a reason fit for a 400 answer.
    """
    if not path.startswith("/"):
        raise PathRejectedError("path must start with /")
    if _ENCODED.search(raw_path):
        raise PathRejectedError("encoded dot, slash, backslash or control character in path")
    if b"\\" in raw_path or "\\" in path:
        raise PathRejectedError("backslash in path")
    if _CONTROL.search(path):
        raise PathRejectedError("control character in path")
    segments = path.split("/")[1:]
    if any(s in (".", "..") for s in segments):
        raise PathRejectedError("dot segment in path")
    if any(s == "" for s in segments[:-1]):
        raise PathRejectedError("empty segment in path")


def check_headers(headers: list[tuple[bytes, bytes]]) -> None:
    """Refuse header values carrying CR, LF or NUL (they could split a forwarded request)."""
    for name, value in headers:
        if _HEADER_BAD.search(name) or _HEADER_BAD.search(value):
            raise PathRejectedError("control character in a header")
