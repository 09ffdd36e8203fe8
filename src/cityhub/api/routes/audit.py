"""The append-only audit log: who read what."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from cityhub.access import audit
from cityhub.api.deps import AuditReader, Caller, HubDep
from cityhub.api.problems import Problem
from cityhub.api.responses import json_response

router = APIRouter(tags=["audit"])


@router.get("/v1/audit", summary="Who read what: the append-only audit log",
            description="Admins see every entry; a department sees accesses to its own categories.")
def audit_log(
    hub: HubDep,
    p: Caller,
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
    try:
        rows = audit.search(hub.cfg, client=client, dataset=dataset, category=category, action=action, since=since,
                            until=until, limit=limit, before=before, categories=own)
    except OverflowError:
        raise Problem(400, "since/until are out of range") from None
    hub.audit(p, "audit", filters={"client": client, "dataset": dataset, "category": category, "action": action},
              rows=len(rows))
    return json_response({"entries": rows, "next_before": rows[-1]["id"] if len(rows) == limit else None})
