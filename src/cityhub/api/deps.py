"""What routes declare they need, as ``Annotated`` dependencies: the hub (settings,
declarations, lake), the caller and the region a caller may read. The access policies
beyond records (``cityhub.access.policies``: who may read an indicator's evidence, and
the audit log) are dependencies of the routes they guard (``routes.evidence``,
``routes.audit``), sharing the request's audit entry (``cityhub.api.auditing``), which
records their refusals."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import HTTPAuthorizationCredentials, OAuth2
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from cityhub.access import audit, catalogue, session
from cityhub.access.catalogue import Catalogue
from cityhub.access.clients import Principal, authenticate
from cityhub.api import spec
from cityhub.api.problems import Problem
from cityhub.core.errors import Forbidden, Unauthorized
from cityhub.core.settings import Settings
from cityhub.declarations import Declarations
from cityhub.declarations.regions import City
from cityhub.lake import Lake
from cityhub.read.masking import logged_filters
from cityhub.read.snapshots import SnapshotCache


@dataclass
class Hub:
    """One API worker's hub: built once by the app factory, shared by every request."""
    cfg: Settings
    decl: Declarations
    lake: Lake
    snapshots: SnapshotCache
    limiter: SlidingWindowCounterRateLimiter

    @property
    def city(self) -> City:
        return self.decl.city(self.cfg.city)

    @property
    def local_db(self) -> bool:
        """The hub DB is a SQLite file: its reads and the audit commit take tens of
        microseconds in this process, not a round trip to a server."""
        return self.cfg.hub_db_uri.startswith("sqlite")

    def catalogue(self) -> Catalogue:
        return catalogue.current(self.cfg, self.decl)

    def audit(self, p: Principal | None, action: str, **kw) -> None:
        """Append an entry; personal values in its filters masked, refused or served alike."""
        if kw.get("filters"):
            kw["filters"] = logged_filters(self.decl.contracts.get(kw.get("dataset") or ""), kw["filters"])
        audit.record(self.cfg, p, action, **kw)


def get_hub(request: Request) -> Hub:
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]

class ClientCredentials(OAuth2):
    """The bearer token of OAuth2's client-credentials flow (token URL ``/v1/token``),
    or None: the route (or ``principal_of``) says why a missing one is refused."""

    def __init__(self, optional: bool = False):
        super().__init__(flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=spec.TOKEN_URL)),
                         scheme_name=spec.OPTIONAL_SCHEME if optional else spec.SCHEME,
                         description=spec.SCHEME_TEXT, auto_error=False)
        self.optional = optional

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        """The bearer token of the ``Authorization`` header, else the browser's session
        cookie (``cityhub.access.session``), which must come with the session's
        ``X-CSRF-Token`` when the request changes something (403 otherwise)."""
        tok, by_cookie = session.presented(request.headers.get("authorization"), request.cookies)
        if tok is None:
            return None
        if by_cookie:
            try:
                session.check_csrf(request.app.state.hub.cfg, request.method, tok,
                                   request.headers.get(session.CSRF_HEADER))
            except Forbidden as e:
                if self.optional:  # open data: answered as to anyone, the cookie's authority unused
                    return None
                raise Problem(403, e.detail) from None
            return HTTPAuthorizationCredentials(scheme="Cookie", credentials=tok)
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=tok)


_bearer = ClientCredentials()
_optional_bearer = ClientCredentials(optional=True)


def principal_of(hub: Hub, creds: HTTPAuthorizationCredentials | None) -> Principal:
    """The client behind a bearer token, or a 401 saying why not."""
    if creds is None:
        raise Problem(401, "a bearer token is required: Authorization: Bearer <token>",
                      {"WWW-Authenticate": "Bearer"})
    try:
        return authenticate(hub.cfg, creds.credentials)
    except Unauthorized as e:
        raise Problem(401, e.detail, {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None


def principal(hub: HubDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    return principal_of(hub, creds)


def maybe_principal(hub: HubDep, creds: Annotated[HTTPAuthorizationCredentials | None,
                                                  Depends(_optional_bearer)]) -> Principal | None:
    return None if creds is None else principal_of(hub, creds)


def admin(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if p.role != "admin":
        raise Problem(403, f"client {p.name!r} has role {p.role}: managing the catalogue needs the admin role")
    return p


Caller = Annotated[Principal, Depends(principal)]
MaybeCaller = Annotated[Principal | None, Depends(maybe_principal)]
Admin = Annotated[Principal, Depends(admin)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
"""For the data routes, which authenticate in their own thread (their hot path: one thread hop, not two)."""


def scope(hub: Hub, p: Principal | None, region: str | None, city_wide: bool = False) -> tuple[str, list[str]]:
    """The region a caller asks for, checked against what it may see, and the county
    codes that region covers. A county reads its own county unless a grant makes it
    ``city_wide``."""
    c = hub.city
    if p is not None and p.role == "county" and not city_wide:
        if region and region != p.region:
            raise Problem(403, f"client {p.name!r} is bound to county {p.region} and may not read region {region}")
        return p.region, [p.region]
    if not region:
        return c.code, list(c.counties)
    if region == c.code:
        return region, list(c.counties)
    if region in c.counties:
        return region, [region]
    raise Problem(400, f"region {region!r} is not {c.code} ({c.name}) or one of its counties: "
                       f"{', '.join(c.counties)}")
