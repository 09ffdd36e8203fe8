"""Serving record pages: the access decision for a caller's query, the audit entry
of every read (served or refused; personal values in its filters masked by
``Hub.audit``), and the page's answer in the chosen format."""
from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response

from cityhub.access import grants
from cityhub.access.clients import Principal
from cityhub.api import formats
from cityhub.api.deps import Hub, scope
from cityhub.api.problems import Problem, status_of
from cityhub.api.responses import json_response
from cityhub.core.errors import CityHubError
from cityhub.declarations.catalogue import Category
from cityhub.declarations.contracts import Contract
from cityhub.read import records
from cityhub.read.filters import parse_filters

FILTER_DOC = (" Filter on the contract's filterable fields with `field=value`, `field=in:a,b`, "
              "`field=ge:2026-01-01` (also gt, lt, le, ne); values are typed per field and passed as parameters.")


def dataset(hub: Hub, name: str) -> tuple[Contract, Category]:
    """A dataset the catalogue serves, or 404 (the quarantine is never served)."""
    c = hub.decl.contracts.get(name)
    cat = hub.catalogue().category_of(name)
    if c is None or cat is None or name == "quarantine":
        raise Problem(404, f"no dataset {name!r}; see GET /v1/catalog for the datasets you may read")
    return c, cat


def query(hub: Hub, request: Request, p: Principal, action: str, name: str, region: str | None,
          fields: str | None, order: str = "asc", sort: str = "lake"
          ) -> tuple[records.Query, str, Category, grants.Access]:
    """The caller's query on dataset ``name``: its grants decide rows, fields in clear and
    whether it may read at all; the region asked for must lie within that."""
    c, cat = dataset(hub, name)
    try:  # every refusal is audited too
        acc = grants.access(hub.cfg, hub.decl, p, cat, name)
        label, regions = scope(hub, p, region, city_wide=acc.regions is None)
        filters = parse_filters(c, list(request.query_params.multi_items()), acc.unmasked)
    except (CityHubError, Problem) as e:
        hub.audit(p, action, dataset=name, category=cat.id,
                  filters={"region": region, "query": request.query_params.multi_items()}, status=status_of(e))
        raise
    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    q = records.Query(name, regions=regions, fields=wanted, filters=filters, unmasked=acc.unmasked,
                      descending=order == "desc", sort=sort)
    return q, label, cat, acc


def audit_filters(q: records.Query, label: str, fmt: str, **more) -> dict:
    return {"region": label, "fields": q.fields, "format": fmt, "order": "desc" if q.descending else "asc",
            "where": [[f.field, f.op, [str(v) for v in f.values]] for f in q.filters],
            "unmasked": sorted(q.unmasked), **more}


def audited(hub: Hub, p: Principal | None, action: str, cat: Category, filters: dict,
            read: Callable[..., records.Page], q: records.Query, **kw) -> records.Page:
    """Run a page read and audit it, refused or served. Data routes are plain
    functions: FastAPI runs them in its thread pool, so their database and DuckDB
    work never blocks the event loop."""
    try:
        page = read(hub.snapshots, q, **kw)
    except CityHubError as e:
        hub.audit(p, action, dataset=q.dataset, category=cat.id, filters=filters, status=status_of(e))
        raise
    hub.audit(p, action, dataset=q.dataset, category=cat.id, filters=filters, rows=page.rows.num_rows)
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
