"""Open-data metadata for other portals, no token needed: the DCAT-AP catalogue of the
open categories in JSON-LD, and the part of CKAN's Action API its harvesters call
(``package_list``, ``package_show``, ``package_search``; GET or POST, CKAN's envelope
and errors). Built by ``cityhub.pipelines.open_metadata``; audited like the other
open-data reads."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import Hub, HubDep
from cityhub.api.limits import rate_limit
from cityhub.api.responses import json_response
from cityhub.api.spec import problems
from cityhub.core.errors import InvalidRequest, NotFound
from cityhub.pipelines import open_metadata as om

router = APIRouter(tags=["open data"], dependencies=[Depends(rate_limit)])

JSONLD = "application/ld+json"
CKAN = "/api/3/action"
ALIASES = ("/api/action",)
"""CKAN answers its actions with and without the API version; only the versioned ones are in the spec."""
Text = Annotated[str | None, Query(description="as CKAN takes it")]
DcatAudit = Annotated[AuditEntry, audited("open.dcat", caller="optional")]
"""The request's audit entry (an anonymous request's too)."""
ListAudit = Annotated[AuditEntry, audited("open.ckan.package_list", caller="optional")]
ShowAudit = Annotated[AuditEntry, audited("open.ckan.package_show", caller="optional")]
SearchAudit = Annotated[AuditEntry, audited("open.ckan.package_search", caller="optional")]

DCAT_SCHEMA = {
    "title": "DcatCatalog",
    "type": "object",
    "description": "A DCAT-AP 3 catalogue as JSON-LD: the context inline, then the graph, the `dcat:Catalog` first "
                   "and then its datasets, distributions, publishers, locations and vocabulary terms.",
    "required": ["@context", "@graph"],
    "properties": {
        "@context": {"type": "object", "description": "the vocabularies' prefixes (dcat, dct, foaf, vcard, ...)"},
        "@graph": {"type": "array", "items": {
            "type": "object", "required": ["@id", "@type"],
            "properties": {"@id": {"type": "string"}, "@type": {"type": "array", "items": {"type": "string"}}},
            "additionalProperties": True}},
    },
}
CKAN_TIME = "UTC, ISO 8601 without a zone (as CKAN writes times)"


# -- CKAN's shapes ------------------------------------------------------------------------

class CkanResource(BaseModel):
    id: str
    package_id: str
    position: int
    name: str
    description: str
    url: str
    format: str = Field(description="JSON (the open records API), CSV or Parquet (exports)")
    mimetype: str
    state: str
    resource_type: Literal["api", "file"]
    url_type: str | None
    size: int | None
    hash: str
    created: str = Field(description=CKAN_TIME)
    last_modified: str | None = Field(description=CKAN_TIME)
    access_url: str
    download_url: str | None
    rights: Literal["public", "token"]
    license: str | None


class CkanOrganization(BaseModel):
    id: str
    name: str
    title: str
    title_translated: dict[str, str]
    description: str
    type: Literal["organization"]
    is_organization: bool
    state: str
    approval_status: str
    image_url: str
    created: str = Field(description=CKAN_TIME)


class CkanTag(BaseModel):
    id: str
    name: str
    display_name: str
    state: str
    vocabulary_id: str | None


class CkanExtra(BaseModel):
    key: str
    value: str


class CkanPackage(BaseModel):
    """An open category as CKAN's ``package_show`` returns a package."""
    id: str
    name: str
    title: str
    title_translated: dict[str, str]
    notes: str
    notes_translated: dict[str, str]
    type: Literal["dataset"]
    state: str
    private: bool
    url: str
    version: str | None
    license_id: str
    license_title: str
    license_url: str | None
    isopen: bool
    author: str
    author_email: str | None
    maintainer: str
    maintainer_email: str | None
    metadata_created: str = Field(description=CKAN_TIME)
    metadata_modified: str = Field(description=CKAN_TIME)
    owner_org: str
    organization: CkanOrganization
    num_resources: int
    resources: list[CkanResource]
    num_tags: int
    tags: list[CkanTag]
    groups: list[dict[str, Any]]
    relationships_as_object: list[dict[str, Any]]
    relationships_as_subject: list[dict[str, Any]]
    extras: list[CkanExtra]


class CkanSearchResult(BaseModel):
    count: int = Field(description="packages matching, over every page")
    sort: str
    facets: dict[str, Any]
    search_facets: dict[str, Any]
    results: list[CkanPackage]


class CkanAnswer(BaseModel):
    """CKAN's envelope of an action's answer."""
    help: str = Field(description="where the action is described (help_show)")
    success: Literal[True]


class CkanPackageList(CkanAnswer):
    result: list[str] = Field(description="the packages' names")


class CkanPackageShow(CkanAnswer):
    result: CkanPackage


class CkanPackageSearch(CkanAnswer):
    result: CkanSearchResult


class CkanHelp(CkanAnswer):
    result: str = Field(description="what the action does")


class CkanErrorDetail(BaseModel):
    """What is wrong: a Validation Error names each refused parameter with its messages."""
    model_config = ConfigDict(extra="allow")
    type: Literal["Validation Error", "Search Query Error", "Not Found Error", "Bad Request"] = Field(
        alias="__type")
    message: str | None = Field(None, description="absent from a Validation Error that names its parameters")


class CkanError(BaseModel):
    """CKAN's envelope of a refusal."""
    help: str
    success: Literal[False]
    error: CkanErrorDetail


def _ckan_errors(*codes: int) -> dict:
    why = {400: "The request is not valid JSON (or not an object) or names no action CKAN knows.",
           404: "No such package (or action).",
           409: "A parameter is not valid (`Validation Error`), or a query this subset cannot answer "
                "(`Search Query Error`)."}
    return {code: {"model": CkanError, "description": why[code]} for code in codes}


def _base(hub: Hub, request: Request) -> str:
    return (hub.cfg.public_url or str(request.base_url)).rstrip("/")


def _datasets(hub: Hub, base: str) -> list[om.OpenDataset]:
    return om.open_datasets(hub.decl, hub.catalogue(), hub.snapshots, hub.city, base, hub.cfg.hub_db_uri)


@router.get("/v1/open/dcat.jsonld", summary="Open data catalogue as DCAT-AP (JSON-LD), for portals to harvest",
            description="One `dcat:Dataset` per open category (never one that is not open), with its owner as "
                        "publisher, update frequency (EU frequency table), licence, temporal and spatial coverage "
                        "(region codes) and, per lake dataset, distributions for the open records API and the "
                        "open exports. Public fields only; conditionally open categories say a token is needed.",
            response_class=Response,
            responses={200: {"description": "The catalogue", "content": {JSONLD: {"schema": DCAT_SCHEMA}}},
                       **problems(401, 429)})
def dcat(hub: HubDep, entry: DcatAudit, request: Request):
    base = _base(hub, request)
    datasets = _datasets(hub, base)
    doc = om.dcat_catalog(datasets, hub.city, base, hub.decl.catalogue.open_data.licence)
    entry.note(rows=len(datasets))
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


async def _params(request: Request, entry: AuditEntry | None, action: str, query: dict) -> dict | Response:
    """The action's parameters: the query's, and for a POST its JSON (or form) body's;
    or CKAN's 400 for a body that is not a JSON object (noted in the audit ``entry``)."""
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
        why = f"Bad request - JSON Error: {e}"
    else:
        if isinstance(body, dict):
            return {**out, **{k: v if isinstance(v, str | int) or v is None else str(v) for k, v in body.items()}}
        why = "Bad request - JSON Error: the body must be a JSON object"
    if entry is not None:
        entry.note(status=400)
    return _envelope(_base(request.app.state.hub, request), action, error={"__type": "Bad Request", "message": why},
                     status=400)


def _answer(hub: Hub, entry: AuditEntry, base: str, action: str, params: dict) -> Response:
    """Run one action; its audit entry notes what it answered, or its refusal's status."""
    entry.note(filters={k: _masked(str(v)) for k, v in params.items()
                        if k in ("id", "q", "fq", "rows", "start", "sort", "limit", "offset")})
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
            entry.note(category=ds.id)
            result, rows = om.ckan_package(ds, base), 1
        else:
            result = om.search([om.ckan_package(ds, base) for ds in datasets], params.get("q"), params.get("fq"),
                               params.get("rows"), params.get("start"), params.get("sort"))
            rows = len(result["results"])
    except (InvalidRequest, NotFound) as e:
        status, error = _error(e)
        entry.note(status=status)
        return _envelope(base, action, error=error, status=status)
    entry.note(rows=rows)
    return _envelope(base, action, result)


async def package_list(request: Request, hub: HubDep, entry: ListAudit,
                       limit: Text = None, offset: Text = None):
    """The names of the open datasets (CKAN ``package_list``), sorted; ``limit`` and ``offset`` page them."""
    params = await _params(request, entry, "package_list", {"limit": limit, "offset": offset})
    if isinstance(params, Response):
        return params
    return await run_in_threadpool(_answer, hub, entry, _base(hub, request), "package_list", params)


async def package_show(request: Request, hub: HubDep, entry: ShowAudit,
                       id: Annotated[str | None, Query(description="a package's id or name (or its category id)")]
                       = None):
    """One open dataset as a CKAN package: name, title, notes, organization, resources (url, format),
    tags, extras."""
    params = await _params(request, entry, "package_show", {"id": id})
    if isinstance(params, Response):
        return params
    return await run_in_threadpool(_answer, hub, entry, _base(hub, request), "package_show", params)


async def package_search(request: Request, hub: HubDep, entry: SearchAudit,
                         q: Text = None, fq: Text = None,
                         rows: Annotated[str | None, Query(description="page size: 10 unless given, at most 1000")]
                         = None,
                         start: Annotated[str | None, Query(description="offset of the page's first result")] = None,
                         sort: Annotated[str | None, Query(description="e.g. `id asc`, `metadata_modified desc`")]
                         = None):
    """Open datasets as CKAN packages matching ``q`` (words) and ``fq`` (``field:value`` terms, ``-`` to
    exclude, ``OR``, ``metadata_modified:[<UTC time> TO *]``), sorted, ``rows`` at a time from ``start``."""
    params = await _params(request, entry, "package_search",
                           {"q": q, "fq": fq, "rows": rows, "start": start, "sort": sort})
    if isinstance(params, Response):
        return params
    return await run_in_threadpool(_answer, hub, entry, _base(hub, request), "package_search", params)


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
ANSWERS = {package_list: (CkanPackageList, problems(401, 429), _ckan_errors(400, 409)),
           package_show: (CkanPackageShow, problems(401, 429), _ckan_errors(400, 404, 409)),
           package_search: (CkanPackageSearch, problems(401, 429), _ckan_errors(400, 409)),
           help_show: (CkanHelp, problems(429), _ckan_errors(404))}
"""Each action's answer, the API's problem+json refusals (a token that is not valid, too many
requests) and CKAN's own, in its envelope."""

for _prefix in (CKAN, *ALIASES):
    for _action in ACTIONS:
        _model, _problems, _refusals = ANSWERS[_action]
        for _method in ("GET", "POST"):  # one route per method: an operation id each
            router.add_api_route(f"{_prefix}/{_action.__name__}", _action, methods=[_method],
                                 operation_id=f"ckan_{_action.__name__}_{_method.lower()}",
                                 include_in_schema=_prefix == CKAN, summary=f"CKAN {_action.__name__}",
                                 tags=["open data (CKAN)"], response_model=_model,
                                 responses={**_problems, **_refusals})
    router.add_api_route(f"{_prefix}/{{action}}", unknown_action, methods=["GET", "POST"], include_in_schema=False)
