"""Serving a dataset's rows: the access decision for a caller's query, the page read
and its audit entry (written in the route's own thread: one thread hop per page), the
answer in the chosen format, and the streamed export with its two entries. The data
routes (``routes.datasets``, ``routes.open_data``) are thin shells over these."""
from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from cityhub.access import grants
from cityhub.access.clients import Principal
from cityhub.api import formats
from cityhub.api.auditing import AuditEntry
from cityhub.api.deps import Hub, scope
from cityhub.api.problems import Problem
from cityhub.api.responses import json_response
from cityhub.declarations.catalogue import Category
from cityhub.declarations.contracts import Contract
from cityhub.read import records
from cityhub.read.filters import parse_filters
from cityhub.read.snapshots import NotInMemory

FILTER_DOC = (" Filter on the contract's filterable fields with `field=value`, `field=in:a,b`, "
              "`field=ge:2026-01-01` (also gt, lt, le, ne); values are typed per field and passed as parameters.")
PAGE_HEADERS = {
    "X-Snapshot-Id": {"description": "the snapshot the page was read at", "schema": {"type": "string"}},
    "X-Has-More": {"description": "true or false", "schema": {"type": "string", "enum": ["true", "false"]}},
    "X-Next-Cursor": {"description": "the next page's cursor (absent on the last page)", "schema": {"type": "string"}},
    "X-Key": {"description": "the dataset's key fields, comma-separated", "schema": {"type": "string"}},
}
"""Headers of every page, in every format (CSV and Arrow have no envelope)."""


def dataset(hub: Hub, name: str) -> tuple[Contract, Category]:
    """A dataset the catalogue serves, or 404 (the quarantine is never served)."""
    c = hub.decl.contracts.get(name)
    cat = hub.catalogue().category_of(name)
    if c is None or cat is None or name == "quarantine":
        raise Problem(404, f"no dataset {name!r}; see GET /v1/catalog for the datasets you may read")
    return c, cat


def query(hub: Hub, request: Request, entry: AuditEntry, p: Principal, name: str, region: str | None,
          fields: str | None, order: str = "asc", sort: str = "lake") -> tuple[records.Query, str, grants.Access]:
    """The caller's query on dataset ``name``: its grants decide rows, fields in clear and
    whether it may read at all; the region asked for must lie within that. A refusal
    raises (the entry's dependency audits it)."""
    entry.note(caller=p, dataset=name, filters={"region": region, "query": request.query_params.multi_items()})
    c, cat = dataset(hub, name)
    entry.note(category=cat.id)
    acc = grants.access(hub.cfg, hub.decl, p, cat, name)
    label, regions = scope(hub, p, region, city_wide=acc.regions is None)
    filters = parse_filters(c, list(request.query_params.multi_items()), acc.unmasked)
    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    q = records.Query(name, regions=regions, fields=wanted, filters=filters, unmasked=acc.unmasked,
                      descending=order == "desc", sort=sort)
    return q, label, acc


def audit_filters(q: records.Query, label: str, fmt: str, **more) -> dict:
    return {"region": label, "fields": q.fields, "format": fmt, "order": "desc" if q.descending else "asc",
            "where": [[f.field, f.op, [str(v) for v in f.values]] for f in q.filters],
            "unmasked": sorted(q.unmasked), **more}


async def answer(hub: Hub, work: Callable[[bool], Response]) -> Response:
    """``work(memory_only)`` answers a page request. With a local hub DB, first in the
    event loop from memory alone (``records.NotInMemory`` if it cannot: nothing served or
    audited yet), else in a worker thread, where reading the catalogue, the lake's
    metadata or files, or a hub DB server blocks no one. A page from memory is ~1 ms of
    Python holding the GIL: the hop to a thread and back cost a quarter of it on top."""
    if hub.local_db:
        try:
            return work(True)
        except NotInMemory:
            pass
    return await run_in_threadpool(work, False)


def read(hub: Hub, entry: AuditEntry, read_page: Callable[..., records.Page], q: records.Query,
         filters: dict, **kw) -> records.Page:
    """Read a page and write its audit entry, in the caller's thread; a failed read
    raises and is audited by the entry's dependency."""
    entry.note(filters=filters)
    page = read_page(hub.snapshots, q, **kw)
    entry.write(rows=page.rows.num_rows)
    return page


def page_response(hub: Hub, page: records.Page, fmt: str, meta: dict) -> Response:
    headers = {"X-Snapshot-Id": str(page.snapshot_id), "X-Has-More": str(page.has_more).lower(),
               "X-Key": ",".join(hub.decl.contract(meta["dataset"]).key)}
    if page.next_cursor:
        headers["X-Next-Cursor"] = page.next_cursor
    if fmt == "json":
        return json_response({**meta, "snapshot_id": page.snapshot_id, "count": page.rows.num_rows,
                              "next_cursor": page.next_cursor, "has_more": page.has_more, **page.extra,
                              "records": formats.rows(page.rows)}, headers=headers)
    return formats.table_response(page.rows, fmt, headers)


def export(hub: Hub, entry: AuditEntry, q: records.Query, filters: dict, fmt: str, stem: str) -> Response:
    """Every row of ``q`` at one snapshot, streamed; one audit entry as the download
    starts (``<action>.start``: a crash mid-stream still leaves a trace), one when it
    ends (status 499 if it was cut off)."""
    entry.note(filters=filters)
    ex = records.Export(hub.snapshots, q)
    pinned = {**filters, "snapshot_id": ex.snapshot_id}
    entry.write(action=f"{entry.action}.start", filters=pinned)

    def done(rows: int, complete: bool) -> None:
        entry.write(filters={**pinned, "complete": complete}, rows=rows, status=200 if complete else 499)
    return formats.export_response(ex, fmt, stem, done)
