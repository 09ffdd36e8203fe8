"""Browser sessions: the hub's own bearer token kept in a cookie, and the CSRF token
that guards what a cookie may change.

A person signs in (with a client's credentials on embedded defaults, or through the
city's OpenID Connect provider, ``cityhub.access.oidc``) and the browser keeps the
same signed token ``POST /v1/token`` issues, in an HttpOnly, SameSite=Strict cookie
(Secure when the hub's public URL is https): scripts cannot read it, and another
site's page cannot send it. The request it authenticates is checked exactly as a
bearer token's (``clients.authenticate``): the same principal, audit and limits.

Since a browser sends cookies by itself, a request authenticated by the cookie that
changes something (POST, PUT, PATCH, DELETE) must also carry ``X-CSRF-Token``: an
HMAC of the session token under the hub's secret, which the hub hands to the page in
a readable cookie. Another site can neither read that cookie nor compute the value,
so it cannot forge the header (the double-submit pattern, bound to the session so a
planted cookie does not help either). Bearer-token requests carry no ambient
credentials and are not affected.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from cityhub.access.clients import token_secret
from cityhub.core.errors import Forbidden
from cityhub.core.settings import Settings

COOKIE = "cityhub_session"
CSRF_COOKIE = "cityhub_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_token(cfg: Settings, session_token: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of its token under a key derived from
    the hub's signing secret (never the signing key itself)."""
    key = hmac.new(token_secret(cfg).encode(), b"cityhub csrf v1", hashlib.sha256).digest()
    mac = hmac.new(key, session_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def check_csrf(cfg: Settings, method: str, session_token: str, header: str | None) -> None:
    """``Forbidden`` when a cookie-authenticated request that changes something lacks
    the session's CSRF token in ``X-CSRF-Token``."""
    if method.upper() in SAFE_METHODS:
        return
    if not header:
        raise Forbidden(f"this request is authenticated by the session cookie and changes something: it needs "
                        f"the {CSRF_HEADER} header (the value of the {CSRF_COOKIE} cookie)")
    if not hmac.compare_digest(header.encode(), csrf_token(cfg, session_token).encode()):
        raise Forbidden(f"the {CSRF_HEADER} header does not match this session: reload the page")


@dataclass(frozen=True)
class CookieSpec:
    """How the hub sets a cookie (``Response.set_cookie`` arguments)."""
    key: str
    value: str
    max_age: int
    httponly: bool
    secure: bool
    samesite: str = "strict"
    path: str = "/"

    def kwargs(self) -> dict:
        return {"key": self.key, "value": self.value, "max_age": self.max_age, "httponly": self.httponly,
                "secure": self.secure, "samesite": self.samesite, "path": self.path}


def secure(cfg: Settings) -> bool:
    """Cookies only over TLS when the hub is served over https."""
    return cfg.public_url.startswith("https://")


def cookies(cfg: Settings, session_token: str, ttl_s: int) -> list[CookieSpec]:
    """The session cookie (HttpOnly) and its CSRF cookie (readable by the page's script)."""
    return [CookieSpec(COOKIE, session_token, ttl_s, httponly=True, secure=secure(cfg)),
            CookieSpec(CSRF_COOKIE, csrf_token(cfg, session_token), ttl_s, httponly=False, secure=secure(cfg))]


def safe_next(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: a path on this hub only (``/console``), never
    another site (``//evil.example``, ``https://...``, a backslash trick)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or any(ord(ch) < 32 for ch in target):
        return default
    return target


def presented(authorization: str | None, cookies: dict[str, str]) -> tuple[str | None, bool]:
    """The token a request presents, and whether it came from the session cookie: the
    ``Authorization: Bearer`` header first (a program), else the cookie (a browser)."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), False
    cookie = (cookies.get(COOKIE) or "").strip()
    return (cookie, True) if cookie else (None, False)
