"""FastAPI application: thin routes over ``hub.records``, ``hub.catalogue``,
``pipelines.indicators``, ``hub.clients`` and ``hub.audit``."""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from hub import audit, records
from hub.api.problems import Problem, install
from hub.catalogue import category_of, visible_to
from hub.clients import AuthError, Principal, authenticate
from hub.config import settings
from hub.contracts import contracts
from hub.lake import default_lake
from hub.regions import city as get_city
from hub import scoring
from pipelines.indicators import EvidenceError, evidence, latest

app = FastAPI(
    title="CityHub API",
    version="1",
    description="City-brain data-sharing hub: shared sector data for county apps and "
                "DB37/T 3890.1 indicator values with their evidence for the scoring layer.",
)
install(app)
_bearer = HTTPBearer(auto_error=False, description="token from `cityhub clients create`")
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


def _json(obj, status: int = 200) -> Response:
    def default(v):
        if isinstance(v, (date, datetime)):
            return v.isoformat()
        return str(v)
    return Response(json.dumps(obj, ensure_ascii=False, default=default, separators=(",", ":")),
                    status_code=status, media_type="application/json")


def scope(p: Principal, region: str | None) -> tuple[str, list[str] | None]:
    """The region a caller asks for, checked against what it may see, and the
    county codes that region covers (None: the whole lake)."""
    c = get_city(settings().city)
    if p.role == "county":
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


@app.get("/v1/catalog", tags=["catalogue"], summary="Data categories the caller may see")
def catalog(p: Caller):
    out = []
    for cat in visible_to(p.role):
        out.append({
            "id": cat.id, "name_zh": cat.name_zh, "name_en": cat.name_en, "owner": cat.owner,
            "share_type": cat.share_type, "open_type": cat.open_type, "update_cycle": cat.update_cycle,
            "datasets": [{"id": d, "title": contracts()[d].title,
                          "fields": [{"name": f.name, "type": f.type, "sensitivity": f.sensitivity,
                                      "filterable": f.filterable, "description": f.description}
                                     for f in contracts()[d].fields]}
                         for d in cat.datasets if d in contracts()],
        })
    audit.record(p, "catalog", rows=len(out))
    return {"categories": out}


@app.get("/v1/datasets/{dataset}/records", tags=["data"], summary="Records of a dataset, one page at a time")
async def dataset_records(
    dataset: str, p: Caller,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="county or city code")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
    fields: Annotated[str | None, Query(max_length=2000, description="comma-separated field names")] = None,
):
    c = contracts().get(dataset)
    cat = category_of(dataset)
    if c is None or c.system or cat is None:
        raise Problem(404, f"no dataset {dataset!r}; see GET /v1/catalog for the datasets you may read")
    if cat.share_type == "not_shared" and p.role != "admin":
        raise Problem(403, f"category {cat.id} is not shared ({cat.legal_basis})")
    if cat.share_type == "conditional" and p.role != "admin":
        # grants (apply, approve, expire) are the next step; until then only admins read it
        raise Problem(403, f"category {cat.id} is shared on condition: it needs an approved grant, "
                           "which this client does not have")
    limit = min(limit, settings().max_page)
    label, regions = scope(p, region)
    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    filters = {"region": label, "limit": limit, "fields": wanted, "cursor": bool(cursor)}
    try:
        page = await run_in_threadpool(records.read, cache(), dataset, regions=regions, fields=wanted,
                                       limit=limit, cursor=cursor)
    except records.RecordsError as e:
        audit.record(p, "records", dataset=dataset, category=cat.id, filters=filters, status=e.status)
        raise Problem(e.status, e.detail) from None
    audit.record(p, "records", dataset=dataset, category=cat.id, filters=filters, rows=page.rows.num_rows)
    return _json({"dataset": dataset, "region": label, "snapshot_id": page.snapshot_id,
                  "count": page.rows.num_rows, "next_cursor": page.next_cursor,
                  "records": page.rows.to_pylist()})


def _indicator_rows(p: Principal, region: str | None, code: str | None, period: str | None) -> tuple[str | None, list]:
    label, _ = scope(p, region)
    want_region = label if (region or p.role == "county") else None
    rows = latest(default_lake(), code=code, region=want_region, period_label=period)
    for r in rows:
        r["inputs"] = json.loads(r["inputs"])
        r["components"] = json.loads(r["components"]) if r["components"] else None
    return want_region, rows


@app.get("/v1/indicators/export", tags=["indicators"],
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
        out = evidence(default_lake(), code, label, period, side, component, limit)
    except KeyError as e:
        raise Problem(404, str(e).strip("'\"")) from None
    except LookupError as e:
        raise Problem(404, str(e)) from None
    except EvidenceError as e:
        raise Problem(400, str(e)) from None
    audit.record(p, "indicators.evidence", dataset="indicator_values",
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
