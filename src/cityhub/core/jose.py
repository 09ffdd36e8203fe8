"""Compact JWS (RFC 7515 §7.1) signed with Ed25519 (``alg: EdDSA``, RFC 8037), and
Ed25519 public keys as JWKs (``kty: OKP``, ``crv: Ed25519``, ``x``) named by their
RFC 7638 thumbprint.

Short enough to own: the hub signs its indicator reports with it, and anyone can
verify them with ``cryptography`` alone (``docs/reports.md``). Checked against the
examples of RFC 8037, appendix A.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cityhub.core.errors import NotAuthentic

ALG = "EdDSA"


def b64u(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    """The bytes of unpadded base64url ``text``; ``ValueError`` for anything else."""
    if not isinstance(text, str) or "=" in text or any(c in text for c in "+/ \n\r\t"):
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not unpadded base64url") from None


def public_jwk(key: Ed25519PublicKey) -> dict:
    """The public key as a JWK (RFC 8037 §2): ``kty``, ``crv``, ``x``."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}


def thumbprint(jwk: dict) -> str:
    """The JWK's RFC 7638 thumbprint (SHA-256 over its required members, sorted, no
    whitespace): the key id the hub gives an Ed25519 key."""
    required = {k: jwk[k] for k in ("crv", "kty", "x")}
    return b64u(hashlib.sha256(json.dumps(required, sort_keys=True, separators=(",", ":")).encode()).digest())


def public_key(jwk: dict) -> Ed25519PublicKey:
    """The Ed25519 public key a JWK holds; ``ValueError`` when it holds none."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("not an Ed25519 JWK (kty OKP, crv Ed25519)")
    raw = unb64u(jwk.get("x", ""))
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(payload: bytes, key: Ed25519PrivateKey, header: dict | None = None) -> str:
    """``payload`` as a compact JWS signed with ``key``: ``{"alg": "EdDSA", **header}``
    as the protected header, the payload attached."""
    protected = b64u(json.dumps({"alg": ALG, **(header or {})}, separators=(",", ":"), ensure_ascii=False).encode())
    signing_input = f"{protected}.{b64u(payload)}".encode("ascii")
    return f"{signing_input.decode('ascii')}.{b64u(key.sign(signing_input))}"


def split(jws: str) -> tuple[dict, bytes]:
    """A compact JWS's protected header and payload, unverified; ``NotAuthentic``
    ("malformed") when it is not one, or not one signed with EdDSA."""
    try:
        protected, payload, signature = jws.strip().split(".")
        header = json.loads(unb64u(protected))
        body = unb64u(payload)
        unb64u(signature)
    except (ValueError, AttributeError, UnicodeDecodeError):
        raise NotAuthentic("malformed", "not a compact JWS (three base64url parts: header.payload.signature)") from None
    if not isinstance(header, dict):
        raise NotAuthentic("malformed", "the JWS header is not a JSON object")
    if header.get("alg") != ALG:
        raise NotAuthentic("malformed", f"the JWS is signed with alg {header.get('alg')!r}, not {ALG}")
    if header.get("crit"):
        raise NotAuthentic("malformed", f"the JWS names critical extensions this verifier does not know: "
                                        f"{header['crit']}")
    return header, body


def verify(jws: str, jwks: dict) -> tuple[dict, bytes]:
    """The header and payload of a compact JWS whose ``kid`` is a key of ``jwks`` (a
    JWK Set, RFC 7517 §5) and whose signature that key made; ``NotAuthentic``
    naming what failed ("malformed", "unknown key", "signature") otherwise."""
    header, payload = split(jws)
    kid = header.get("kid")
    keys = [k for k in (jwks or {}).get("keys", []) if isinstance(k, dict)]
    found = [k for k in keys if k.get("kid") == kid]
    if not kid or not found:
        known = ", ".join(str(k.get("kid")) for k in keys) or "none"
        raise NotAuthentic("unknown key", f"the report is signed with key {kid!r}, which is not among the "
                                          f"published keys ({known})")
    try:
        key = public_key(found[0])
    except ValueError as e:
        raise NotAuthentic("unknown key", f"published key {kid!r} is not usable: {e}") from None
    protected, body, signature = jws.strip().split(".")
    try:
        key.verify(unb64u(signature), f"{protected}.{body}".encode("ascii"))
    except InvalidSignature:
        raise NotAuthentic("signature", f"the signature does not verify with key {kid!r}: the report was "
                                        "changed after signing, or signed by another key") from None
    return header, payload
