"""The Ed25519 key that signs indicator reports, and the public keys that verify them.

One key signs at a time: the PKCS#8 PEM file ``CITYHUB_REPORT_KEY`` names (production:
the operator keeps it, and rotates by replacing the file), else one generated once per
hub home, ``<home>/report_keys/signing_key.pem`` (0600, linked into place atomically, so
two processes starting together agree on one key), replaced by ``rotate``. A key's id
(``kid``) is its RFC 7638 thumbprint.

Every key's public JWK is kept in ``<home>/report_keys/public/<kid>.json`` before the key
signs anything, and never removed: the JWKS (``GET /.well-known/jwks.json``) publishes
them all, the signing key first, so a report signed before a rotation still verifies
after it. A retired private key is overwritten: it can no longer sign.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cityhub.core import jose
from cityhub.core.errors import ConfigurationError
from cityhub.core.settings import Settings

FOLDER = "report_keys"
PRIVATE = "signing_key.pem"
PUBLIC = "public"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: Ed25519PrivateKey


def folder(cfg: Settings) -> Path:
    return Path(cfg.home) / FOLDER


def signing_key(cfg: Settings) -> SigningKey:
    """The key reports are signed with now, its public key published. Read from its file
    on every call (a report is signed rarely), so a rotation by another process takes
    effect at once in every API worker."""
    path = cfg.report_key or _home_key(folder(cfg) / PRIVATE)
    key = _load(path)
    return SigningKey(publish(cfg, key), key)


def rotate(cfg: Settings) -> tuple[str, str]:
    """A new signing key for the hub home; returns the old and the new key id. The new
    public key is published before the key can sign; the old one stays published."""
    if cfg.report_key:
        raise ConfigurationError(
            f"reports are signed with the key CITYHUB_REPORT_KEY names ({cfg.report_key}): rotate it by replacing "
            "that file with a new Ed25519 key (PKCS#8 PEM); the old key's public key stays published")
    old = signing_key(cfg).kid
    new = Ed25519PrivateKey.generate()
    kid = publish(cfg, new)
    _write(folder(cfg) / PRIVATE, _pem(new), 0o600, replace=True)
    return old, kid


def jwks(cfg: Settings) -> dict:
    """Every published key as a JWK Set (RFC 7517): the signing key first (made now if
    the hub has none yet), then the retired ones, newest first."""
    return published(cfg, signing_key(cfg).kid)


def published(cfg: Settings, current: str | None = None) -> dict:
    """The JWK Set of the keys published in the hub home, ``current`` first, then newest
    first; none are made."""
    found = []
    for f in (folder(cfg) / PUBLIC).glob("*.json"):
        try:
            jwk = json.loads(f.read_text(encoding="utf-8"))
            ok = jose.thumbprint(jwk) == jwk.get("kid") == f.stem
            mtime = f.stat().st_mtime_ns
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if ok:  # a file that is not the key its name says is not published
            found.append((f.stem != current, -mtime, f.stem, jwk))
    return {"keys": [jwk for *_, jwk in sorted(found, key=lambda t: t[:3])]}


def publish(cfg: Settings, key: Ed25519PrivateKey) -> str:
    """Keep ``key``'s public JWK among the published keys (once); returns its key id."""
    jwk = jose.public_jwk(key.public_key())
    kid = jose.thumbprint(jwk)
    target = folder(cfg) / PUBLIC / f"{kid}.json"
    if not target.exists():
        body = json.dumps({**jwk, "kid": kid, "use": "sig", "alg": jose.ALG}, indent=2) + "\n"
        _write(target, body.encode(), 0o644, replace=False)
    return kid


def _home_key(path: Path) -> Path:
    """The home's signing key file, generated the first time it is asked for."""
    if not path.exists():
        _write(path, _pem(Ed25519PrivateKey.generate()), 0o600, replace=False)
    return path


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(target: Path, data: bytes, mode: int, replace: bool) -> None:
    """Write ``data`` with ``mode`` from the start and move it into place atomically:
    replacing what is there, or (``replace=False``) only if nothing is (another process
    that made it first wins, and both use theirs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)


def _load(path: Path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigurationError(f"report signing key {path}: {e.strerror or e}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise ConfigurationError(f"report signing key {path} is not an unencrypted PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"report signing key {path} is a {type(key).__name__}, not an Ed25519 key")
    return key
