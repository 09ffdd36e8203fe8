"""Open data: the open categories and their public fields, without a token for
unconditionally open ones."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cityhub.access import grants
from cityhub.access.audit import OPEN_RECORDS
from cityhub.api.deps import HubDep, MaybeCaller, scope
from cityhub.api.limits import rate_limit
from cityhub.api.pages import audit_filters, audited, page_response
from cityhub.api.problems import Problem, status_of
from cityhub.api.responses import json_response
from cityhub.api.routes.catalogue import category_json
from cityhub.core.errors import CityHubError
from cityhub.read import records
from cityhub.read.filters import parse_filters

router = APIRouter(tags=["open data"])



@router.get("/v1/open/catalog", summary="Open data categories (no token needed)")
def open_catalog(hub: HubDep, p: MaybeCaller):
    cat = hub.catalogue()
    out = [{**{k: v for k, v in category_json(hub, cat, c).items() if k != "legal_basis"},
            "fields": [f for f in c.field_list(hub.decl.contracts) if f["sensitivity"] == "public"]}
           for c in cat.categories.values() if c.should_open and c.should_share]
    hub.audit(p, "open.catalog", rows=len(out))
    return json_response({"categories": out})


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
    c = hub.decl.contracts.get(dataset)
    cat = hub.catalogue().category_of(dataset)
    public = [f.name for f in c.fields if f.sensitivity == "public"] if c else []
    if c is None or cat is None or not cat.should_open or not cat.should_share or not public:
        raise Problem(404, f"no open dataset {dataset!r}; see GET /v1/open/catalog")
    try:
        if cat.open_type == "conditional" or cat.share_type == "conditional":
            if p is None:
                raise Problem(401, f"category {cat.id} is open on condition: register for a client and send "
                                   "its token", {"WWW-Authenticate": "Bearer"})
            if cat.share_type == "conditional":  # the same decision as /v1/datasets: a live grant
                grants.access(hub.cfg, hub.decl, p, cat, dataset)
        wanted = [f.strip() for f in (fields or "").split(",") if f.strip()] or public
        closed = [f for f in wanted if f not in public]
        if closed:
            raise Problem(400, f"field(s) {', '.join(closed)} are not open data; open fields: {', '.join(public)}")
        label, regions = scope(hub, None, region)
        where = parse_filters(c, list(request.query_params.multi_items()), allowed=set(public))
    except (CityHubError, Problem) as e:
        hub.audit(p, OPEN_RECORDS, dataset=dataset, category=cat.id,
                  filters={"query": str(request.query_params)[:500]}, status=status_of(e))
        raise
    limit = min(limit, hub.cfg.max_page)
    q = records.Query(dataset, regions=regions, fields=wanted, filters=where)
    filters = audit_filters(q, label, "json", limit=limit, cursor=bool(cursor))
    page = audited(hub, p, OPEN_RECORDS, cat, filters, records.read, q, limit=limit, cursor=cursor)
    return page_response(hub, page, "json", {"dataset": dataset, "region": label})
