"""The quarantine, for the admins and the departments that own the data: list and read
refused items (personal data masked but for the owning department), release them back
through the landing once fixed."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from cityhub.access import policies
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import HubDep
from cityhub.api.fields import CstTime
from cityhub.api.spec import problems
from cityhub.pipelines import quarantine

router = APIRouter(tags=["quarantine"])
ListAudit = Annotated[AuditEntry, audited("quarantine.list")]
ShowAudit = Annotated[AuditEntry, audited("quarantine.show")]
ReleaseAudit = Annotated[AuditEntry, audited("quarantine.release")]
ItemId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


def _datasets(hub: HubDep, entry: ListAudit) -> list[str] | None:
    return policies.quarantine_datasets(hub.catalogue(), entry.caller)


class QuarantinedItem(BaseModel):
    """An input the hub refused, with the reason and the raw item (masked but for the
    department that owns the dataset)."""
    id: str = Field(description="pass to GET /v1/quarantine/{id} and POST /v1/quarantine/release")
    quarantined_at: CstTime
    connector: str
    dataset: str
    batch_id: str
    source: str = Field(description="file, URL page or topic/partition/offset (and line or item)")
    record_key: str | None
    region: str | None
    reason: str = Field(description="the rules that failed: 'code: message; ...'")
    raw: str | None = Field(description="the item as received")
    masked: bool = Field(description="whether personal data in `raw` is masked")


class QuarantinePage(BaseModel):
    items: list[QuarantinedItem] = Field(description="newest first")
    next_after: str | None = Field(description="pass as `after` for the next page (none: the last page)")


class Release(BaseModel):
    ids: list[ItemId] = Field(min_length=1, max_length=1000, description="items to release")
    raw: str | None = Field(None, max_length=10_000_000,
                            description="the fixed raw text of the one item released (default: as quarantined)")
    as_of: date | None = Field(None, description="as-of day of snapshot datasets (default: the day it was quarantined)")


class Released(BaseModel):
    landed: list[str]
    already_landed: list[str]
    refused: dict[str, list[str]] = Field(description="item -> the reasons it was refused again (re-quarantined)")


def _out(hub, p, it: quarantine.Item) -> dict:
    clear = policies.quarantine_unmasked(hub.catalogue(), p, it.dataset)
    shown = it if clear else quarantine.masked(it, hub.decl.contracts.get(it.dataset))
    return {**shown.__dict__, "masked": not clear}


@router.get("/v1/quarantine", response_model=QuarantinePage, responses=problems(400, 401, 403),
            summary="Quarantined items, newest first",
            description="Admins see every item; a department the items of its own categories' datasets, as sent. "
                        "Personal data in raw items is masked for anyone but the owning department.")
def quarantine_list(
    hub: HubDep, entry: ListAudit, own: Annotated[list[str] | None, Depends(_datasets)],
    connector: Annotated[str | None, Query(max_length=64)] = None,
    dataset: Annotated[str | None, Query(max_length=64)] = None,
    reason: Annotated[str | None, Query(max_length=200, description="reasons starting with this (a rule code)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$", description="next_after of the previous page")] = None,
):
    entry.note(dataset=dataset, filters={"connector": connector, "reason": reason, "limit": limit})
    found = quarantine.items(hub.lake, connector=connector, dataset=dataset, reason=reason, datasets=own,
                             limit=limit + 1, after=after)
    entry.note(rows=min(len(found), limit))
    return {"items": [_out(hub, entry.caller, it) for it in found[:limit]],
            "next_after": found[limit - 1].id if len(found) > limit else None}


@router.get("/v1/quarantine/{item_id}", response_model=QuarantinedItem, responses=problems(400, 401, 403, 404),
            summary="One quarantined item")
def quarantine_show(hub: HubDep, entry: ShowAudit, item_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]):
    entry.note(filters={"item": item_id})
    # another department's item is not found: not even its existence is told
    it = quarantine.item(hub.lake, item_id, policies.quarantine_datasets(hub.catalogue(), entry.caller))
    entry.note(dataset=it.dataset, rows=1)
    return _out(hub, entry.caller, it)


@router.post("/v1/quarantine/release", response_model=Released, responses=problems(400, 401, 403, 404),
             summary="Send quarantined items back through the landing",
             description="Each lands, or is quarantined again with its new reason; either way it leaves the "
                         "quarantine under its old one. Items of one batch refused for one reason without a record "
                         "key (whole pages) are released together.")
def quarantine_release(hub: HubDep, entry: ReleaseAudit, body: Release):
    own = policies.quarantine_datasets(hub.catalogue(), entry.caller)
    entry.note(filters={"items": body.ids, "fixed": body.raw is not None})
    out = quarantine.release(hub.lake, body.ids, raw=body.raw, as_of=body.as_of, datasets=own)
    entry.note(rows=len(out.landed))
    return out.__dict__
