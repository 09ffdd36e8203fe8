"""Grants: a county or department applies, the owning department (or an admin) decides."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cityhub.access import grants
from cityhub.access.clients import Principal
from cityhub.api.deps import Caller, Hub, HubDep
from cityhub.api.problems import Problem
from cityhub.api.responses import json_response

router = APIRouter(tags=["grants"])


@router.post("/v1/grants", status_code=201,
             summary="Apply for access to a category (conditional data, personal fields in clear, city-wide rows)")
def grant_apply(body: grants.GrantRequest, hub: HubDep, p: Caller):
    g = grants.apply(hub.cfg, hub.decl, p, body)
    hub.audit(p, "grants.apply", category=body.category, filters={"grant": g["id"]}, rows=1, status=201)
    return json_response(g, status=201)


@router.get("/v1/grants", summary="Grants the caller holds or decides on")
def grant_list(hub: HubDep, p: Caller,
               status: Annotated[str | None, Query(pattern=r"^(pending|approved|rejected|revoked)$")] = None):
    return json_response({"grants": grants.visible(hub.cfg, hub.decl, p, status)})


@router.get("/v1/grants/{grant_id}", summary="One grant")
def grant_get(grant_id: str, hub: HubDep, p: Caller):
    g = grants.get(hub.cfg, grant_id)
    if not grants.may_see(hub.cfg, hub.decl, p, g):
        raise Problem(404, f"no grant {grant_id!r} you may see")
    return json_response(g)


def _decide(hub: Hub, grant_id: str, p: Principal, action: str, note: grants.Decision | None):
    text = note.note if note else None
    if action == "revoke":
        g = grants.revoke(hub.cfg, hub.decl, p, grant_id, text)
    else:
        g = grants.decide(hub.cfg, hub.decl, p, grant_id, action == "approve", text)
    hub.audit(p, f"grants.{action}", category=g["category_id"], filters={"grant": grant_id}, rows=1)
    return json_response(g)


@router.post("/v1/grants/{grant_id}/approve", summary="Approve (the owning department or an admin)")
def grant_approve(grant_id: str, hub: HubDep, p: Caller, body: grants.Decision | None = None):
    return _decide(hub, grant_id, p, "approve", body)


@router.post("/v1/grants/{grant_id}/reject", summary="Reject (the owning department or an admin)")
def grant_reject(grant_id: str, hub: HubDep, p: Caller, body: grants.Decision | None = None):
    return _decide(hub, grant_id, p, "reject", body)


@router.post("/v1/grants/{grant_id}/revoke", summary="Revoke (grantee, owner or admin)")
def grant_revoke(grant_id: str, hub: HubDep, p: Caller, body: grants.Decision | None = None):
    return _decide(hub, grant_id, p, "revoke", body)
