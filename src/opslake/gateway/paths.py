"""Request-line checks made before routing: a path that could mean two things is refused (400).

Upstreams decode and normalise paths in their own ways, so the gateway refuses anything that could
normalise differently there than here: dot segments (``..``, ``.``), encoded dots, slashes,
backslashes and control characters, empty segments, and control characters in header values.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# Percent-encodings of "." "/" "\" NUL CR LF anywhere in the raw (undecoded) path.
_ENCODED = re.compile(rb"%(2e|2f|5c|00|0d|0a)", re.IGNORECASE)
_ENCODED_BUT_SLASH = re.compile(rb"%(2e|5c|00|0d|0a)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_BAD = re.compile(rb"[\r\n\x00]")


class PathRejectedError(Exception):
    """Raised when a request path or header is not in canonical, unambiguous form."""


def check_path(raw_path: bytes, path: str, encoded_slashes: bool = False) -> None:
    """Refuse traversal and ambiguous encodings.

    Args:
        raw_path: The path as sent on the wire (``scope["raw_path"]``, without the query).
        path: The same path percent-decoded by the server (``scope["path"]``).
        encoded_slashes: Allow ``%2F`` inside a segment, for upstreams whose paths carry names
            with slashes (Marquez: ``/api/v1/namespaces/s3%3A%2F%2Flake``). A segment then still
            may not decode to anything with a ``.`` or ``..`` component, so an upstream that turns
            ``%2F`` into ``/`` cannot be walked out of its path either.

    Raises:
        PathRejectedError: With a reason fit for a 400 answer.
    """
    if not path.startswith("/"):
        raise PathRejectedError("path must start with /")
    if (_ENCODED_BUT_SLASH if encoded_slashes else _ENCODED).search(raw_path):
        raise PathRejectedError("encoded dot, slash, backslash or control character in path")
    if b"\\" in raw_path or "\\" in path:
        raise PathRejectedError("backslash in path")
    if _CONTROL.search(path):
        raise PathRejectedError("control character in path")
    raw_segments = raw_path.decode("latin-1").split("/")[1:]
    parts = [part for segment in raw_segments for part in unquote(segment).split("/")]
    if any(part in (".", "..") for part in parts):
        raise PathRejectedError("dot segment in path")
    if any(segment == "" for segment in raw_segments[:-1]):
        raise PathRejectedError("empty segment in path")


def check_headers(headers: list[tuple[bytes, bytes]]) -> None:
    """Refuse header values carrying CR, LF or NUL (they could split a forwarded request)."""
    for name, value in headers:
        if _HEADER_BAD.search(name) or _HEADER_BAD.search(value):
            raise PathRejectedError("control character in a header")
