"""The gateway's state on disk: RSA signing keys with a JWKS, users and API keys (hashed).

Layout of the state directory (mode 0700, files 0600)::

    signing/<kid>.pem   private keys; the active one is the first key of jwks.json
    jwks.json           public keys accepted for verification (rotation: new first, old kept a while)
    credentials.json    {"users": {name: {"password": "scrypt$...", "role": ...}},
                         "api_keys": {id: {"sha256": ..., "subject": ..., "role": ..., "revoked": bool}}}

Nothing secret is stored in clear: passwords are scrypt hashes, API keys SHA-256 hashes (the keys carry
256 random bits, so a fast hash does not help a guesser). Readers pick up changes without a restart
(``FileCache``), so a revocation or rotation takes effect on the next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from opslake.exceptions import ConfigError

ROLES = ("admin", "user", "readonly")
API_KEY_PREFIX = "olk_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- passwords and API keys -------------------------------------------------------------------


def hash_password(password: str) -> str:
    """An scrypt hash with its parameters and salt: ``scrypt$n$r$p$salt$hash``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches an ``hash_password`` result (constant time in the digest)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=_unb64(salt), dklen=32, n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(candidate, _unb64(digest))


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_api_key(key: str) -> str | None:
    """The id part of ``olk_<id>_<secret>``, or None when ``key`` is not shaped like an API key."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    parts = key[len(API_KEY_PREFIX) :].split("_", 1)
    return parts[0] if len(parts) == 2 and parts[0] and parts[1] else None


# --- files --------------------------------------------------------------------------------------


class FileCache:
    """A JSON file parsed again only when its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._value: dict[str, Any] = {}

    def get(self) -> dict[str, Any]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._value = None, {}
            return self._value
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._value = json.loads(self.path.read_text())
            self._stamp = stamp
        return self._value


@dataclass(frozen=True)
class StatePaths:
    """The files of one gateway state directory."""

    root: Path

    @property
    def jwks(self) -> Path:
        return self.root / "jwks.json"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.json"

    def private_key(self, kid: str) -> Path:
        return self.root / "signing" / f"{kid}.pem"


def _public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def rotate_signing_key(state_dir: Path, keep: int = 2) -> str:
    """Create a new RS256 signing key and make it the active one; return its ``kid``.

    The previous ``keep - 1`` public keys stay in the JWKS so tokens they signed verify until they
    expire; older keys (and their private halves) are removed.
    """
    paths = StatePaths(state_dir)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = f"k{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(paths.private_key(kid), pem)
    old = json.loads(paths.jwks.read_text())["keys"] if paths.jwks.exists() else []
    kept, dropped = old[: keep - 1], old[keep - 1 :]
    _write_private(
        paths.jwks, json.dumps({"keys": [_public_jwk(key, kid), *kept]}, indent=1).encode()
    )
    for jwk in dropped:
        paths.private_key(str(jwk["kid"])).unlink(missing_ok=True)
    return kid


def active_signing_key(state_dir: Path) -> tuple[str, rsa.RSAPrivateKey]:
    """The ``kid`` and private key that sign new tokens (the first key of the JWKS)."""
    paths = StatePaths(state_dir)
    if not paths.jwks.exists():
        raise ConfigError(f"no gateway keys in {state_dir}: run `opslake gateway init`")
    kid = str(json.loads(paths.jwks.read_text())["keys"][0]["kid"])
    key = serialization.load_pem_private_key(paths.private_key(kid).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"gateway signing key {kid} is not an RSA key")
    return kid, key


def _load_credentials(paths: StatePaths) -> dict[str, Any]:
    if not paths.credentials.exists():
        return {"users": {}, "api_keys": {}}
    data: dict[str, Any] = json.loads(paths.credentials.read_text())
    return data


def _save_credentials(paths: StatePaths, data: dict[str, Any]) -> None:
    _write_private(paths.credentials, json.dumps(data, indent=1, sort_keys=True).encode())


def set_user(state_dir: Path, name: str, password: str, role: str) -> None:
    """Create or replace a login user (password stored as an scrypt hash)."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    paths = StatePaths(state_dir)
    data = _load_credentials(paths)
    data.setdefault("users", {})[name] = {"password": hash_password(password), "role": role}
    _save_credentials(paths, data)


def create_api_key(state_dir: Path, subject: str, role: str) -> str:
    """Create an API key for ``subject`` with ``role``; the key is returned once and stored hashed."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    key_id = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    paths = StatePaths(state_dir)
    data = _load_credentials(paths)
    data.setdefault("api_keys", {})[key_id] = {
        "sha256": api_key_hash(key),
        "subject": subject,
        "role": role,
        "created": int(time.time()),
        "revoked": False,
    }
    _save_credentials(paths, data)
    return key


def revoke_api_key(state_dir: Path, key_or_id: str) -> str:
    """Mark an API key revoked (given the key or its id); return the id."""
    key_id = split_api_key(key_or_id) or key_or_id
    paths = StatePaths(state_dir)
    data = _load_credentials(paths)
    if key_id not in data.get("api_keys", {}):
        raise ConfigError(f"no API key with id {key_id!r}")
    data["api_keys"][key_id]["revoked"] = True
    _save_credentials(paths, data)
    return key_id


def init_state(state_dir: Path, admin_user: str = "admin") -> str | None:
    """Create keys and an admin login where missing; return the generated admin password, if any.

    Idempotent: an existing key or user is kept (the password is only ever shown at creation).
    """
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = StatePaths(state_dir)
    if not paths.jwks.exists():
        rotate_signing_key(state_dir)
    if admin_user in _load_credentials(paths).get("users", {}):
        return None
    password = secrets.token_urlsafe(18)
    set_user(state_dir, admin_user, password, "admin")
    return password
