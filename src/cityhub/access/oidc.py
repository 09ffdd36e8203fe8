"""People signing in through the city's unified identity platform (OpenID Connect).

The authorization-code flow with PKCE, done by ``authlib`` (discovery from the
issuer's ``/.well-known/openid-configuration``, the code exchange, the ID token's
signature against the provider's JWKS, its issuer, audience, expiry and nonce):

1. :meth:`Provider.start` gives the provider's authorization URL and what the
   callback must check (state, nonce, PKCE verifier), which the hub keeps in a
   short-lived signed cookie (:func:`pack` / :func:`unpack`), so no server-side store;
2. :meth:`Provider.finish` exchanges the code, validates the ID token and maps its
   claims (``CITYHUB_OIDC_*_CLAIM``, ``CITYHUB_OIDC_ROLE_MAP``) to the hub's
   principal: a role, a county for county users, a department for department users.

A person becomes a client row of their own (id derived from issuer and subject, no
secret, so no client credentials), updated at each sign-in: the same principal, grants,
audit and ``cityhub clients disable`` as any client. Unknown roles, counties and
departments are refused saying which claim was wrong.
"""
from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass

import jwt
from joserfc.errors import JoseError
from sqlalchemy import insert, select, update

from cityhub.access import catalogue
from cityhub.access.clients import ROLES, Principal, issue_token, token_secret
from cityhub.core.errors import ConfigurationError, Forbidden, Unauthorized
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.declarations import Declarations
from cityhub.lake.hubdb import clients, engine

with warnings.catch_warnings():
    # authlib announces, on import and to every process's stderr, that its httpx client
    # will move to httpx2; nothing for an operator to act on (the filter it forces on
    # goes with this block)
    import authlib.deprecate  # noqa: F401 - it puts its "always" filter first; ours goes before it

    warnings.simplefilter("ignore")
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.starlette_client import OAuth

PENDING_COOKIE = "cityhub_oidc"
PENDING_TTL_S = 600
_PENDING_AUD = "cityhub-oidc-pending"


@dataclass(frozen=True)
class Pending:
    """What the callback checks: the state sent, the nonce the ID token must carry, the
    PKCE verifier, the redirect URI used, and where the person was going."""
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    next: str


def pack(cfg: Settings, p: Pending) -> str:
    """``p`` signed (HS256 under the hub's secret) for the pending-sign-in cookie."""
    now = int(time.time())
    return jwt.encode({"aud": _PENDING_AUD, "iat": now, "exp": now + PENDING_TTL_S, **p.__dict__},
                      token_secret(cfg), algorithm="HS256")


def unpack(cfg: Settings, value: str | None) -> Pending:
    if not value:
        raise Unauthorized("no sign-in is under way in this browser (or it took longer than 10 minutes): "
                           "start again at /login")
    try:
        c = jwt.decode(value, token_secret(cfg), algorithms=["HS256"], audience=_PENDING_AUD)
    except jwt.InvalidTokenError as e:
        raise Unauthorized(f"the sign-in under way is not valid ({e}): start again at /login") from None
    return Pending(c["state"], c["nonce"], c["code_verifier"], c["redirect_uri"], c["next"])


class Provider:
    """The configured OpenID Connect provider: one per API worker, which keeps its
    discovery document and JWKS (re-read when a token names a key it does not know)."""

    def __init__(self, cfg: Settings):
        if not (cfg.oidc_issuer and cfg.oidc_client_id):
            raise ConfigurationError("OpenID Connect sign-in is not configured (CITYHUB_OIDC_ISSUER, "
                                     "CITYHUB_OIDC_CLIENT_ID): sign in with a client's credentials")
        self.cfg = cfg
        self.issuer = cfg.oidc_issuer.rstrip("/")
        oauth = OAuth()
        self.client = oauth.register(
            "city", client_id=cfg.oidc_client_id, client_secret=cfg.oidc_client_secret.get_secret_value() or None,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": cfg.oidc_scopes, "code_challenge_method": "S256", "timeout": 10})

    async def start(self, redirect_uri: str, next_path: str) -> tuple[str, Pending]:
        """The provider's authorization URL to send the browser to, and what to keep."""
        try:
            rv = await self.client.create_authorization_url(redirect_uri)
        except Exception as e:  # noqa: BLE001 - the provider is down or its discovery document is wrong
            raise ConfigurationError(f"the identity provider {self.issuer} does not answer: {e}") from None
        return rv["url"], Pending(rv["state"], rv["nonce"], rv["code_verifier"], redirect_uri, next_path)

    async def finish(self, pending: Pending, params: dict[str, str]) -> dict:
        """The validated ID token's claims for the provider's answer ``params`` (the
        callback's query); ``Unauthorized`` saying what failed."""
        if params.get("error"):
            raise Unauthorized(f"the identity provider refused the sign-in: {params['error']}"
                               + (f" ({params['error_description']})" if params.get("error_description") else ""))
        if not params.get("code") or params.get("state") != pending.state:
            raise Unauthorized("the identity provider's answer does not belong to the sign-in under way "
                               "(state mismatch): start again at /login")
        try:
            token = await self.client.fetch_access_token(redirect_uri=pending.redirect_uri, code=params["code"],
                                                         code_verifier=pending.code_verifier)
            metadata = await self.client.load_server_metadata()
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
                raise Unauthorized(f"the provider's discovery document names issuer {metadata.get('issuer')!r}, "
                                   f"not the configured {self.issuer!r}")
            # the audience must name this hub (authlib checks azp, not aud, by default)
            options = {"iss": {"essential": True, "value": metadata["issuer"]},
                       "aud": {"essential": True, "value": self.cfg.oidc_client_id}}
            claims = await self.client.parse_id_token(token, nonce=pending.nonce, claims_options=options, leeway=30)
        except (OAuthError, JoseError) as e:
            raise Unauthorized(f"the identity provider's ID token was refused: {_why(e)}") from None
        except Exception as e:  # noqa: BLE001 - transport errors, a malformed answer
            raise Unauthorized(f"the identity provider's answer could not be used: {type(e).__name__}: {e}") from None
        if claims is None:
            raise Unauthorized("the identity provider sent no ID token (is the 'openid' scope allowed?)")
        return dict(claims)


def _why(e: Exception) -> str:
    kind = type(e).__name__
    text = getattr(e, "description", None) or str(e) or kind
    return f"{kind}: {text}" if kind not in text else text


def principal_of(cfg: Settings, decl: Declarations, issuer: str, claims: dict) -> Principal:
    """The hub's principal for a validated ID token's claims, recorded as a client row
    (created or updated); ``Forbidden`` naming the claim that maps to nothing known."""
    sub = str(claims.get("sub") or "")
    username = str(claims.get(cfg.oidc_name_claim) or sub)
    role = _role(cfg, claims, username)
    region = claims.get(cfg.oidc_region_claim) or None
    department = claims.get(cfg.oidc_department_claim) or None
    region = str(region) if region is not None else None
    department = str(department) if department is not None else None
    if role == "county":
        if not region or not any(region in c.counties for c in decl.cities.values()):
            raise Forbidden(f"user {username!r} has the county role, but its {cfg.oidc_region_claim!r} claim "
                            f"({region!r}) is not a declared county code: ask the identity platform's "
                            "administrator to set it")
    else:
        region = None
    if role == "department":
        if not department or department not in catalogue.current(cfg, decl).departments:
            raise Forbidden(f"user {username!r} has the department role, but its {cfg.oidc_department_claim!r} "
                            f"claim ({department!r}) is not a department of the catalogue")
    else:
        department = None
    cid = hashlib.sha256(f"{issuer}\0{sub}".encode()).hexdigest()[:32]
    name = f"oidc:{username}"[:200]
    with engine(cfg.hub_db_uri).begin() as con:
        row = con.execute(select(clients).where(clients.c.id == cid)).first()
        if row is not None and row.disabled:
            raise Unauthorized(f"user {row.name!r} is disabled on this hub")
        taken = con.execute(select(clients.c.id).where(clients.c.name == name, clients.c.id != cid)).first()
        if taken:
            name = f"oidc:{username}#{cid[:8]}"[:200]
        values = {"name": name, "role": role, "region": region, "department": department}
        if row is None:
            con.execute(insert(clients).values(id=cid, secret_hash=None, disabled=False, created_at=now_cst(),
                                               **values))
        else:
            con.execute(update(clients).where(clients.c.id == cid).values(**values))
    return Principal(cid, name, role, region, department)


def _role(cfg: Settings, claims: dict, username: str) -> str:
    raw = claims.get(cfg.oidc_role_claim)
    values = [raw] if isinstance(raw, str) else [str(v) for v in raw] if isinstance(raw, list) else []
    mapped = [cfg.oidc_role_map.get(v, v if not cfg.oidc_role_map else None) for v in values]
    known = [r for r in mapped if r in ROLES]
    if not known:
        raise Forbidden(f"user {username!r} has no role this hub knows: its {cfg.oidc_role_claim!r} claim is "
                        f"{raw!r}, which maps to none of {', '.join(ROLES)}"
                        + (f" (mapped values: {', '.join(sorted(cfg.oidc_role_map))})" if cfg.oidc_role_map else ""))
    if len(set(known)) > 1:
        raise Forbidden(f"user {username!r} maps to several roles ({', '.join(sorted(set(known)))}): "
                        "the hub gives one role per person")
    return known[0]


def session_token(cfg: Settings, p: Principal) -> tuple[str, int]:
    """The hub's own token for a person signed in: what the session cookie keeps."""
    return issue_token(cfg, p), cfg.token_ttl_s
