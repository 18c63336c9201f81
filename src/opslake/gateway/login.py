"""Browser sessions: the login page, the session cookie, CSRF checks.

The session cookie holds a gateway-signed JWT (``typ: session``), HttpOnly, SameSite=Strict, Secure
when the gateway speaks TLS. State-changing requests authenticated by that cookie must come from the
gateway's own origin (``Origin``, else ``Referer``) or carry ``X-CSRF-Token`` equal to the
``opslake_csrf`` cookie (double submit); the login and logout forms use the double submit.
"""

from __future__ import annotations

import hmac
import secrets
from html import escape
from urllib.parse import parse_qs, urlsplit

from starlette.requests import HTTPConnection

SESSION_COOKIE = "opslake_session"
CSRF_COOKIE = "opslake_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 16 * 1024


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def cookie_header(name: str, value: str, *, max_age: int, tls: bool, http_only: bool) -> str:
    """A ``Set-Cookie`` value: path ``/``, SameSite=Strict, Secure under TLS."""
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if tls:
        parts.append("Secure")
    return "; ".join(parts)


def expected_origin(conn: HTTPConnection, tls: bool, public_origin: str) -> set[str]:
    """The origins a same-site request may name: the gateway as addressed, and the public origin."""
    host = conn.headers.get("host", "")
    origins = {f"{'https' if tls else 'http'}://{host}".lower()} if host else set()
    if public_origin:
        origins.add(public_origin.lower())
    return origins


def same_origin(conn: HTTPConnection, tls: bool, public_origin: str) -> bool:
    """Whether ``Origin`` (or, lacking it, ``Referer``) names the gateway itself."""
    origin = conn.headers.get("origin")
    if not origin or origin == "null":
        referer = conn.headers.get("referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.lower() in expected_origin(conn, tls, public_origin)


def csrf_ok(conn: HTTPConnection, method: str, tls: bool, public_origin: str) -> bool:
    """CSRF check for a cookie-authenticated request (safe methods always pass)."""
    if method in SAFE_METHODS:
        return True
    cookie = conn.cookies.get(CSRF_COOKIE, "")
    header = conn.headers.get(CSRF_HEADER, "")
    if cookie and header and hmac.compare_digest(cookie, header):
        return True
    return same_origin(conn, tls, public_origin)


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, first value of each field."""
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def safe_next(target: str | None) -> str:
    """A local redirect target: an absolute path on this gateway, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>opslake gateway — {title}</title></head>
<body>
<h1>opslake gateway</h1>
{body}
</body></html>
"""


def login_page(csrf: str, next_path: str, message: str = "") -> str:
    notice = f'<p role="alert">{escape(message)}</p>' if message else ""
    body = f"""{notice}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{escape(csrf)}">
<input type="hidden" name="next" value="{escape(next_path)}">
<p><label>Username <input name="username" autocomplete="username"></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>
<p>or <label>Token or API key <input name="token" type="password" autocomplete="off"></label></p>
<p><button type="submit">Sign in</button></p>
</form>"""
    return _PAGE.format(title="sign in", body=body)


def home_page(subject: str, role: str, csrf: str, services: list[str]) -> str:
    links = "\n".join(
        f'<li><a href="/datalake/{escape(s)}/">{escape(s)}</a></li>' for s in services
    )
    body = f"""<p>Signed in as <strong>{escape(subject)}</strong> ({escape(role)}).</p>
<ul>
{links}
</ul>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="{escape(csrf)}">
<button type="submit">Sign out</button>
</form>"""
    return _PAGE.format(title="services", body=body)
