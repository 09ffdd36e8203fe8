"""Signed indicator reports, and the public keys that verify them (``docs/reports.md``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from cityhub.access.clients import Principal
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import HubDep, scope
from cityhub.api.limits import rate_limit
from cityhub.api.spec import problems
from cityhub.core.errors import Forbidden
from cityhub.pipelines import report_keys, reports

router = APIRouter(tags=["reports"])

JWKS_PATH = "/.well-known/jwks.json"
READERS = ("scoring", "admin", "county")
ACTION = "reports"
"""Audit action of a report."""
ReportAudit = Annotated[AuditEntry, audited(ACTION)]
"""The request's audit entry, shared by the route and its access decision."""
Region = Annotated[str, Query(pattern=r"^\d{6}$", description="the city or one of its counties")]
Period = Annotated[str, Query(pattern=r"^(\d{4}(-\d{2}){0,2}|now)$",
                              description="YYYY-MM-DD, YYYY-MM (month to date), YYYY (year to date) or now")]


class SignedReport(BaseModel):
    format: str = Field(description=f"what the signed payload holds: {reports.FORMAT}")
    region: str
    period: str
    kid: str = Field(description=f"the signing key's id, among the keys at {JWKS_PATH}")
    alg: Literal["EdDSA"]
    jwks_uri: str = Field(description="where the keys that verify the report are published")
    jws: str = Field(description="the report: a compact JWS (RFC 7515), header.payload.signature, the JSON "
                                 "report attached as its payload, signed with Ed25519 (RFC 8037)")


class Jwk(BaseModel):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="the public key, base64url")
    kid: str = Field(description="its RFC 7638 thumbprint")
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class JwkSet(BaseModel):
    keys: list[Jwk] = Field(description="the signing key first, then retired keys (which still verify the "
                                        "reports they signed), newest first")


@dataclass(frozen=True)
class ReportAccess:
    caller: Principal
    region: str
    """The region asked for, within the caller's scope."""


def report_access(hub: HubDep, entry: ReportAudit, region: Region, period: Period) -> ReportAccess:
    """Scoring and admin clients may have any region's report, a county its own county's;
    a refusal is a 403, which the request's audit entry records."""
    p = entry.caller
    entry.note(dataset="indicator_values", filters={"region": region, "period": period})
    if p.role not in READERS:
        raise Forbidden(f"client {p.name!r} has role {p.role}: reports are for scoring and admin clients, "
                        "and counties for their own county")
    label, _ = scope(hub, p, region)
    return ReportAccess(p, label)


@router.get("/v1/reports", response_model=SignedReport, responses=problems(400, 401, 403, 404, 409, 503),
            summary="A signed report of a region's indicator values over a period, with their evidence digests")
def signed_report(hub: HubDep, entry: ReportAudit, access: Annotated[ReportAccess, Depends(report_access)],
                  period: Period):
    """The latest stored values of ``region`` over ``period`` in the standard's table
    shape, each with its definition version and hash, the snapshot ids it read and the
    digest of its evidence rows, signed with the hub's Ed25519 key. For scoring and
    admin clients, and a county for its own county. Verify it with the keys at
    ``/.well-known/jwks.json`` (``cityhub reports verify``, or a few lines of Python:
    docs/reports.md)."""
    region = access.region
    entry.note(filters={"region": region, "period": period})
    signed = reports.create(hub.lake, region, period)
    entry.note(filters={"region": region, "period": period, "kid": signed.kid}, rows=len(signed.report["rows"]))
    return {"format": reports.FORMAT, "region": region, "period": period, "kid": signed.kid,
            "alg": "EdDSA", "jwks_uri": JWKS_PATH, "jws": signed.jws}


@router.get(JWKS_PATH, response_model=JwkSet, dependencies=[Depends(rate_limit)], responses=problems(429, 503),
            summary="The public keys that verify the hub's signed reports (JWK Set; no token needed)")
def jwks(hub: HubDep, response: Response):  # not audited: public keys, no caller, no data
    response.headers["Cache-Control"] = "public, max-age=60"
    return report_keys.jwks(hub.cfg)
