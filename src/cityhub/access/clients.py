"""API clients and their bearer tokens.

A client has a role — ``county`` (bound to a county code), ``department`` (the
owner of categories), ``scoring`` or ``admin`` — and OAuth2 client credentials:
a client id and a secret, stored only as a salted scrypt hash. ``POST /v1/token``
exchanges them for a short-lived signed token (JWT, HS256). A token names its
client; every request re-checks that the client still exists and is not
disabled, so disabling a client stops its tokens at once.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jwt
from sqlalchemy import bindparam, insert, select, update

from cityhub.access import catalogue
from cityhub.core.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.declarations import Declarations
from cityhub.lake.hubdb import clients, engine

ROLES = ("county", "department", "scoring", "admin")
ISSUER = "cityhub"


@dataclass(frozen=True)
class Principal:
    client_id: str
    name: str
    role: str
    region: str | None
    department: str | None = None


def token_secret(cfg: Settings) -> str:
    """The signing secret: ``CITYHUB_TOKEN_SECRET``, else one generated once per hub home."""
    if cfg.secret:
        return cfg.secret
    return _home_secret(str(Path(cfg.home) / "token_secret"))


@lru_cache(maxsize=8)
def _home_secret(path: str) -> str:
    """Created once, never changed: written private (0600) and linked into place
    atomically, so two processes starting together agree on one secret."""
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, target)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    return target.read_text().strip()


def _check_region(decl: Declarations, role: str, region: str | None) -> None:
    if role == "county":
        if not region:
            raise InvalidRequest("a county client needs --region, the county's 6-digit code")
        if not any(region in c.counties for c in decl.cities.values()):
            raise InvalidRequest(f"region {region!r} is not a declared county (see schemas/regions.yaml)")
    elif region and decl.city_of(region) is None:
        raise InvalidRequest(f"region {region!r} is not a declared region")


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


_DUMMY_HASH = ("scrypt$16384$8$1$9f1c6a0e5b7d4c2a8e3f6b1d0a9c7e52$"
               "4b8e2f7a1c9d3e6f0a5b8c2d7e1f4a9b3c6d0e8f2a7b5c1d9e3f6a0b4c8d2e7f")
"""What an unknown client id's secret is checked against (no secret hashes to it), so
that it costs what a known id's wrong secret does."""


def check_secret(secret: str, stored: str | None) -> bool:
    try:
        kind, n, r, p, salt, digest = (stored or "").split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def create(cfg: Settings, decl: Declarations, name: str, role: str, region: str | None = None,
           department: str | None = None) -> tuple[Principal, str]:
    """Register a client; returns it with its secret (shown once, stored hashed)."""
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    _check_region(decl, role, region)
    if role == "department" and not department:
        raise InvalidRequest("a department client needs --department, the id of the department it acts for")
    if department and department not in catalogue.current(cfg, decl).departments:
        raise InvalidRequest(f"department {department!r} is not in the catalogue")
    secret = secrets.token_urlsafe(32)
    eng = engine(cfg.hub_db_uri)
    cid = uuid.uuid4().hex
    with eng.begin() as con:
        if con.execute(select(clients.c.id).where(clients.c.name == name)).first():
            raise Conflict(f"a client named {name!r} already exists")
        con.execute(insert(clients).values(id=cid, name=name, role=role, region=region, department=department,
                                           secret_hash=hash_secret(secret), disabled=False, created_at=now_cst()))
    return Principal(cid, name, role, region, department), secret


def rotate_secret(cfg: Settings, name: str) -> str:
    """A new secret for a client (the old one stops working; issued tokens run out)."""
    secret = secrets.token_urlsafe(32)
    with engine(cfg.hub_db_uri).begin() as con:
        n = con.execute(update(clients).where(clients.c.name == name).values(secret_hash=hash_secret(secret))).rowcount
    if not n:
        raise NotFound(f"no client named {name!r}")
    return secret


def exchange(cfg: Settings, client_id: str, secret: str) -> tuple[str, int]:
    """OAuth2 client credentials: a token and its lifetime in seconds, or ``Unauthorized``."""
    with engine(cfg.hub_db_uri).connect() as con:
        row = con.execute(select(clients).where(clients.c.id == client_id)).first()
    # an unknown id costs the scrypt a wrong secret does: the time tells nothing about which ids exist
    if not check_secret(secret, _DUMMY_HASH if row is None else row.secret_hash) or row is None:
        raise Unauthorized("unknown client or wrong secret")
    if row.disabled:
        raise Unauthorized(f"client {row.name!r} is disabled")
    p = Principal(row.id, row.name, row.role, row.region, row.department)
    return issue_token(cfg, p), cfg.token_ttl_s


def by_name(cfg: Settings, name: str) -> Principal:
    with engine(cfg.hub_db_uri).connect() as con:
        row = con.execute(select(clients).where(clients.c.name == name)).first()
    if row is None:
        raise NotFound(f"no client named {name!r}")
    return Principal(row.id, row.name, row.role, row.region, row.department)


def issue_token(cfg: Settings, p: Principal, ttl_s: int | None = None) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": p.client_id, "role": p.role, "region": p.region,
              "iat": now, "exp": now + (ttl_s or cfg.token_ttl_s), "jti": uuid.uuid4().hex}
    return jwt.encode(claims, token_secret(cfg), algorithm="HS256")


def list_clients(cfg: Settings) -> list[dict]:
    with engine(cfg.hub_db_uri).connect() as con:
        return [{k: v for k, v in r._mapping.items() if k != "secret_hash"}
                for r in con.execute(select(clients).order_by(clients.c.created_at))]


def set_disabled(cfg: Settings, name: str, disabled: bool) -> None:
    """Disable a client (its tokens stop working at once: every request checks) or enable it again."""
    with engine(cfg.hub_db_uri).begin() as con:
        n = con.execute(update(clients).where(clients.c.name == name).values(disabled=disabled)).rowcount
    if not n:
        raise NotFound(f"no client named {name!r}")


_GOOD: dict[tuple[str, str], dict] = {}
"""Claims of tokens that verified, by (token, secret)."""
_GOOD_MAX = 10_000


def verified_claims(cfg: Settings, token: str) -> dict:
    """A token's claims once its signature, issuer and expiry check out; ``Unauthorized`` saying why not.
    The same token string under the same secret always verifies the same way, so a
    good one's claims are remembered (only its expiry is checked again): the rate
    limiter and the route both ask, on every request."""
    secret = token_secret(cfg)
    claims = _GOOD.get((token, secret))
    if claims is None:
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER,
                                options={"require": ["exp", "sub", "iss"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidTokenError as e:
            raise Unauthorized(f"the token is not valid: {e}") from None
        if len(_GOOD) >= _GOOD_MAX:
            _GOOD.clear()  # crude but bounded; tokens live an hour, so the set renews anyway
        _GOOD[(token, secret)] = claims
    elif claims["exp"] <= time.time():
        raise Unauthorized("the token has expired")
    return dict(claims)


_BY_ID = select(clients).where(clients.c.id == bindparam("id"))
"""Built once: asked on every request."""


def authenticate(cfg: Settings, token: str) -> Principal:
    """The client a bearer token stands for; ``Unauthorized`` saying why not."""
    claims = verified_claims(cfg, token)
    with engine(cfg.hub_db_uri).connect() as con:
        row = con.execute(_BY_ID, {"id": claims["sub"]}).first()
    if row is None:
        raise Unauthorized("the token's client does not exist")
    if row.disabled:
        raise Unauthorized(f"client {row.name!r} is disabled")
    return Principal(row.id, row.name, row.role, row.region, row.department)
