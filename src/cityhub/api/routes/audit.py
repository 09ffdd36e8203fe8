"""The append-only audit log: who read what."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cityhub.access import audit, policies
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import HubDep
from cityhub.api.fields import CstTime
from cityhub.api.problems import Problem
from cityhub.api.spec import problems

router = APIRouter(tags=["audit"])

AUDIT = "audit"
"""Audit action of a read of the audit log (or its refusal)."""
AuditAudit = Annotated[AuditEntry, audited(AUDIT)]
"""The request's audit entry, shared by the route and its access decision."""


def audit_reader(hub: HubDep, entry: AuditAudit) -> list[str] | None:
    """The categories whose audit entries the caller may read (None: all); a refusal is
    a 403, which the request's audit entry records."""
    return policies.audit_categories(hub.catalogue(), entry.caller)


AuditReader = Annotated[list[str] | None, Depends(audit_reader)]
"""The categories whose entries the caller may read (None: every entry)."""


class AuditLogEntry(BaseModel):
    """One request: who, what, which filters, how many rows, and the answer's status."""
    id: int = Field(description="increasing: pass the last one of a page as `before` for the next")
    at: CstTime
    client_id: str | None = Field(description="none: an open-data request without a token")
    client_name: str | None
    role: str | None
    action: str = Field(description="what was asked: records, changes, export, indicators.evidence, grants.apply, ...")
    dataset: str | None
    category: str | None
    filters: dict[str, Any] = Field(description="the request's parameters (personal values masked)")
    rows: int = Field(description="rows served")
    status: int = Field(description="the answer's HTTP status: a refusal's too")


class AuditLog(BaseModel):
    entries: list[AuditLogEntry] = Field(description="newest first")
    next_before: int | None = Field(description="pass as `before` for the next page (none: the last page)")


@router.get("/v1/audit", response_model=AuditLog, responses=problems(400, 401, 403),
            summary="Who read what: the append-only audit log",
            description="Admins see every entry; a department sees accesses to its own categories.")
def audit_log(
    hub: HubDep,
    entry: AuditAudit,
    own: AuditReader,
    client: Annotated[str | None, Query(max_length=200, description="client id or name")] = None,
    dataset: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[datetime | None, Query(description="CST, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="CST, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="next_before of the previous page")] = None,
):
    entry.note(filters={"client": client, "dataset": dataset, "category": category, "action": action})
    try:
        rows = audit.search(hub.cfg, client=client, dataset=dataset, category=category, action=action, since=since,
                            until=until, limit=limit, before=before, categories=own)
    except OverflowError:
        raise Problem(400, "since/until are out of range") from None
    entry.note(rows=len(rows))
    return {"entries": rows, "next_before": rows[-1]["id"] if len(rows) == limit else None}
