"""Grants: a county or department applies, the owning department (or an admin) decides."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cityhub.access import grants
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import Hub, HubDep
from cityhub.api.fields import CstTime
from cityhub.api.problems import Problem
from cityhub.api.spec import problems

router = APIRouter(tags=["grants"])

Status = Literal["pending", "approved", "rejected", "revoked"]


class GrantOut(BaseModel):
    """A grant: who applied for which category, why, and what became of it."""
    id: str
    client_id: str = Field(description="the client that applied (the grantee)")
    category_id: str
    purpose: str
    fields: list[str] = Field(description="personal fields it serves in clear")
    scope: Literal["county", "city"] = Field(description="city: rows of every county")
    starts_at: CstTime = Field(description="when it runs from (once approved: the approval)")
    expires_at: CstTime
    status: Status
    requested_at: CstTime
    decided_by: str | None = Field(description="the client that approved or rejected it")
    decided_at: CstTime | None
    decision_note: str | None
    live: bool = Field(description="approved, started and not expired: it allows reads now")


class GrantList(BaseModel):
    grants: list[GrantOut] = Field(description="newest first, at most 1000")


@router.post("/v1/grants", status_code=201, response_model=GrantOut, responses=problems(400, 401, 403, 404),
             summary="Apply for access to a category (conditional data, personal fields in clear, city-wide rows)")
def grant_apply(body: grants.GrantRequest, hub: HubDep, entry: Annotated[AuditEntry, audited("grants.apply")]):
    entry.note(category=body.category)
    g = grants.apply(hub.cfg, hub.decl, entry.caller, body)
    entry.note(filters={"grant": g["id"]}, rows=1, status=201)
    return g


@router.get("/v1/grants", response_model=GrantList, responses=problems(400, 401),
            summary="Grants the caller holds or decides on")
def grant_list(hub: HubDep, entry: Annotated[AuditEntry, audited("grants.list")],
               status: Annotated[Status | None, Query()] = None):
    entry.note(filters={"status": status})
    out = grants.visible(hub.cfg, hub.decl, entry.caller, status)
    entry.note(rows=len(out))
    return {"grants": out}


@router.get("/v1/grants/{grant_id}", response_model=GrantOut, responses=problems(401, 404), summary="One grant")
def grant_get(grant_id: str, hub: HubDep, entry: Annotated[AuditEntry, audited("grants.get")]):
    entry.note(filters={"grant": grant_id})
    g = grants.get(hub.cfg, grant_id)
    entry.note(category=g["category_id"])
    if not grants.may_see(hub.cfg, hub.decl, entry.caller, g):
        raise Problem(404, f"no grant {grant_id!r} you may see")
    entry.note(rows=1)
    return g


def _decide(hub: Hub, entry: AuditEntry, grant_id: str, action: str, note: grants.Decision | None):
    # the grant's category first, so that a refusal is recorded with it (its owner reads it in the audit log)
    entry.note(filters={"grant": grant_id}, category=grants.get(hub.cfg, grant_id)["category_id"])
    text = note.note if note else None
    if action == "revoke":
        g = grants.revoke(hub.cfg, hub.decl, entry.caller, grant_id, text)
    else:
        g = grants.decide(hub.cfg, hub.decl, entry.caller, grant_id, action == "approve", text)
    entry.note(rows=1)
    return g


DECIDE = problems(400, 401, 403, 404, 409)


@router.post("/v1/grants/{grant_id}/approve", response_model=GrantOut, responses=DECIDE,
             summary="Approve (the owning department or an admin)")
def grant_approve(grant_id: str, hub: HubDep, entry: Annotated[AuditEntry, audited("grants.approve")],
                  body: grants.Decision | None = None):
    return _decide(hub, entry, grant_id, "approve", body)


@router.post("/v1/grants/{grant_id}/reject", response_model=GrantOut, responses=DECIDE,
             summary="Reject (the owning department or an admin)")
def grant_reject(grant_id: str, hub: HubDep, entry: Annotated[AuditEntry, audited("grants.reject")],
                 body: grants.Decision | None = None):
    return _decide(hub, entry, grant_id, "reject", body)


@router.post("/v1/grants/{grant_id}/revoke", response_model=GrantOut, responses=problems(400, 401, 403, 404),
             summary="Revoke (grantee, owner or admin)")
def grant_revoke(grant_id: str, hub: HubDep, entry: Annotated[AuditEntry, audited("grants.revoke")],
                 body: grants.Decision | None = None):
    return _decide(hub, entry, grant_id, "revoke", body)
