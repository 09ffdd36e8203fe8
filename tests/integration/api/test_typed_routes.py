"""The typed contract of the routes other than the data routes, in-process: each
declares its answer's schema and every error status it gives, real answers (and real
refusals) conform to what ``/openapi.json`` declares (schemathesis' conformance checks
on requests made on purpose, not generated), and the audit entry every route gets as a
dependency records refusals with their status.

The data routes (``/v1/datasets/...``, ``/v1/open/datasets/...``) are checked by
``test_fuzz.py`` and their own tests."""
from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.checks import CHECKS
from schemathesis.specs.openapi import checks as _openapi_checks  # noqa: F401 - registers the OpenAPI checks

from cityhub.access import audit, catalogue
from cityhub.api.main import create_app
from cityhub.core.settings import Settings
from cityhub.pipelines.indicators.engine import compute
from tests.integration.api.world import CITY, DAY, DECHENG, QIHE, land_cameras
from tests.support import (
    assert_problem,
    auth,
    clear_of_a_minute_turn,
    credentials,
    token,
)

CONFORMANCE = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_schema_conformance", "response_headers_conformance")
CKAN = "/api/3/action"

ERRORS = {
    # what each operation declares it may answer besides its success: the statuses the
    # routes and the library functions they call can give (cityhub.api.problems.STATUS)
    ("get", "/healthz"): set(),
    ("get", "/readyz"): {503},
    ("post", "/v1/token"): {400, 401, 429},
    ("get", "/v1/catalog"): {401},
    ("get", "/v1/catalog/categories/{category_id}"): {401, 404},
    ("put", "/v1/catalog/categories/{category_id}"): {400, 401, 403, 409},
    ("delete", "/v1/catalog/categories/{category_id}"): {401, 403, 404},
    ("put", "/v1/catalog/departments/{department_id}"): {400, 401, 403},
    ("get", "/v1/open/catalog"): {401},
    ("get", "/v1/open/dcat.jsonld"): {401, 429},
    ("post", "/v1/grants"): {400, 401, 403, 404},
    ("get", "/v1/grants"): {400, 401},
    ("get", "/v1/grants/{grant_id}"): {401, 404},
    ("post", "/v1/grants/{grant_id}/approve"): {400, 401, 403, 404, 409},
    ("post", "/v1/grants/{grant_id}/reject"): {400, 401, 403, 404, 409},
    ("post", "/v1/grants/{grant_id}/revoke"): {400, 401, 403, 404},
    ("get", "/v1/audit"): {400, 401, 403},
    ("get", "/v1/quarantine"): {400, 401, 403},
    ("get", "/v1/quarantine/{item_id}"): {400, 401, 403, 404},
    ("post", "/v1/quarantine/release"): {400, 401, 403, 404},
    ("get", "/v1/indicators"): {400, 401, 403},
    ("get", "/v1/indicators/export"): {400, 401, 403},
    ("get", "/v1/indicators/{code}/evidence"): {400, 401, 403, 404},
    ("get", "/v1/star-readiness"): {400, 401, 403},
    ("get", "/v1/star-readiness/regions"): {401},
    ("get", "/v1/reports"): {400, 401, 403, 404, 409, 503},
    ("get", "/.well-known/jwks.json"): {429, 503},
    ("post", "/v1/session"): {400, 401, 403, 429},
    ("get", "/v1/session"): {401},
    ("post", "/v1/session/logout"): set(),
    ("delete", "/v1/session"): set(),
    ("get", "/v1/connectors"): {401, 403},
    ("get", "/v1/datasets"): {401},
    **{(m, f"{CKAN}/package_list"): {400, 401, 409, 429} for m in ("get", "post")},
    **{(m, f"{CKAN}/package_show"): {400, 401, 404, 409, 429} for m in ("get", "post")},
    **{(m, f"{CKAN}/package_search"): {400, 401, 409, 429} for m in ("get", "post")},
    **{(m, f"{CKAN}/help_show"): {404, 429} for m in ("get", "post")},
}
CKAN_ERRORS = {400, 404, 409}
"""CKAN's actions refuse in CKAN's envelope (other errors are the API's problem+json)."""


def _data_path(path: str) -> bool:
    return path.startswith(("/v1/datasets/", "/v1/open/datasets/"))


def _checks():
    found = {c.__name__: c for c in CHECKS.get_all()}
    return [found[n] for n in CONFORMANCE]


class Conforming:
    """Requests made through schemathesis' cases of the app's own ``/openapi.json``, each
    answer checked against what the spec declares for its operation."""

    def __init__(self, api: TestClient):
        self.schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
        self.checks = _checks()
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, method: str, path: str, tok: str | None = None, *, status: int, **case):
        op = self.schema.find_operation_by_path(method, path)
        assert op is not None, (method, path)
        headers = auth(tok) if tok else {}
        c = op.Case(**case)
        r = c.call(headers=headers)
        assert r.status_code == status, (method, path, case, r.status_code, r.text[:500])
        c.validate_response(r, checks=self.checks, headers=headers)
        self.seen.add((method.lower(), path, status))
        return r


@pytest.fixture
def world(api, lake, cfg, decl):
    land_cameras(lake, per_county=8, key_areas=2)
    compute(lake, DAY)
    cat = catalogue.current(cfg, decl)
    conditional = next(c for c in cat.categories.values() if c.share_type == "conditional" and c.should_share)
    return {"api": api, "conditional": conditional,
            "admin": token(cfg, decl, "typed-admin", "admin"),
            "scoring": token(cfg, decl, "typed-scoring", "scoring"),
            "county": token(cfg, decl, "typed-county", "county", QIHE),
            "owner": token(cfg, decl, "typed-owner", "department", department=conditional.owner)}


# -- the spec -------------------------------------------------------------------------------


def test_every_operation_declares_its_answer_and_its_errors(api):
    spec = api.get("/openapi.json").json()
    ops = {(m, p): op for p, item in spec["paths"].items() if not _data_path(p) for m, op in item.items()}
    assert set(ERRORS) == set(ops), set(ERRORS) ^ set(ops)
    for (method, path), op in ops.items():
        responses = op["responses"]
        ok = [s for s in responses if s in ("200", "201", "204")]
        assert ok, (method, path, "no success declared")
        for s in ok:
            if s == "204":
                continue
            content = responses[s].get("content")
            assert content, (method, path, s)
            for media, body in content.items():
                schema = body.get("schema")
                assert schema and schema != {}, (method, path, s, media, "untyped")
        assert "422" not in responses, (method, path)
        errors = {int(s) for s in responses if int(s) >= 400}
        assert errors == ERRORS[(method, path)], (method, path, errors)
        secured = any(req for req in op.get("security", ()) if req)
        if secured:
            assert 401 in errors, (method, path, "takes a token but declares no 401")
        for s in errors:
            [(media, body)] = responses[str(s)]["content"].items()
            ckan = path.startswith(CKAN) and s in CKAN_ERRORS
            assert (media, body["schema"]["$ref"].split("/")[-1]) == (
                ("application/json", "CkanError") if ckan else ("application/problem+json", "Problem")), \
                (method, path, s)
    # the formats beside JSON are declared with their own media types and a schema
    export = ops[("get", "/v1/indicators/export")]["responses"]["200"]["content"]
    assert set(export) == {"application/json", "text/csv"}
    dcat = ops[("get", "/v1/open/dcat.jsonld")]["responses"]["200"]["content"]
    assert list(dcat) == ["application/ld+json"] and dcat["application/ld+json"]["schema"]["type"] == "object"
    # times are CST without an offset: no `format: date-time` in the answers' schemas
    schemas = spec["components"]["schemas"]
    for name in ("GrantOut", "AuditLogEntry", "IndicatorValue", "ValueEvidence", "IndicatorTableRow"):
        assert "date-time" not in str(schemas[name]), name


# -- real answers conform -------------------------------------------------------------------


def test_real_answers_and_refusals_conform_to_the_spec(world, cfg, decl):
    api, w = world["api"], world
    call = Conforming(api)
    admin, scoring, county, owner = w["admin"], w["scoring"], w["county"], w["owner"]

    call("GET", "/healthz", status=200)
    call("GET", "/readyz", status=200)
    # the token endpoint: a token, and the OAuth2 refusals
    cid, secret = credentials(cfg, decl, "typed-client", "scoring")
    form = "application/x-www-form-urlencoded"
    r = call("POST", "/v1/token", status=200, media_type=form,
             body={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret})
    assert r.json()["token_type"] == "Bearer" and r.json()["expires_in"] > 0
    call("POST", "/v1/token", status=401, media_type=form,
         body={"grant_type": "client_credentials", "client_id": cid, "client_secret": "wrong"})
    call("POST", "/v1/token", status=400, media_type=form, body={"grant_type": "client_credentials"})
    # the pages' sign-in (session cookies), who is signed in, signing out; the console's API
    call("POST", "/v1/session", status=200, media_type=form, body={"client_id": cid, "client_secret": secret})
    call("POST", "/v1/session", status=401, media_type=form, body={"client_id": cid, "client_secret": "wrong"})
    call("POST", "/v1/session", status=400, media_type=form, body={"client_id": cid})
    call("GET", "/v1/session", county, status=200)
    call("GET", "/v1/session", status=401)
    call("POST", "/v1/session/logout", status=204)
    call("DELETE", "/v1/session", status=204)
    call("GET", "/v1/connectors", admin, status=200)
    call("GET", "/v1/connectors", county, status=403)
    call("GET", "/v1/datasets", county, status=200)

    # indicator values: a composite with its components, whole-area figures, every period
    four = call("GET", "/v1/indicators", scoring, status=200, query={"region": DECHENG, "code": "4"}).json()
    assert four["indicators"] and all(v["components"] and v["alternates"] for v in four["indicators"])
    every = call("GET", "/v1/indicators", scoring, status=200).json()["indicators"]
    assert any(v["value"] is None for v in every) and any(v["inputs"] for v in every)
    call("GET", "/v1/indicators", county, status=200)
    call("GET", "/v1/indicators", county, status=403, query={"region": DECHENG})
    call("GET", "/v1/indicators", scoring, status=400, query={"region": "371500"})
    call("GET", "/v1/indicators", scoring, status=400, query={"period": "yesterday"})
    call("GET", "/v1/indicators", status=401)
    # the standard's table, as JSON and as CSV
    table = call("GET", "/v1/indicators/export", scoring, status=200, query={"format": "json"}).json()
    assert table["rows"] and set(table["rows"][0]) == set(table["columns"])
    csv = call("GET", "/v1/indicators/export", scoring, status=200, query={"period": str(DAY)})
    assert csv.headers["content-type"][0].startswith("text/csv")
    call("GET", "/v1/indicators/export", county, status=403, query={"region": CITY})
    # evidence: a plain value, a component, a whole-area figure; refusals
    period = {"region": CITY, "period": str(DAY)}
    for code, query in (("5", {}), ("5", {"side": "denominator", "component": "5.whole"}),
                        ("4", {"component": "4.1", "limit": 2})):
        page = call("GET", "/v1/indicators/{code}/evidence", scoring, status=200, path_parameters={"code": code},
                    query={**period, **query}).json()
        assert page["rows"] and page["measured"] == page["rows_total"]
    call("GET", "/v1/indicators/{code}/evidence", scoring, status=400, path_parameters={"code": "4"}, query=period)
    call("GET", "/v1/indicators/{code}/evidence", scoring, status=404, path_parameters={"code": "99"}, query=period)
    call("GET", "/v1/indicators/{code}/evidence", county, status=403, path_parameters={"code": "5"}, query=period)
    # star readiness
    ready = call("GET", "/v1/star-readiness", scoring, status=200, query={"region": CITY}).json()
    assert ready["indicators"] and ready["thresholds_source"]
    call("GET", "/v1/star-readiness", county, status=200)
    call("GET", "/v1/star-readiness", county, status=403, query={"region": DECHENG})
    every = call("GET", "/v1/star-readiness/regions", scoring, status=200).json()["regions"]
    assert every[0] == ready and [r["region"] for r in every[1:]] == sorted(r["region"] for r in every[1:])
    assert [r["region"] for r in call("GET", "/v1/star-readiness/regions", county, status=200).json()["regions"]] == [QIHE]

    # grants: apply, list, read, decide, decide again (a conflict), revoke
    body = {"category": w["conditional"].id, "purpose": "checking the typed grant routes", "days": 7}
    g = call("POST", "/v1/grants", county, status=201, body=body, media_type="application/json").json()
    assert g["status"] == "pending" and g["decided_at"] is None and not g["live"]
    call("POST", "/v1/grants", county, status=404, body={**body, "category": "no.such"},
         media_type="application/json")
    call("POST", "/v1/grants", admin, status=403, body=body, media_type="application/json")
    call("POST", "/v1/grants", county, status=400, body={"category": "x"}, media_type="application/json")
    gid = {"grant_id": g["id"]}
    assert call("GET", "/v1/grants", county, status=200).json()["grants"][0]["id"] == g["id"]
    call("GET", "/v1/grants", owner, status=200, query={"status": "pending"})
    call("GET", "/v1/grants", county, status=400, query={"status": "maybe"})
    call("GET", "/v1/grants/{grant_id}", owner, status=200, path_parameters=gid)
    call("GET", "/v1/grants/{grant_id}", scoring, status=404, path_parameters=gid)
    call("POST", "/v1/grants/{grant_id}/approve", county, status=403, path_parameters=gid)
    approved = call("POST", "/v1/grants/{grant_id}/approve", owner, status=200, path_parameters=gid,
                    body={"note": "ok"}, media_type="application/json").json()
    assert approved["live"] and approved["decided_at"] and approved["decided_by"] == "typed-owner"
    call("POST", "/v1/grants/{grant_id}/reject", owner, status=409, path_parameters=gid)
    call("POST", "/v1/grants/{grant_id}/approve", owner, status=404, path_parameters={"grant_id": "nope"})
    call("POST", "/v1/grants/{grant_id}/revoke", county, status=200, path_parameters=gid)

    # the audit log
    log = call("GET", "/v1/audit", admin, status=200, query={"limit": 5}).json()
    assert log["entries"] and log["next_before"] == log["entries"][-1]["id"]
    call("GET", "/v1/audit", owner, status=200)
    call("GET", "/v1/audit", county, status=403)
    call("GET", "/v1/audit", admin, status=400, query={"limit": 0})

    # the quarantine (the simulated cameras' faults; test_quarantine_ops.py releases items)
    held = call("GET", "/v1/quarantine", admin, status=200, query={"limit": 3}).json()["items"]
    assert held and all(i["masked"] for i in held)
    call("GET", "/v1/quarantine/{item_id}", admin, status=200, path_parameters={"item_id": held[0]["id"]})
    call("GET", "/v1/quarantine", county, status=403)
    call("GET", "/v1/quarantine", admin, status=400, query={"limit": 0})
    call("GET", "/v1/quarantine/{item_id}", admin, status=404, path_parameters={"item_id": "0" * 16})
    call("GET", "/v1/quarantine/{item_id}", admin, status=400, path_parameters={"item_id": "nope"})
    call("GET", "/v1/quarantine/{item_id}", county, status=403, path_parameters={"item_id": "0" * 16})
    call("POST", "/v1/quarantine/release", admin, status=404, body={"ids": ["0" * 16]}, media_type="application/json")
    call("POST", "/v1/quarantine/release", admin, status=400, body={"ids": []}, media_type="application/json")
    call("POST", "/v1/quarantine/release", county, status=403, body={"ids": ["0" * 16]},
         media_type="application/json")

    # signed reports and their keys
    report = call("GET", "/v1/reports", scoring, status=200, query={"region": CITY, "period": str(DAY)}).json()
    assert report["alg"] == "EdDSA"
    call("GET", "/v1/reports", county, status=403, query={"region": CITY, "period": str(DAY)})
    call("GET", "/v1/reports", scoring, status=404, query={"region": CITY, "period": "2020"})
    call("GET", "/.well-known/jwks.json", status=200)

    # open data's catalogue and metadata, with and without a token; CKAN's envelope and errors
    assert call("GET", "/v1/open/catalog", status=200).json()["categories"]
    call("GET", "/v1/open/catalog", "not-a-token", status=401)
    call("GET", "/v1/open/dcat.jsonld", status=200)
    call("GET", "/v1/open/dcat.jsonld", county, status=200)
    names = call("GET", f"{CKAN}/package_list", status=200).json()["result"]
    call("POST", f"{CKAN}/package_list", status=200, body={"limit": 2}, media_type="application/json")
    call("GET", f"{CKAN}/package_list", status=409, query={"limit": "-1"})
    call("GET", f"{CKAN}/package_show", status=200, query={"id": names[0]})
    call("GET", f"{CKAN}/package_show", status=404, query={"id": "no-such-package"})
    call("GET", f"{CKAN}/package_show", status=409)
    found = call("GET", f"{CKAN}/package_search", status=200, query={"rows": "2"}).json()["result"]
    assert found["count"] >= len(found["results"]) == 2
    call("GET", f"{CKAN}/package_search", status=409, query={"sort": "nonsense"})
    call("GET", f"{CKAN}/package_search", "not-a-token", status=401)
    call("GET", f"{CKAN}/help_show", status=200, query={"name": "package_show"})
    call("GET", f"{CKAN}/help_show", status=404, query={"name": "nope"})
    r = api.post(f"{CKAN}/package_search", content=b"[1]", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["__type"] == "Bad Request"

    # the catalogue
    call("GET", "/v1/catalog", county, status=200)
    call("GET", "/v1/catalog/categories/{category_id}", county, status=200,
         path_parameters={"category_id": w["conditional"].id})
    call("GET", "/v1/catalog/categories/{category_id}", county, status=404, path_parameters={"category_id": "no.such"})
    dept = {"id": "typed_dept", "name_zh": "某局", "name_en": "Some bureau"}
    for status in (201, 200):
        call("PUT", "/v1/catalog/departments/{department_id}", admin, status=status,
             path_parameters={"department_id": "typed_dept"}, body=dept, media_type="application/json")
    call("PUT", "/v1/catalog/departments/{department_id}", county, status=403,
         path_parameters={"department_id": "typed_dept"}, body=dept, media_type="application/json")
    call("DELETE", "/v1/catalog/categories/{category_id}", admin, status=404, path_parameters={"category_id": "no.such"})

    # every operation was asked (CKAN's POSTs answer as its GETs do: one of them is enough)
    asked = {(m, p) for m, p, _ in call.seen}
    skipped = {("post", f"{CKAN}/{a}") for a in ("package_show", "package_search", "help_show")}
    skipped |= {("put", "/v1/catalog/categories/{category_id}")}  # test_catalogue.py
    assert set(ERRORS) - skipped - asked == set()


def test_rate_limited_answers_conform_too(hub_home, monkeypatch, decl):
    paths = ("/v1/open/dcat.jsonld", "/.well-known/jwks.json", f"{CKAN}/package_list")
    monkeypatch.setenv("CITYHUB_OPEN_RATE_LIMIT", f"{len(paths)}/minute")  # per address, over every open route
    with TestClient(create_app(Settings(), decl)) as api:
        call = Conforming(api)
        clear_of_a_minute_turn()
        for path in paths:
            call("GET", path, status=200)
        for path in paths:
            r = call("GET", path, status=429)
            assert int(r.headers["retry-after"][0]) >= 1


# -- refusals are audited -------------------------------------------------------------------


def _entries(cfg, action: str) -> list[dict]:
    return audit.search(cfg, action=action)


def test_refusals_of_every_route_are_audited_with_their_status(world, cfg):
    api, w = world["api"], world
    county, owner, admin = auth(w["county"]), auth(w["owner"]), auth(w["admin"])
    # a county asking for another county's star readiness
    assert_problem(api.get("/v1/star-readiness", headers=county, params={"region": DECHENG}), 403, QIHE)
    [e] = _entries(cfg, "star-readiness")
    assert (e["client_name"], e["status"], e["rows"], e["dataset"], e["filters"]) == (
        "typed-county", 403, 0, "indicator_values", {"region": DECHENG})
    # a category that does not exist
    assert_problem(api.get("/v1/catalog/categories/no.such", headers=county), 404)
    [e] = _entries(cfg, "catalog")
    assert (e["status"], e["category"]) == (404, "no.such")
    # an admin-only PUT by a county: the refusal by the Admin dependency
    dept = {"id": "x_dept", "name_zh": "某局", "name_en": "Some bureau"}
    assert_problem(api.put("/v1/catalog/departments/x_dept", headers=county, json=dept), 403, "admin")
    [e] = _entries(cfg, "catalog.put_department")
    assert (e["client_name"], e["status"]) == ("typed-county", 403)
    # an invalid parameter is a 400, recorded as one (not as a server error)
    assert_problem(api.get("/v1/indicators", headers=county, params={"period": "yesterday"}), 400, "period")
    [e] = _entries(cfg, "indicators")
    assert e["status"] == 400
    # the evidence's scope (its access decision, a dependency sharing the route's entry)
    assert_problem(api.get("/v1/indicators/5/evidence", headers=county,
                           params={"region": DECHENG, "period": str(DAY)}), 403)
    [e] = _entries(cfg, "indicators.evidence")
    assert (e["status"], e["filters"]) == (403, {"code": "5", "region": DECHENG})
    # grants: read, decide by someone who may not, decide twice
    g = api.post("/v1/grants", headers=county, json={"category": w["conditional"].id, "days": 7,
                                                     "purpose": "auditing the refusals"}).json()
    assert_problem(api.get("/v1/grants/nope", headers=county), 404)
    assert_problem(api.post(f"/v1/grants/{g['id']}/approve", headers=county), 403)
    assert api.post(f"/v1/grants/{g['id']}/approve", headers=owner).status_code == 200
    assert_problem(api.post(f"/v1/grants/{g['id']}/reject", headers=owner), 409, "already approved")
    assert [(e["status"], e["filters"]) for e in _entries(cfg, "grants.get")] == [(404, {"grant": "nope"})]
    approvals = sorted((e["client_name"], e["status"], e["category"]) for e in _entries(cfg, "grants.approve"))
    assert approvals == [("typed-county", 403, w["conditional"].id), ("typed-owner", 200, w["conditional"].id)]
    [e] = _entries(cfg, "grants.reject")
    assert (e["status"], e["category"]) == (409, w["conditional"].id)
    [e] = _entries(cfg, "grants.apply")
    assert (e["status"], e["rows"], e["filters"]) == (201, 1, {"grant": g["id"]})
    # reads that did not audit before now do
    assert api.get("/v1/grants", headers=county).status_code == 200
    [e] = _entries(cfg, "grants.list")
    assert (e["client_name"], e["status"], e["rows"]) == ("typed-county", 200, 1)
    # the audit log's reader: refused by its dependency, with the route's entry
    assert_problem(api.get("/v1/audit", headers=county), 403)
    assert api.get("/v1/audit", headers=admin).status_code == 200
    assert sorted((e["client_name"], e["status"]) for e in _entries(cfg, "audit")) == [
        ("typed-admin", 200), ("typed-county", 403)]
    # open metadata: anonymous reads and refusals in CKAN's envelope are audited too
    assert api.get("/api/3/action/package_show", params={"id": "no-such-package"}).status_code == 404
    assert api.post("/api/3/action/package_search", content=b"{", headers={"content-type": "application/json"}
                    ).status_code == 400
    assert api.get("/v1/open/dcat.jsonld").status_code == 200
    assert [(e["client_id"], e["status"]) for e in _entries(cfg, "open.ckan.package_show")] == [(None, 404)]
    assert [(e["client_id"], e["status"]) for e in _entries(cfg, "open.ckan.package_search")] == [(None, 400)]
    assert [(e["client_id"], e["status"]) for e in _entries(cfg, "open.dcat")] == [(None, 200)]
    # without a token there is no caller: a 401 is not an entry
    before = len(audit.search(cfg, limit=10_000))
    assert_problem(api.get("/v1/star-readiness"), 401)
    assert_problem(api.get("/v1/indicators", headers=auth("not-a-token")), 401)
    assert len(audit.search(cfg, limit=10_000)) == before
