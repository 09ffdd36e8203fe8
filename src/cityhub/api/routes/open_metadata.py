"""Open-data metadata for other portals, no token needed: the DCAT-AP catalogue of the
open categories in JSON-LD, and the part of CKAN's Action API its harvesters call
(``package_list``, ``package_show``, ``package_search``; GET or POST, CKAN's envelope
and errors). Built by ``cityhub.pipelines.open_metadata``; audited like the other
open-data reads."""
from __future__ import annotations

import re
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from cityhub.access.clients import Principal
from cityhub.api.deps import Hub, HubDep, MaybeCaller
from cityhub.api.limits import rate_limit
from cityhub.api.responses import json_response
from cityhub.core.errors import InvalidRequest, NotFound
from cityhub.pipelines import open_metadata as om

router = APIRouter(tags=["open data"], dependencies=[Depends(rate_limit)])

JSONLD = "application/ld+json"
CKAN = "/api/3/action"
ALIASES = ("/api/action",)
"""CKAN answers its actions with and without the API version; only the versioned ones are in the spec."""
Text = Annotated[str | None, Query(description="as CKAN takes it")]


def _base(hub: Hub, request: Request) -> str:
    return (hub.cfg.public_url or str(request.base_url)).rstrip("/")


def _datasets(hub: Hub, base: str) -> list[om.OpenDataset]:
    return om.open_datasets(hub.decl, hub.catalogue(), hub.snapshots, hub.city, base, hub.cfg.hub_db_uri)


@router.get("/v1/open/dcat.jsonld", summary="Open data catalogue as DCAT-AP (JSON-LD), for portals to harvest",
            description="One `dcat:Dataset` per open category (never one that is not open), with its owner as "
                        "publisher, update frequency (EU frequency table), licence, temporal and spatial coverage "
                        "(region codes) and, per lake dataset, distributions for the open records API and the "
                        "open exports. Public fields only; conditionally open categories say a token is needed.",
            response_class=Response, responses={200: {"content": {JSONLD: {}}}})
def dcat(hub: HubDep, p: MaybeCaller, request: Request):
    base = _base(hub, request)
    datasets = _datasets(hub, base)
    doc = om.dcat_catalog(datasets, hub.city, base, hub.decl.catalogue.open_data.licence)
    hub.audit(p, "open.dcat", rows=len(datasets))
    return Response(orjson.dumps(doc), media_type=JSONLD)


# -- CKAN ----------------------------------------------------------------------------------

_LONG_DIGITS = re.compile(r"\d{10,}[\dXx]?")


def _masked(text: str | None) -> str | None:
    """A search text for the audit log: long digit runs (an ID or phone number typed into
    a search) kept only by their ends."""
    if text is None:
        return None
    return _LONG_DIGITS.sub(lambda m: m[0][:2] + "*" * (len(m[0]) - 4) + m[0][-2:], text[:500])


def _envelope(base: str, action: str, result=None, error: dict | None = None, status: int = 200) -> Response:
    body = {"help": f"{base}{CKAN}/help_show?name={action}", "success": error is None}
    if error is None:
        body["result"] = result
    else:
        body["error"] = error
    return json_response(body, status)


def _error(e: InvalidRequest | NotFound) -> tuple[int, dict]:
    """A refusal as CKAN says it: its status and ``error`` object (other errors are the
    API's problem+json answers)."""
    if isinstance(e, om.CkanValidationError):
        return 409, {"__type": "Validation Error", **e.errors}
    if isinstance(e, om.SearchQueryError):
        return 409, {"__type": "Search Query Error", "message": f"Search Query is invalid: {e.detail}"}
    if isinstance(e, NotFound):
        return 404, {"__type": "Not Found Error", "message": f"Not found: {e.detail}"}
    return 409, {"__type": "Validation Error", "message": e.detail}


async def _params(request: Request, action: str, query: dict) -> dict | Response:
    """The action's parameters: the query's, and for a POST its JSON (or form) body's."""
    out = {k: v for k, v in query.items() if v is not None}
    if request.method != "POST":
        return out
    raw = await request.body()
    if not raw.strip():
        return out
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        return {**out, **{k: str(v) for k, v in form.items()}}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return _envelope(_base(request.app.state.hub, request), action, error={
            "__type": "Bad Request", "message": f"Bad request - JSON Error: {e}"}, status=400)
    if not isinstance(body, dict):
        return _envelope(_base(request.app.state.hub, request), action, error={
            "__type": "Bad Request", "message": "Bad request - JSON Error: the body must be a JSON object"},
            status=400)
    return {**out, **{k: v if isinstance(v, str | int) or v is None else str(v) for k, v in body.items()}}


def _answer(hub: Hub, p: Principal | None, base: str, action: str, params: dict) -> Response:
    """Run one action and audit it, answered or refused."""
    audit = {k: _masked(str(v)) for k, v in params.items() if k in ("id", "q", "fq", "rows", "start", "sort",
                                                                     "limit", "offset")}
    category = None
    try:
        datasets = _datasets(hub, base)
        if action == "package_list":
            result = om.package_list(datasets, params.get("limit"), params.get("offset"))
            rows = len(result)
        elif action == "package_show":
            ref = params.get("id") or params.get("name_or_id")
            if not ref:
                raise om.CkanValidationError({"name_or_id": ["Missing value"]})
            ds = om.find(datasets, str(ref))
            category = ds.id
            result, rows = om.ckan_package(ds, base), 1
        else:
            result = om.search([om.ckan_package(ds, base) for ds in datasets], params.get("q"), params.get("fq"),
                               params.get("rows"), params.get("start"), params.get("sort"))
            rows = len(result["results"])
    except (InvalidRequest, NotFound) as e:
        status, error = _error(e)
        hub.audit(p, f"open.ckan.{action}", category=category, filters=audit, status=status)
        return _envelope(base, action, error=error, status=status)
    hub.audit(p, f"open.ckan.{action}", category=category, filters=audit, rows=rows)
    return _envelope(base, action, result)


async def package_list(request: Request, hub: HubDep, p: MaybeCaller,
                       limit: Text = None, offset: Text = None):
    """The names of the open datasets (CKAN ``package_list``), sorted; ``limit`` and ``offset`` page them."""
    params = await _params(request, "package_list", {"limit": limit, "offset": offset})
    if isinstance(params, Response):
        return params
    return await run_in_threadpool(_answer, hub, p, _base(hub, request), "package_list", params)


async def package_show(request: Request, hub: HubDep, p: MaybeCaller,
                       id: Annotated[str | None, Query(description="a package's id or name (or its category id)")]
                       = None):
    """One open dataset as a CKAN package: name, title, notes, organization, resources (url, format),
    tags, extras."""
    params = await _params(request, "package_show", {"id": id})
    if isinstance(params, Response):
        return params
    return await run_in_threadpool(_answer, hub, p, _base(hub, request), "package_show", params)


async def package_search(request: Request, hub: HubDep, p: MaybeCaller,
                         q: Text = None, fq: Text = None,
                         rows: Annotated[str | None, Query(description="page size: 10 unless given, at most 1000")]
                         = None,
                         start: Annotated[str | None, Query(description="offset of the page's first result")] = None,
                         sort: Annotated[str | None, Query(description="e.g. `id asc`, `metadata_modified desc`")]
                         = None):
    """Open datasets as CKAN packages matching ``q`` (words) and ``fq`` (``field:value`` terms, ``-`` to
    exclude, ``OR``, ``metadata_modified:[<UTC time> TO *]``), sorted, ``rows`` at a time from ``start``."""
    params = await _params(request, "package_search", {"q": q, "fq": fq, "rows": rows, "start": start, "sort": sort})
    if isinstance(params, Response):
        return params
    return await run_in_threadpool(_answer, hub, p, _base(hub, request), "package_search", params)


async def help_show(request: Request, name: Text = None):
    """What an action does (CKAN ``help_show``)."""
    base = _base(request.app.state.hub, request)
    doc = {a.__name__: a.__doc__ for a in ACTIONS}.get(name or "")
    if doc is None:
        return _envelope(base, "help_show", error={"__type": "Not Found Error",
                                                   "message": f"Not found: no action {name!r}"}, status=404)
    return _envelope(base, "help_show", " ".join(doc.split()))


async def unknown_action(request: Request, action: str):
    return _envelope(_base(request.app.state.hub, request), action, error={
        "__type": "Bad Request", "message": f"Bad request - Action name not known: {action}"}, status=400)


ACTIONS = (package_list, package_show, package_search, help_show)

for _prefix in (CKAN, *ALIASES):
    for _action in ACTIONS:
        for _method in ("GET", "POST"):  # one route per method: an operation id each
            router.add_api_route(f"{_prefix}/{_action.__name__}", _action, methods=[_method],
                                 operation_id=f"ckan_{_action.__name__}_{_method.lower()}",
                                 include_in_schema=_prefix == CKAN, summary=f"CKAN {_action.__name__}",
                                 tags=["open data (CKAN)"], response_class=Response,
                                 responses={200: {"content": {"application/json": {}}}})
    router.add_api_route(f"{_prefix}/{{action}}", unknown_action, methods=["GET", "POST"], include_in_schema=False)
