"""Who is calling: RS256 JWTs (algorithm pinned, key chosen by ``kid``), API keys, users.

Every failure is an ``AuthError`` with the HTTP status to answer (401 unauthenticated, 403 not
allowed) and a short reason that names no secret.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import RSAAlgorithm

from opslake.gateway.keys import (
    ROLES,
    FileCache,
    StatePaths,
    active_signing_key,
    api_key_hash,
    split_api_key,
    verify_password,
)

# The one algorithm accepted: a token's own header never chooses it (no "none", no HS256 with the
# public key as the HMAC secret).
ALGORITHM = "RS256"
LEEWAY_S = 10


class AuthError(Exception):
    """Raised when a request's credentials are missing, invalid or not enough for the route."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: ``via`` is ``jwt``, ``api_key`` or ``session`` (the browser cookie)."""

    subject: str
    role: str
    via: str

    @property
    def key(self) -> str:
        """The rate-limit and audit identity."""
        return f"{self.role}:{self.subject}"


def mint_token(
    state_dir: Path,
    subject: str,
    role: str,
    issuer: str,
    audience: str,
    ttl_s: int,
    extra: dict[str, Any] | None = None,
) -> str:
    """A JWT signed with the active key: ``sub``, ``role``, ``iss``, ``aud``, ``iat``, ``exp``."""
    if role not in ROLES:
        raise AuthError(400, f"unknown role {role!r}")
    kid, key = active_signing_key(state_dir)
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        **(extra or {}),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


class Authenticator:
    """Verifies tokens, API keys and passwords against the files of one state directory."""

    def __init__(self, state_dir: Path, issuer: str, audience: str) -> None:
        self.state_dir = state_dir
        self.issuer = issuer
        self.audience = audience
        paths = StatePaths(state_dir)
        self._jwks = FileCache(paths.jwks)
        self._credentials = FileCache(paths.credentials)
        self._public_keys: dict[str, Any] = {}
        self._jwks_seen: object = None
        # Verified tokens -> (identity, exp): an RSA verification costs ~150 us a request. Emptied
        # when the JWKS changes (a retired key must stop working at once) and when full.
        self._verified: dict[tuple[str, str], tuple[Identity, float]] = {}

    def _refresh_keys(self) -> None:
        jwks = self._jwks.get()
        if jwks is not self._jwks_seen:  # parsed anew: rebuild the kid -> key map
            self._verified.clear()
            self._public_keys = {
                str(k["kid"]): RSAAlgorithm.from_jwk(k)
                for k in jwks.get("keys", [])
                if k.get("kty") == "RSA"
            }
            self._jwks_seen = jwks

    def verify_token(self, token: str, via: str = "jwt") -> Identity:
        """The identity a JWT carries, after checking algorithm, key, signature, exp, iss, aud."""
        self._refresh_keys()
        cached = self._verified.get((token, via))
        if cached is not None and time.time() < cached[1] + LEEWAY_S:
            return cached[0]
        identity, exp = self._verify_token(token, via)
        if len(self._verified) >= 4096:
            self._verified.clear()
        self._verified[(token, via)] = (identity, exp)
        return identity

    def _verify_token(self, token: str, via: str) -> tuple[Identity, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError(401, "malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise AuthError(401, f"token algorithm {header.get('alg')!r} not accepted")
        key = self._public_keys.get(str(header.get("kid", "")))
        if key is None:
            raise AuthError(401, "token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError(401, "token audience not accepted") from None
        except jwt.InvalidIssuerError:
            raise AuthError(401, "token issuer not accepted") from None
        except jwt.InvalidSignatureError:
            raise AuthError(401, "token signature invalid") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(401, f"token invalid: {type(exc).__name__}") from None
        role = claims.get("role")
        if role not in ROLES:
            raise AuthError(401, "token carries no known role")
        return Identity(str(claims["sub"]), str(role), via), float(claims["exp"])

    def verify_api_key(self, key: str) -> Identity:
        """The identity of a stored, unrevoked API key."""
        key_id = split_api_key(key)
        record = self._credentials.get().get("api_keys", {}).get(key_id) if key_id else None
        if record is None or not hmac.compare_digest(str(record["sha256"]), api_key_hash(key)):
            raise AuthError(401, "API key not recognised")
        if record.get("revoked"):
            raise AuthError(401, "API key revoked")
        return Identity(str(record["subject"]), str(record["role"]), "api_key")

    def verify_credential(self, credential: str) -> Identity:
        """A bearer credential: an API key when shaped like one, else a JWT."""
        if split_api_key(credential) is not None:
            return self.verify_api_key(credential)
        return self.verify_token(credential)

    def verify_password(self, username: str, password: str) -> Identity:
        """A login user; the same error whether the user or the password is wrong."""
        record = self._credentials.get().get("users", {}).get(username)
        if record is None or not verify_password(password, str(record["password"])):
            raise AuthError(401, "invalid username or password")
        return Identity(username, str(record["role"]), "password")


def bearer(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <credential>`` header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def require_role(identity: Identity, allowed: tuple[str, ...]) -> None:
    if identity.role not in allowed:
        raise AuthError(403, f"role {identity.role!r} may not use this route")
