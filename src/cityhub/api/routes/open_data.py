"""Open data: the open categories and their public fields, without a token for
unconditionally open ones."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from cityhub.access import policies
from cityhub.access.audit import OPEN_EXPORT, OPEN_RECORDS
from cityhub.api import formats, pages, spec
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import Hub, HubDep, scope
from cityhub.api.limits import rate_limit
from cityhub.api.problems import Problem
from cityhub.api.record_models import filter_parameters, open_models
from cityhub.api.routes.catalogue import OpenCatalogOut, category_json
from cityhub.api.routes.datasets import by_path
from cityhub.api.spec import problems
from cityhub.core.errors import NotFound
from cityhub.declarations.contracts import Contract
from cityhub.read import records
from cityhub.read.filters import parse_filters

router = APIRouter(tags=["open data"])

@router.get("/v1/open/catalog", response_model=OpenCatalogOut, responses=problems(401),
            summary="Open data categories (no token needed)")
def open_catalog(hub: HubDep, entry: Annotated[AuditEntry, audited("open.catalog", caller="optional")]):
    cat = hub.catalogue()
    out = [{**{k: v for k, v in category_json(hub, cat, c).items() if k != "legal_basis"},
            "fields": [f for f in c.field_list(hub.decl.contracts) if f["sensitivity"] == "public"]}
           for c in cat.categories.values() if c.should_open and c.should_share]
    entry.note(rows=len(out))
    return {"categories": out}


def open_query(hub: Hub, request: Request, entry: AuditEntry, dataset: str, region: str | None,
               fields: str | None) -> tuple[records.Query, str]:
    """An open-data query on ``dataset``: unconditionally open categories need no token,
    conditionally open ones any registered client's token (and a live grant where the
    category is shared on condition: ``cityhub.access.policies``); public fields only.
    A refusal raises (the entry's dependency audits it)."""
    entry.note(dataset=dataset, filters={"query": request.query_params.multi_items()})
    od = policies.open_dataset(hub.decl, hub.catalogue(), dataset)
    c, public = od.contract, od.public
    entry.note(category=od.category.id)
    policies.open_condition(hub.cfg, hub.decl, entry.caller, od)
    wanted = [f.strip() for f in (fields or "").split(",") if f.strip()] or public
    closed = [f for f in wanted if f not in public]
    if closed:
        raise Problem(400, f"field(s) {', '.join(closed)} are not open data; open fields: {', '.join(public)}")
    label, regions = scope(hub, None, region)
    where = parse_filters(c, list(request.query_params.multi_items()), allowed=set(public))
    return records.Query(dataset, regions=regions, fields=wanted, filters=where), label


Region = Annotated[str | None, Query(pattern=r"^\d{6}$", description="county or city code")]
Fields = Annotated[str | None, Query(max_length=2000, description="comma-separated field names (public ones)")]
OpenFormat = Annotated[str | None, Query(pattern=r"^(csv|parquet|arrow)$",
                                         description="csv (default), parquet or arrow; or send an Accept header")]
RecordsAudit = Annotated[AuditEntry, audited(OPEN_RECORDS, caller="optional")]
ExportAudit = Annotated[AuditEntry, audited(OPEN_EXPORT, caller="optional")]
OPEN_DOC = ("Unconditionally open categories need no token; conditionally open ones need any registered client's "
            "token (and a live grant where the category is shared on condition). Personal and internal fields are "
            "never part of open data (not masked: left out).")


def _records(name: str):
    async def open_records(hub: HubDep, request: Request, entry: RecordsAudit, region: Region = None,
                           limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                           cursor: Annotated[str | None, Query(max_length=2000,
                                                               description="next_cursor of the previous page")] = None,
                           fields: Fields = None):
        def work(memory_only: bool) -> Response:
            q, label = open_query(hub, request, entry, name, region, fields)
            lim = min(limit, hub.cfg.max_page)
            filters = pages.audit_filters(q, label, "json", limit=lim, cursor=bool(cursor))
            page = pages.read(hub, entry, records.read, q, filters, limit=lim, cursor=cursor, memory_only=memory_only)
            return pages.page_response(hub, page, "json", {"dataset": name, "region": label})
        return await pages.answer(hub, work)
    return open_records


def _export(name: str):
    def open_export(hub: HubDep, request: Request, entry: ExportAudit, region: Region = None,
                    fields: Fields = None, format: OpenFormat = None):
        fmt = formats.negotiate(format, request.headers.get("accept"), ("csv", "parquet", "arrow"))
        q, label = open_query(hub, request, entry, name, region, fields)
        return pages.export(hub, entry, q, pages.audit_filters(q, label, fmt), fmt, f"{name}-{label}")
    return open_export


def opened(hub: Hub) -> list[tuple[Contract, list[str]]]:
    """The open datasets as the app starts, with their public fields: the ones the spec
    describes (a dataset opened later is served by the routes that take its name from
    the path)."""
    out = []
    for name in sorted(hub.decl.contracts):
        try:
            od = policies.open_dataset(hub.decl, hub.catalogue(), name)
        except NotFound:
            continue
        out.append((od.contract, od.public))
    return out


def router_for(hub: Hub) -> APIRouter:
    """The open catalogue, and the open records and export of every open dataset."""
    r = APIRouter(tags=["open data"])
    r.include_router(router)
    limited = [Depends(rate_limit)]
    binary = {"schema": {"type": "string", "format": "binary"}}
    for c, public in opened(hub):
        base = f"/v1/open/datasets/{c.name}"
        extra = {"parameters": filter_parameters(c, set(public))}
        r.add_api_route(f"{base}/records", _records(c.name), methods=["GET"], dependencies=limited,
                        operation_id=f"open_{c.name}_records", response_model=open_models(c, public),
                        summary=f"Open data: records of {c.name} ({c.title}); public fields only",
                        description=OPEN_DOC + pages.FILTER_DOC, openapi_extra=extra,
                        responses={200: {"headers": pages.PAGE_HEADERS}, **problems(*spec.DATA)})
        r.add_api_route(f"{base}/export", _export(c.name), methods=["GET"], dependencies=limited,
                        operation_id=f"open_{c.name}_export", response_class=Response,
                        summary=f"Open data: every row of {c.name} at one snapshot; public fields only",
                        description="CSV (default), Parquet or Arrow IPC stream, streamed. " + OPEN_DOC
                                    + pages.FILTER_DOC, openapi_extra=extra,
                        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                                     formats.PARQUET: binary, formats.ARROW: binary},
                                         "headers": {"X-Snapshot-Id": pages.PAGE_HEADERS["X-Snapshot-Id"]}},
                                   **problems(*spec.DATA)})
    for path, make in (("records", _records), ("export", _export)):
        r.add_api_route(f"/v1/open/datasets/{{dataset}}/{path}", by_path(make), methods=["GET"],
                        dependencies=limited, include_in_schema=False)
    return r
