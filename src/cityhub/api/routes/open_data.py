"""Open data: the open categories and their public fields, without a token for
unconditionally open ones."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cityhub.access import policies
from cityhub.access.audit import OPEN_RECORDS
from cityhub.access.clients import Principal
from cityhub.api import formats
from cityhub.api.deps import Hub, HubDep, MaybeCaller, scope
from cityhub.api.limits import rate_limit
from cityhub.api.pages import audit_filters, audited, page_response
from cityhub.api.problems import Problem, status_of
from cityhub.api.responses import json_response
from cityhub.api.routes.catalogue import category_json
from cityhub.core.errors import CityHubError
from cityhub.declarations.catalogue import Category
from cityhub.read import records
from cityhub.read.filters import parse_filters

router = APIRouter(tags=["open data"])

OPEN_EXPORT = "open.export"
"""Audit action of the open export (``.start`` as the download starts)."""



@router.get("/v1/open/catalog", summary="Open data categories (no token needed)")
def open_catalog(hub: HubDep, p: MaybeCaller):
    cat = hub.catalogue()
    out = [{**{k: v for k, v in category_json(hub, cat, c).items() if k != "legal_basis"},
            "fields": [f for f in c.field_list(hub.decl.contracts) if f["sensitivity"] == "public"]}
           for c in cat.categories.values() if c.should_open and c.should_share]
    hub.audit(p, "open.catalog", rows=len(out))
    return json_response({"categories": out})


def open_query(hub: Hub, p: Principal | None, request: Request, action: str, dataset: str, region: str | None,
               fields: str | None) -> tuple[records.Query, str, Category]:
    """An open-data query on ``dataset``: unconditionally open categories need no token,
    conditionally open ones any registered client's token (and a live grant where the
    category is shared on condition: ``cityhub.access.policies``); public fields only.
    Refusals are audited."""
    od = policies.open_dataset(hub.decl, hub.catalogue(), dataset)
    c, cat, public = od.contract, od.category, od.public
    try:
        policies.open_condition(hub.cfg, hub.decl, p, od)
        wanted = [f.strip() for f in (fields or "").split(",") if f.strip()] or public
        closed = [f for f in wanted if f not in public]
        if closed:
            raise Problem(400, f"field(s) {', '.join(closed)} are not open data; open fields: {', '.join(public)}")
        label, regions = scope(hub, None, region)
        where = parse_filters(c, list(request.query_params.multi_items()), allowed=set(public))
    except (CityHubError, Problem) as e:
        hub.audit(p, action, dataset=dataset, category=cat.id,
                  filters={"query": request.query_params.multi_items()}, status=status_of(e))
        raise
    return records.Query(dataset, regions=regions, fields=wanted, filters=where), label, cat


@router.get("/v1/open/datasets/{dataset}/records",
            summary="Open data: records of an open category's dataset; public fields only",
            dependencies=[Depends(rate_limit)])
def open_records(
    dataset: str, hub: HubDep, p: MaybeCaller, request: Request,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="county or city code")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
    fields: Annotated[str | None, Query(max_length=2000, description="comma-separated field names")] = None,
):
    """Unconditionally open categories need no token; conditionally open ones need
    any registered client's token. Personal and internal fields are never part of
    open data (not masked: left out)."""
    q, label, cat = open_query(hub, p, request, OPEN_RECORDS, dataset, region, fields)
    limit = min(limit, hub.cfg.max_page)
    filters = audit_filters(q, label, "json", limit=limit, cursor=bool(cursor))
    page = audited(hub, p, OPEN_RECORDS, cat, filters, records.read, q, limit=limit, cursor=cursor)
    return page_response(hub, page, "json", {"dataset": dataset, "region": label})


@router.get("/v1/open/datasets/{dataset}/export",
            summary="Open data: every row of an open category's dataset at one snapshot; public fields only",
            description="CSV (default), Parquet or Arrow IPC stream, streamed; the same conditions as the open "
                        "records.",
            dependencies=[Depends(rate_limit)],
            responses={200: {"content": {"text/csv": {}, formats.PARQUET: {}, formats.ARROW: {}}}})
def open_export(
    dataset: str, hub: HubDep, p: MaybeCaller, request: Request,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="county or city code")] = None,
    fields: Annotated[str | None, Query(max_length=2000, description="comma-separated field names")] = None,
    format: Annotated[str | None, Query(pattern=r"^(csv|parquet|arrow)$",
                                        description="csv (default), parquet or arrow; or send an Accept header")]
    = None,
):
    fmt = formats.negotiate(format, request.headers.get("accept"), ("csv", "parquet", "arrow"))
    q, label, cat = open_query(hub, p, request, OPEN_EXPORT, dataset, region, fields)
    filters = audit_filters(q, label, fmt)
    try:
        export = records.Export(hub.snapshots, q)
    except CityHubError as e:
        hub.audit(p, OPEN_EXPORT, dataset=dataset, category=cat.id, filters=filters, status=status_of(e))
        raise
    hub.audit(p, f"{OPEN_EXPORT}.start", dataset=dataset, category=cat.id,
              filters={**filters, "snapshot_id": export.snapshot_id})

    def done(rows: int, complete: bool) -> None:
        hub.audit(p, OPEN_EXPORT, dataset=dataset, category=cat.id,
                  filters={**filters, "snapshot_id": export.snapshot_id, "complete": complete}, rows=rows,
                  status=200 if complete else 499)
    return formats.export_response(export, fmt, f"{dataset}-{label}", done)
