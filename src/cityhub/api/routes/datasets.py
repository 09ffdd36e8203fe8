"""Records of a dataset: pages, incremental changes, bulk export. Grants, region
scoping and masking decide every answer alike; every read is audited.

One operation per dataset and route (``/v1/datasets/camera_status/records``, ...), so
that the spec gives each its record model and its filters, derived from the contract
(``cityhub.api.record_models``); a dataset the catalogue does not serve is a 404."""
from __future__ import annotations

import inspect
import typing
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from cityhub.api import formats, pages
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import Bearer, Hub, HubDep, principal_of
from cityhub.api.limits import rate_limit
from cityhub.api.problems import Problem
from cityhub.api.record_models import filter_parameters, models
from cityhub.api.spec import DATA, problems
from cityhub.declarations.contracts import Contract
from cityhub.read import records

Format = Annotated[str | None, Query(pattern=r"^(json|csv|arrow)$",
                                     description="json (default), csv or arrow; or send an Accept header")]
Order = Annotated[str, Query(pattern=r"^(asc|desc)$", description="ascending or descending")]
Sort = Annotated[str, Query(pattern=r"^(lake|key)$",
                            description="lake: the lake's order (region, time, then the key), fast; key: the key")]
Region = Annotated[str | None, Query(pattern=r"^\d{6}$", description="county or city code")]
Fields = Annotated[str | None, Query(max_length=2000, description="comma-separated field names")]
Limit = Annotated[int, Query(ge=1, le=10_000, description="rows per page (the hub may cap it lower)")]
Cursor = Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")]
Since = Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous call")]
ExportFormat = Annotated[str | None, Query(pattern=r"^(parquet|arrow|csv)$",
                                           description="parquet (default), arrow or csv; or send an Accept header")]
TABLES = {"text/csv": {"schema": {"type": "string"}},
          formats.ARROW: {"schema": {"type": "string", "format": "binary"}}}
"""The page formats beside JSON: a table without an envelope (the page's facts are in headers)."""

RECORDS_DOC = ("Keyset pages pinned to the snapshot of the first page, in the lake's order (region, then its time "
               "field for most datasets), ties broken by the key." + pages.FILTER_DOC)
CHANGES_DOC = (
    "What changed in your view of the dataset (your region scope and filters) since `since`; without `since`: "
    "everything so far (a full copy). A change is an **upsert** (a row present now that was not, identically, "
    "present then: new, or corrected) or a **delete** (a tombstone: a key present then that is absent now, "
    "because the row was removed, or moved out of your region or filters). Apply both on the dataset's key "
    "(`key` in JSON, the `X-Key` header): insert-or-replace the upserts, delete the tombstones' keys; within one "
    "change set a key is either upserted or deleted, so the order you apply them in does not matter. A compaction "
    "of the lake, which rewrites files with the same rows, brings nothing. While `has_more`, call again at once "
    "with `next_cursor` (the pages are pinned to the two snapshots); when done, keep `next_cursor` as the next "
    "`since`.\n\n"
    "How tombstones travel: **JSON**: `records` holds the upserted rows (`count` of them) and `deleted` the "
    "tombstones, each an object of the key's fields; **CSV and Arrow**: one table with a first column `op` "
    "(`upsert` or `delete`); a `delete` row carries the key's fields and nulls elsewhere (empty fields in CSV). "
    "Tombstones are scoped and masked like rows: you "
    "only ever receive keys of rows you could read." + pages.FILTER_DOC)
EXPORT_DOC = ("Parquet (default), Arrow IPC stream or CSV, streamed; the same grants, scoping and masking as "
              "pages." + pages.FILTER_DOC)
RecordsAudit = Annotated[AuditEntry, audited("records", caller="route")]
ChangesAudit = Annotated[AuditEntry, audited("changes", caller="route")]
ExportAudit = Annotated[AuditEntry, audited("export", caller="route")]


def _records(name: str):
    async def dataset_records(hub: HubDep, creds: Bearer, request: Request, entry: RecordsAudit,
                              region: Region = None, limit: Limit = 1000, cursor: Cursor = None,
                              fields: Fields = None, order: Order = "asc", sort: Sort = "lake",
                              format: Format = None):
        def work(memory_only: bool) -> Response:
            p = principal_of(hub, creds)
            fmt = formats.negotiate(format, request.headers.get("accept"), ("json", "csv", "arrow"))
            q, label, acc = pages.query(hub, request, entry, p, name, region, fields, order, sort)
            lim = min(limit, hub.cfg.max_page)
            filters = pages.audit_filters(q, label, fmt, limit=lim, cursor=bool(cursor), grants=list(acc.grants))
            page = pages.read(hub, entry, records.read, q, filters, limit=lim, cursor=cursor, memory_only=memory_only)
            return pages.page_response(hub, page, fmt, {"dataset": name, "region": label})
        return await pages.answer(hub, work)
    return dataset_records


def _changes(name: str):
    def dataset_changes(hub: HubDep, creds: Bearer, request: Request, entry: ChangesAudit,
                        since: Since = None, region: Region = None, limit: Limit = 1000, fields: Fields = None,
                        format: Format = None):
        p = principal_of(hub, creds)
        fmt = formats.negotiate(format, request.headers.get("accept"), ("json", "csv", "arrow"))
        q, label, acc = pages.query(hub, request, entry, p, name, region, fields)
        limit = min(limit, hub.cfg.max_page)
        filters = pages.audit_filters(q, label, fmt, limit=limit, since=bool(since), grants=list(acc.grants))
        page = pages.read(hub, entry, records.changes, q, filters, limit=limit, since=since)
        key = list(hub.decl.contract(name).key)
        if fmt == "json":  # upserts as records, tombstones as a list of keys
            upserts, deleted = records.split_changes(page.rows, key)
            page = replace(page, rows=upserts, extra={**page.extra, "deleted": formats.rows(deleted)})
        return pages.page_response(hub, page, fmt, {"dataset": name, "region": label, "key": key})
    return dataset_changes


def _export(name: str):
    def dataset_export(hub: HubDep, creds: Bearer, request: Request, entry: ExportAudit,
                       region: Region = None, fields: Fields = None, order: Order = "asc", sort: Sort = "lake",
                       format: ExportFormat = None):
        p = principal_of(hub, creds)
        fmt = formats.negotiate(format, request.headers.get("accept"), ("parquet", "arrow", "csv"))
        q, label, acc = pages.query(hub, request, entry, p, name, region, fields, order, sort)
        filters = pages.audit_filters(q, label, fmt, grants=list(acc.grants))
        return pages.export(hub, entry, q, filters, fmt, f"{name}-{label}")
    return dataset_export


def served(hub: Hub) -> list[Contract]:
    """The datasets the catalogue serves as the app starts: the ones the spec describes.
    Whether one is served is decided per request, so a dataset a category names later is
    served too, by the routes that take its name from the path (not in the spec)."""
    cat = hub.catalogue()
    return [c for name, c in sorted(hub.decl.contracts.items())
            if name != "quarantine" and cat.category_of(name) is not None]


def router_for(hub: Hub) -> APIRouter:
    """The data routes of every dataset served, and the same routes by name for the rest."""
    r = APIRouter(tags=["data"], dependencies=[Depends(rate_limit)])
    binary = {"schema": {"type": "string", "format": "binary"}}
    for c in served(hub):
        record, page, changes = models(c)
        extra = {"parameters": filter_parameters(c)}
        base = f"/v1/datasets/{c.name}"
        r.add_api_route(f"{base}/records", _records(c.name), methods=["GET"], operation_id=f"{c.name}_records",
                        summary=f"Records of {c.name} ({c.title}), one page at a time", description=RECORDS_DOC,
                        response_model=page, openapi_extra=extra,
                        responses={200: {"content": TABLES, "headers": pages.PAGE_HEADERS}, **problems(*DATA)})
        r.add_api_route(f"{base}/changes", _changes(c.name), methods=["GET"], operation_id=f"{c.name}_changes",
                        summary=f"Upserts and deletes of {c.name} since a cursor (incremental sync)",
                        description=CHANGES_DOC, response_model=changes, openapi_extra=extra,
                        responses={200: {"content": TABLES, "headers": pages.PAGE_HEADERS}, **problems(*DATA)})
        r.add_api_route(f"{base}/export", _export(c.name), methods=["GET"], operation_id=f"{c.name}_export",
                        summary=f"Bulk download of {c.name}: every row at one snapshot", description=EXPORT_DOC,
                        openapi_extra=extra, response_class=Response,
                        responses={200: {"content": {formats.PARQUET: binary, formats.ARROW: binary,
                                                     "text/csv": {"schema": {"type": "string"}}},
                                         "headers": {"X-Snapshot-Id": pages.PAGE_HEADERS["X-Snapshot-Id"]}},
                                   **problems(*DATA)})
    for path, make in (("records", _records), ("changes", _changes), ("export", _export)):
        r.add_api_route(f"/v1/datasets/{{dataset}}/{path}", by_path(make), methods=["GET"], include_in_schema=False)
    return r


def by_path(endpoint_for):
    """The route ``endpoint_for(name)`` makes, taking the dataset's name from the path."""
    template = endpoint_for("")
    hints = typing.get_type_hints(template, include_extras=True)  # in the template's module, not this one
    params = [p.replace(annotation=hints[p.name]) for p in inspect.signature(template).parameters.values()]

    if inspect.iscoroutinefunction(template):
        async def endpoint(dataset: str, **kw):
            return await endpoint_for(dataset)(**kw)
    else:
        def endpoint(dataset: str, **kw):
            return endpoint_for(dataset)(**kw)
    endpoint.__signature__ = inspect.Signature(
        [inspect.Parameter("dataset", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str), *params])
    return endpoint
