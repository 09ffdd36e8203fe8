"""FastAPI application: thin routes over ``hub.records``, ``hub.catalogue``,
``pipelines.indicators``, ``hub.clients`` and ``hub.audit``."""
from __future__ import annotations

import gc
import json
from contextlib import asynccontextmanager
from datetime import datetime

import anyio.to_thread

import orjson
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub import audit, catalogue, grants, records
from hub.api import formats
from hub.api.limits import limiter as rate_limiter, rate_limit
from hub.api.problems import Problem, install
from hub.catalogue import Catalogue, Category, CatalogueError, Department
from hub.clients import AuthError, Principal, authenticate, exchange
from hub.config import settings
from hub.contracts import contracts
from hub.lake import default_lake
from hub.regions import city as get_city
from hub import scoring
from hub.indicators import indicator
from pipelines.indicators import EvidenceError, evidence, latest
from pipelines.sharing import OPEN_ACTION

@asynccontextmanager
async def _lifespan(_app: FastAPI):
    """Per worker, before the first request: few threads for the sync routes (a page
    is ~1 ms of Python holding the GIL; 40 threads contending for it cost more CPU
    than the pages, and stretched the slowest 1%), and the objects of start-up
    frozen out of the garbage collector's full passes."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings().api_threads
    rate_limiter(settings().rate_limit_storage)  # a storage that cannot work fails here, not per request
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)  # a page allocates thousands of small objects: collect less often
    yield


app = FastAPI(
    lifespan=_lifespan,
    title="CityHub API",
    version="1",
    description="City-brain data-sharing hub: shared sector data for county apps and "
                "DB37/T 3890.1 indicator values with their evidence for the scoring layer.",
)
install(app)
_bearer = HTTPBearer(auto_error=False, description="token from `cityhub clients create`")
_optional_bearer = HTTPBearer(auto_error=False, description="optional: needed only for conditionally open data")
_cache: records.SnapshotCache | None = None


def cache() -> records.SnapshotCache:
    global _cache
    if _cache is None:
        _cache = records.SnapshotCache(default_lake())
    return _cache


def principal(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if creds is None:
        raise Problem(401, "a bearer token is required: Authorization: Bearer <token>",
                      {"WWW-Authenticate": "Bearer"})
    try:
        return authenticate(creds.credentials)
    except AuthError as e:
        raise Problem(401, str(e), {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None


Caller = Annotated[Principal, Depends(principal)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
"""For the data routes, which call ``principal`` in their own thread (their hot path)."""


def maybe_principal(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)]) -> Principal | None:
    return None if creds is None else principal(creds)


MaybeCaller = Annotated[Principal | None, Depends(maybe_principal)]


def admin(p: Caller) -> Principal:
    if p.role != "admin":
        raise Problem(403, f"client {p.name!r} has role {p.role}: managing the catalogue needs the admin role")
    return p


Admin = Annotated[Principal, Depends(admin)]


def _json(obj, status: int = 200, headers: dict | None = None) -> Response:
    # orjson writes dates and naive times as ISO 8601, as the lake keeps them (CST)
    return Response(orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS), status_code=status,
                    media_type="application/json", headers=headers)


def scope(p: Principal | None, region: str | None, city_wide: bool = False) -> tuple[str, list[str] | None]:
    """The region a caller asks for, checked against what it may see, and the
    county codes that region covers. A county reads its own county unless a
    grant makes it ``city_wide``."""
    c = get_city(settings().city)
    if p is not None and p.role == "county" and not city_wide:
        if region and region != p.region:
            raise Problem(403, f"client {p.name!r} is bound to county {p.region} and may not read region {region}")
        return p.region, [p.region]
    if not region:
        return c.code, list(c.counties)
    if region == c.code:
        return region, list(c.counties)
    if region in c.counties:
        return region, [region]
    raise Problem(400, f"region {region!r} is not {c.code} ({c.name}) or one of its counties: "
                       f"{', '.join(c.counties)}")


@app.get("/healthz", tags=["ops"], summary="Liveness and the lake's reachability")
def healthz():
    lake = default_lake()
    return {"status": "ok", "city": settings().city, "tables": len(lake.catalog.list_tables("cityhub"))}


def _category_json(cat: Catalogue, c: Category) -> dict:
    owner = cat.departments.get(c.owner)
    out = {"id": c.id, "name_zh": c.name_zh, "name_en": c.name_en, "owner": c.owner,
           "owner_name_zh": owner.name_zh if owner else None, "share_type": c.share_type,
           "open_type": c.open_type, "update_cycle": c.update_cycle, "credit": c.credit,
           "fed": bool(c.datasets), "legal_basis": c.legal_basis,
           "datasets": [{"id": d, "title": contracts()[d].title, "key": contracts()[d].key} for d in c.datasets],
           "fields": c.field_list()}
    return out


@app.post("/v1/token", tags=["auth"], summary="OAuth2 client credentials: a short-lived bearer token",
          dependencies=[Depends(rate_limit)])
def token(
    request: Request,
    grant_type: Annotated[str, Form(pattern=r"^client_credentials$")],
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
):
    """RFC 6749 section 4.4: the client's id and secret in the form, or as HTTP Basic auth."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic ") and not client_id:
        import base64
        from urllib.parse import unquote

        try:
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            client_id, client_secret = unquote(client_id), unquote(client_secret)
        except ValueError:
            raise Problem(400, "Authorization: Basic must be base64 of client_id:client_secret",
                          error="invalid_request") from None
    if not client_id or not client_secret:
        raise Problem(400, "send client_id and client_secret (form fields or HTTP Basic)", error="invalid_request")
    try:
        tok, ttl = exchange(client_id, client_secret)
    except AuthError as e:
        raise Problem(401, str(e), {"WWW-Authenticate": "Basic"}, error="invalid_client") from None
    return _json({"access_token": tok, "token_type": "Bearer", "expires_in": ttl})


@app.get("/v1/catalog", tags=["catalogue"], summary="Departments and the data categories the caller may see")
def catalog(p: Caller):
    cat = catalogue.current()
    out = [_category_json(cat, c) for c in cat.visible_to(p.role, p.department)]
    audit.record(p, "catalog", rows=len(out))
    return _json({"departments": [d.model_dump() for d in cat.departments.values()], "categories": out})


@app.get("/v1/catalog/categories/{category_id}", tags=["catalogue"], summary="One data category")
def catalog_category(category_id: str, p: Caller):
    cat = catalogue.current()
    c = cat.categories.get(category_id)
    if c is None or c not in cat.visible_to(p.role, p.department):
        raise Problem(404, f"no category {category_id!r} you may see; see GET /v1/catalog")
    audit.record(p, "catalog", category=category_id, rows=1)
    return _json(_category_json(cat, c))


@app.put("/v1/catalog/categories/{category_id}", tags=["catalogue"], status_code=200,
         summary="Create or replace a data category (admin)")
def put_category(category_id: str, body: Category, p: Admin):
    if body.id != category_id:
        raise Problem(400, f"the body's id {body.id!r} is not the path's {category_id!r}")
    try:
        created = catalogue.put_category(body, by=p.name)
    except CatalogueError as e:
        raise Problem(e.status, e.detail) from None
    audit.record(p, "catalog.put", category=category_id, filters={"created": created}, rows=1)
    return _json(_category_json(catalogue.current(0), body), status=201 if created else 200)


@app.delete("/v1/catalog/categories/{category_id}", tags=["catalogue"], status_code=204,
            summary="Remove a data category (admin); its datasets are then no longer served")
def delete_category(category_id: str, p: Admin):
    try:
        catalogue.delete_category(category_id)
    except CatalogueError as e:
        raise Problem(e.status, e.detail) from None
    audit.record(p, "catalog.delete", category=category_id, rows=1)
    return Response(status_code=204)


@app.put("/v1/catalog/departments/{department_id}", tags=["catalogue"],
         summary="Create or replace a department (admin)")
def put_department(department_id: str, body: Department, p: Admin):
    if body.id != department_id:
        raise Problem(400, f"the body's id {body.id!r} is not the path's {department_id!r}")
    created = catalogue.put_department(body)
    audit.record(p, "catalog.put_department", filters={"department": department_id, "created": created}, rows=1)
    return _json(body.model_dump(), status=201 if created else 200)


def _dataset(dataset: str):
    c = contracts().get(dataset)
    cat = catalogue.category_of(dataset)
    if c is None or cat is None or dataset == "quarantine":
        raise Problem(404, f"no dataset {dataset!r}; see GET /v1/catalog for the datasets you may read")
    return c, cat


def _query(request: Request, p: Principal, action: str, dataset: str, region: str | None, fields: str | None,
           order: str = "asc", sort: str = "lake") -> tuple[records.Query, str, object, grants.Access]:
    """The caller's query on ``dataset``: its grants decide rows, fields in clear and
    whether it may read at all; the region asked for must lie within that."""
    c, cat = _dataset(dataset)
    try:  # every refusal is audited too
        acc = grants.access(p, cat, dataset)
        label, regions = scope(p, region, city_wide=acc.regions is None)
        filters = records.parse_filters(c, list(request.query_params.multi_items()), acc.unmasked)
    except (grants.GrantError, records.RecordsError, Problem) as e:
        audit.record(p, action, dataset=dataset, category=cat.id,
                     filters={"region": region, "query": str(request.query_params)[:500]}, status=e.status)
        raise Problem(e.status, e.detail) from None
    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    q = records.Query(dataset, regions=regions, fields=wanted, filters=filters, unmasked=acc.unmasked,
                      descending=order == "desc", sort=sort)
    return q, label, cat, acc


def _audit_filters(q: records.Query, label: str, fmt: str, **more) -> dict:
    return {"region": label, "fields": q.fields, "format": fmt, "order": "desc" if q.descending else "asc",
            "where": [[f.field, f.op, [str(v) for v in f.values]] for f in q.filters],
            "unmasked": sorted(q.unmasked), **more}


def _page_response(page: records.Page, fmt: str, meta: dict) -> Response:
    headers = {"X-Snapshot-Id": str(page.snapshot_id), "X-Has-More": str(page.has_more).lower(),
               "X-Key": ",".join(contracts()[meta["dataset"]].key)}
    if page.next_cursor:
        headers["X-Next-Cursor"] = page.next_cursor
    if fmt == "json":
        return _json({**meta, "snapshot_id": page.snapshot_id, "count": page.rows.num_rows,
                      "next_cursor": page.next_cursor, "has_more": page.has_more, **page.extra,
                      "records": formats.rows(page.rows)}, headers=headers)
    return formats.table_response(page.rows, fmt, headers)


_FORMAT = Annotated[str | None, Query(pattern=r"^(json|csv|arrow)$",
                                      description="json (default), csv or arrow; or send an Accept header")]
_ORDER = Annotated[str, Query(pattern=r"^(asc|desc)$", description="ascending or descending")]
_SORT = Annotated[str, Query(pattern=r"^(lake|key)$",
                             description="lake: the lake's order (region, time, then the key), fast; key: the key")]
_REGION = Annotated[str | None, Query(pattern=r"^\d{6}$", description="county or city code")]
_FIELDS = Annotated[str | None, Query(max_length=2000, description="comma-separated field names")]
_LIMIT = Annotated[int, Query(ge=1, le=10_000)]
_FILTER_DOC = (" Filter on the contract's filterable fields with `field=value`, `field=in:a,b`, "
               "`field=ge:2026-01-01` (also gt, lt, le, ne); values are typed per field and passed as parameters.")


_TABLES = {200: {"content": {"application/json": {}, "text/csv": {}, formats.ARROW: {}}}}


@app.get("/v1/datasets/{dataset}/records", tags=["data"], summary="Records of a dataset, one page at a time",
         description="Keyset pages pinned to the snapshot of the first page, in the lake's order (region, then "
                     "its time field for most datasets), ties broken by the key." + _FILTER_DOC,
         responses=_TABLES,
         dependencies=[Depends(rate_limit)])
def dataset_records(
    dataset: str, creds: Bearer, request: Request,
    region: _REGION = None, limit: _LIMIT = 1000,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
    fields: _FIELDS = None, order: _ORDER = "asc", sort: _SORT = "lake", format: _FORMAT = None,
):
    p = principal(creds)  # here, not as a dependency: one thread hop per request, not two
    fmt = formats.negotiate(format, request.headers.get("accept"), ("json", "csv", "arrow"))
    q, label, cat, acc = _query(request, p, "records", dataset, region, fields, order, sort)
    limit = min(limit, settings().max_page)
    filters = _audit_filters(q, label, fmt, limit=limit, cursor=bool(cursor), grants=list(acc.grants))
    page = _audited(p, "records", cat, filters, records.read, q, limit=limit, cursor=cursor)
    return _page_response(page, fmt, {"dataset": dataset, "region": label})


def _audited(p: Principal | None, action: str, cat: Category, filters: dict, read, q: records.Query, **kw):
    """Run a page read and audit it, refused or served. Data routes are plain
    functions: FastAPI runs them in its thread pool, so their database and DuckDB
    work never blocks the event loop."""
    try:
        page = read(cache(), q, **kw)
    except records.RecordsError as e:
        audit.record(p, action, dataset=q.dataset, category=cat.id, filters=filters, status=e.status)
        raise Problem(e.status, e.detail) from None
    audit.record(p, action, dataset=q.dataset, category=cat.id, filters=filters, rows=page.rows.num_rows)
    return page


@app.get("/v1/datasets/{dataset}/changes", tags=["data"], summary="What landed since a cursor (incremental sync)",
         description="Without `since`: everything so far (a full copy). Upsert the records on the dataset's key; "
                     "while `has_more`, call again at once with `next_cursor`; when done, keep `next_cursor` as "
                     "the next `since`." + _FILTER_DOC,
         responses=_TABLES,
         dependencies=[Depends(rate_limit)])
def dataset_changes(
    dataset: str, creds: Bearer, request: Request,
    since: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous call")] = None,
    region: _REGION = None, limit: _LIMIT = 1000, fields: _FIELDS = None, format: _FORMAT = None,
):
    p = principal(creds)  # here, not as a dependency: one thread hop per request, not two
    fmt = formats.negotiate(format, request.headers.get("accept"), ("json", "csv", "arrow"))
    q, label, cat, acc = _query(request, p, "changes", dataset, region, fields)
    limit = min(limit, settings().max_page)
    filters = _audit_filters(q, label, fmt, limit=limit, since=bool(since), grants=list(acc.grants))
    page = _audited(p, "changes", cat, filters, records.changes, q, limit=limit, since=since)
    return _page_response(page, fmt, {"dataset": dataset, "region": label, "key": contracts()[dataset].key})


@app.get("/v1/datasets/{dataset}/export", tags=["data"], summary="Bulk download: every row at one snapshot",
         description="Parquet (default), Arrow IPC stream or CSV, streamed; the same grants, scoping and "
                     "masking as pages." + _FILTER_DOC,
         responses={200: {"content": {formats.PARQUET: {}, formats.ARROW: {}, "text/csv": {}}}},
         dependencies=[Depends(rate_limit)])
def dataset_export(
    dataset: str, creds: Bearer, request: Request,
    region: _REGION = None, fields: _FIELDS = None, order: _ORDER = "asc", sort: _SORT = "lake",
    format: Annotated[str | None, Query(pattern=r"^(parquet|arrow|csv)$")] = None,
):
    p = principal(creds)  # here, not as a dependency: one thread hop per request, not two
    fmt = formats.negotiate(format, request.headers.get("accept"), ("parquet", "arrow", "csv"))
    q, label, cat, acc = _query(request, p, "export", dataset, region, fields, order, sort)
    filters = _audit_filters(q, label, fmt, grants=list(acc.grants))
    try:
        export = records.Export(cache(), q)
    except records.RecordsError as e:
        audit.record(p, "export", dataset=dataset, category=cat.id, filters=filters, status=e.status)
        raise Problem(e.status, e.detail) from None
    # one entry as the download starts (so a crash mid-stream still leaves a trace), one when it ends
    audit.record(p, "export.start", dataset=dataset, category=cat.id,
                 filters={**filters, "snapshot_id": export.snapshot_id})

    def done(rows: int, complete: bool) -> None:
        audit.record(p, "export", dataset=dataset, category=cat.id,
                     filters={**filters, "snapshot_id": export.snapshot_id, "complete": complete}, rows=rows,
                     status=200 if complete else 499)
    return formats.export_response(export, fmt, f"{dataset}-{label}", done)


@app.get("/v1/open/catalog", tags=["open data"], summary="Open data categories (no token needed)")
def open_catalog(p: MaybeCaller):
    cat = catalogue.current()
    out = [{**{k: v for k, v in _category_json(cat, c).items() if k != "legal_basis"},
            "fields": [f for f in c.field_list() if f["sensitivity"] == "public"]}
           for c in cat.categories.values() if c.should_open and c.should_share]
    audit.record(p, "open.catalog", rows=len(out))
    return _json({"categories": out})


@app.get("/v1/open/datasets/{dataset}/records", tags=["open data"],
         summary="Open data: records of an open category's dataset; public fields only",
         dependencies=[Depends(rate_limit)])
def open_records(
    dataset: str, p: MaybeCaller, request: Request,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="county or city code")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
    fields: Annotated[str | None, Query(max_length=2000, description="comma-separated field names")] = None,
):
    """Unconditionally open categories need no token; conditionally open ones need
    any registered client's token. Personal and internal fields are never part of
    open data (not masked: left out)."""
    c = contracts().get(dataset)
    cat = catalogue.category_of(dataset)
    public = [f.name for f in c.fields if f.sensitivity == "public"] if c else []
    if c is None or cat is None or not cat.should_open or not cat.should_share or not public:
        raise Problem(404, f"no open dataset {dataset!r}; see GET /v1/open/catalog")
    try:
        if cat.open_type == "conditional" or cat.share_type == "conditional":
            if p is None:
                raise Problem(401, f"category {cat.id} is open on condition: register for a client and send "
                                   "its token", {"WWW-Authenticate": "Bearer"})
            if cat.share_type == "conditional":  # the same decision as /v1/datasets: a live grant
                grants.access(p, cat, dataset)
        wanted = [f.strip() for f in (fields or "").split(",") if f.strip()] or public
        closed = [f for f in wanted if f not in public]
        if closed:
            raise Problem(400, f"field(s) {', '.join(closed)} are not open data; open fields: {', '.join(public)}")
        label, regions = scope(None, region)
        where = records.parse_filters(c, list(request.query_params.multi_items()), allowed=set(public))
    except (grants.GrantError, records.RecordsError, Problem) as e:
        audit.record(p, OPEN_ACTION, dataset=dataset, category=cat.id,
                     filters={"query": str(request.query_params)[:500]}, status=e.status)
        if isinstance(e, Problem):
            raise
        raise Problem(e.status, e.detail) from None
    limit = min(limit, settings().max_page)
    q = records.Query(dataset, regions=regions, fields=wanted, filters=where)
    filters = _audit_filters(q, label, "json", limit=limit, cursor=bool(cursor))
    page = _audited(p, OPEN_ACTION, cat, filters, records.read, q, limit=limit, cursor=cursor)
    return _page_response(page, "json", {"dataset": dataset, "region": label})


def _grant_call(fn, *args):
    try:
        return fn(*args)
    except grants.GrantError as e:
        raise Problem(e.status, e.detail) from None


@app.post("/v1/grants", tags=["grants"], status_code=201,
          summary="Apply for access to a category (conditional data, personal fields in clear, city-wide rows)")
def grant_apply(body: grants.GrantRequest, p: Caller):
    g = _grant_call(grants.apply, p, body)
    audit.record(p, "grants.apply", category=body.category, filters={"grant": g["id"]}, rows=1, status=201)
    return _json(g, status=201)


@app.get("/v1/grants", tags=["grants"], summary="Grants the caller holds or decides on")
def grant_list(p: Caller, status: Annotated[str | None, Query(pattern=r"^(pending|approved|rejected|revoked)$")] = None):
    return _json({"grants": grants.visible(p, status)})


@app.get("/v1/grants/{grant_id}", tags=["grants"], summary="One grant")
def grant_get(grant_id: str, p: Caller):
    g = _grant_call(grants.get, grant_id)
    if not grants.may_see(p, g):
        raise Problem(404, f"no grant {grant_id!r} you may see")
    return _json(g)


def _decide(grant_id: str, p: Principal, action: str, note: grants.Decision | None):
    text = note.note if note else None
    if action == "revoke":
        g = _grant_call(grants.revoke, p, grant_id, text)
    else:
        g = _grant_call(grants.decide, p, grant_id, action == "approve", text)
    audit.record(p, f"grants.{action}", category=g["category_id"], filters={"grant": grant_id}, rows=1)
    return _json(g)


@app.post("/v1/grants/{grant_id}/approve", tags=["grants"], summary="Approve (the owning department or an admin)")
def grant_approve(grant_id: str, p: Caller, body: grants.Decision | None = None):
    return _decide(grant_id, p, "approve", body)


@app.post("/v1/grants/{grant_id}/reject", tags=["grants"], summary="Reject (the owning department or an admin)")
def grant_reject(grant_id: str, p: Caller, body: grants.Decision | None = None):
    return _decide(grant_id, p, "reject", body)


@app.post("/v1/grants/{grant_id}/revoke", tags=["grants"], summary="Revoke (grantee, owner or admin)")
def grant_revoke(grant_id: str, p: Caller, body: grants.Decision | None = None):
    return _decide(grant_id, p, "revoke", body)


@app.get("/v1/audit", tags=["audit"], summary="Who read what: the append-only audit log",
         description="Admins see every entry; a department sees accesses to its own categories.")
def audit_log(
    p: Caller,
    client: Annotated[str | None, Query(max_length=200, description="client id or name")] = None,
    dataset: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[datetime | None, Query(description="CST, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="CST, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="next_before of the previous page")] = None,
):
    if p.role == "admin":
        own = None
    elif p.role == "department":
        own = [c.id for c in catalogue.current().categories.values() if c.owner == p.department]
    else:
        raise Problem(403, f"client {p.name!r} has role {p.role}: the audit log is for admins and departments")
    try:
        rows = audit.search(client=client, dataset=dataset, category=category, action=action, since=since,
                            until=until, limit=limit, before=before, categories=own)
    except OverflowError:
        raise Problem(400, "since/until are out of range") from None
    audit.record(p, "audit", filters={"client": client, "dataset": dataset, "category": category,
                                      "action": action}, rows=len(rows))
    return _json({"entries": rows, "next_before": rows[-1]["id"] if len(rows) == limit else None})


def _indicator_rows(p: Principal, region: str | None, code: str | None, period: str | None) -> tuple[str | None, list]:
    label, _ = scope(p, region)
    want_region = label if (region or p.role == "county") else None
    rows = latest(default_lake(), code=code, region=want_region, period_label=period)
    for r in rows:
        r["inputs"] = json.loads(r["inputs"])
        parts = json.loads(r["components"]) if r["components"] else []
        r["components"] = [x for x in parts if x.get("kind") != "alternate"] or None
        r["alternates"] = [x for x in parts if x.get("kind") == "alternate"] or None
    return want_region, rows


@app.get("/v1/indicators/export", tags=["indicators"],
         responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
         summary="Latest values in the standard's table shape (CSV or JSON)")
def indicator_export(
    p: Caller,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    period: Annotated[str | None, Query(pattern=r"^(\d{4}(-\d{2}){0,2}|now)$")] = None,
    format: Annotated[str, Query(pattern=r"^(csv|json)$")] = "csv",
):
    want_region, rows = _indicator_rows(p, region, None, period)
    table = scoring.export_rows(rows)
    audit.record(p, "indicators.export", dataset="indicator_values",
                 filters={"region": want_region, "period": period, "format": format}, rows=len(table))
    if format == "json":
        return _json({"columns": [zh for zh, _ in scoring.EXPORT_COLUMNS], "rows": table})
    return Response(scoring.to_csv(table).encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="indicators.csv"'})


@app.get("/v1/indicators/{code}/evidence", tags=["indicators"],
         summary="The rows behind a stored value's numerator or denominator")
def indicator_evidence(
    code: str, p: Caller,
    region: Annotated[str, Query(pattern=r"^\d{6}$")],
    period: Annotated[str, Query(pattern=r"^(\d{4}(-\d{2}){0,2}|now)$")],
    side: Annotated[str, Query(pattern=r"^(numerator|denominator)$")] = "numerator",
    component: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
):
    label, _ = scope(p, region)
    try:
        inputs = indicator(code).inputs
    except KeyError as e:
        raise Problem(404, str(e).strip("'\"")) from None
    # the rows behind a value are the inputs' rows: a county or department needs what it
    # would need to read those datasets; scoring and admins verify values, audited per category
    cats = {d: catalogue.category_of(d) for d in inputs}
    if p.role in ("county", "department"):
        for d, c in cats.items():
            if c is not None:
                try:
                    grants.access(p, c, d)
                except grants.GrantError as e:
                    audit.record(p, "indicators.evidence", dataset=d, category=c.id,
                                 filters={"code": code, "region": label}, status=e.status)
                    raise Problem(e.status, f"the evidence of {code} is rows of {d}: {e.detail}") from None
    try:
        out = evidence(default_lake(), code, label, period, side, component, limit)
    except KeyError as e:
        raise Problem(404, str(e).strip("'\"")) from None
    except LookupError as e:
        raise Problem(404, str(e)) from None
    except EvidenceError as e:
        raise Problem(400, str(e)) from None
    for d, c in cats.items():
        audit.record(p, "indicators.evidence", dataset=d, category=c.id if c else None,
                     filters={"code": code, "region": label, "period": period, "side": side}, rows=len(out["rows"]))
    return _json(out)


@app.get("/v1/star-readiness", tags=["indicators"],
         summary="Each indicator's year-to-date value against the star thresholds (configuration)")
def star_readiness(p: Caller, region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None):
    label, _ = scope(p, region)
    rows = latest(default_lake(), region=label)
    audit.record(p, "star-readiness", dataset="indicator_values", filters={"region": label}, rows=len(rows))
    return _json(scoring.readiness(rows, label))


@app.get("/v1/indicators", tags=["indicators"], summary="Latest indicator values with their evidence")
def indicator_values(
    p: Caller,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    code: Annotated[str | None, Query(max_length=16)] = None,
    period: Annotated[str | None, Query(pattern=r"^(\d{4}(-\d{2}){0,2}|now)$")] = None,
):
    want_region, rows = _indicator_rows(p, region, code, period)
    out = []
    for r in rows:
        r["evidence"] = {"definition_version": r["definition_version"], "snapshot_ids": r["inputs"],
                         "computed_at": r["computed_at"]}
        out.append(r)
    audit.record(p, "indicators", dataset="indicator_values",
                 filters={"region": want_region, "code": code, "period": period}, rows=len(out))
    return _json({"indicators": out})
