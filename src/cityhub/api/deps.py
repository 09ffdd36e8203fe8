"""What routes declare they need, as ``Annotated`` dependencies: the hub (settings,
declarations, lake), the caller, the region a caller may read, and the access
policies beyond records (``cityhub.access.policies``: who may read an indicator's
evidence, and the audit log), each applied once here with its refusal audited."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from cityhub.access import audit, catalogue, policies
from cityhub.access.catalogue import Catalogue
from cityhub.access.clients import Principal, authenticate
from cityhub.api.problems import Problem, status_of
from cityhub.core.errors import CityHubError, Unauthorized
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


@dataclass(frozen=True)
class EvidenceAccess:
    """What a caller may read of the rows behind an indicator's values for a region."""
    caller: Principal
    region: str
    """The region asked for, within the caller's scope."""
    inputs: list[policies.EvidenceInput]


EVIDENCE = "indicators.evidence"
"""Audit action of the evidence endpoint."""


def evidence_access(code: str, hub: HubDep, p: Annotated[Principal, Depends(principal)],
                    region: Annotated[str, Query(pattern=r"^\d{6}$", description="county or city code")]
                    ) -> EvidenceAccess:
    """The caller's region scope and, input by input, the access decision of the records
    the evidence is (``policies.evidence``); a refusal is a 403 naming the dataset and
    category, audited."""
    try:
        label, _ = scope(hub, p, region)
        inputs = policies.evidence(hub.cfg, hub.decl, hub.catalogue(), p, code)
    except (CityHubError, Problem) as e:
        hub.audit(p, EVIDENCE, dataset=getattr(e, "dataset", None), category=getattr(e, "category", None),
                  filters={"code": code, "region": region}, status=status_of(e))
        raise
    return EvidenceAccess(p, label, inputs)


def audit_reader(hub: HubDep, p: Annotated[Principal, Depends(principal)]) -> list[str] | None:
    """The categories whose audit entries the caller may read (None: all); a refusal is
    a 403, audited."""
    try:
        return policies.audit_categories(hub.catalogue(), p)
    except CityHubError as e:
        hub.audit(p, "audit", status=status_of(e))
        raise


EvidenceReader = Annotated[EvidenceAccess, Depends(evidence_access)]
AuditReader = Annotated[list[str] | None, Depends(audit_reader)]
"""The categories whose entries the caller may read (None: every entry)."""
