"""What routes declare they need, as ``Annotated`` dependencies: the hub (settings,
declarations, lake), the caller, and the region a caller may read."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from cityhub.access import audit, catalogue
from cityhub.access.catalogue import Catalogue
from cityhub.access.clients import Principal, authenticate
from cityhub.api.problems import Problem
from cityhub.core.errors import Unauthorized
from cityhub.core.settings import Settings
from cityhub.declarations import Declarations
from cityhub.declarations.regions import City
from cityhub.lake import Lake
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

    def catalogue(self) -> Catalogue:
        return catalogue.current(self.cfg, self.decl)

    def audit(self, p: Principal | None, action: str, **kw) -> None:
        audit.record(self.cfg, p, action, **kw)


def get_hub(request: Request) -> Hub:
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]

_bearer = HTTPBearer(auto_error=False, description="token from POST /v1/token (client credentials from "
                                                   "`cityhub clients create`)")
_optional_bearer = HTTPBearer(auto_error=False, description="optional: needed only for conditionally open data")


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
