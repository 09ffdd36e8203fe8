"""Signing in to the pages, in-process: a client's credentials give a session kept in an
HttpOnly, SameSite=Strict cookie, which authenticates as the bearer token does (same
principal, scope, audit); a request it authenticates that changes something needs the
session's CSRF token in ``X-CSRF-Token``; signing out clears the cookies. Also the
console's API (``/v1/connectors``, ``/v1/datasets``) and who may read it."""
from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cityhub.access import catalogue, session
from cityhub.api.main import create_app
from cityhub.lake.hubdb import audit_log, engine
from tests.integration.api.world import DECHENG, QIHE, land_cameras
from tests.support import assert_problem, auth, credentials, token


def _set_cookies(r) -> dict[str, dict]:
    """The Set-Cookie headers of an answer: name -> its attributes (lower-cased)."""
    out = {}
    for header in r.headers.get_list("set-cookie"):
        c = SimpleCookie()
        c.load(header)
        for name, morsel in c.items():
            attrs = {k.lower(): v for k, v in morsel.items() if v}
            flags = {f.strip().lower() for f in header.split(";")[1:]}
            attrs["httponly"] = "httponly" in flags
            attrs["secure"] = "secure" in flags
            out[name] = {"value": morsel.value, **attrs}
    return out


def sign_in(api, client_id: str, secret: str):
    return api.post("/v1/session", data={"client_id": client_id, "client_secret": secret})


@pytest.fixture
def pending_grant(api, cfg, decl):
    """A county's pending grant on a conditional category, and the owning department's credentials."""
    cat = catalogue.current(cfg, decl)
    c = next(c for c in cat.categories.values() if c.share_type == "conditional")
    county = token(cfg, decl, "qihe-app", "county", QIHE)
    r = api.post("/v1/grants", headers=auth(county),
                 json={"category": c.id, "purpose": "county apps need these rows", "days": 30})
    assert r.status_code == 201, r.text
    return r.json()["id"], credentials(cfg, decl, "owner-desk", "department", department=c.owner)


def test_a_session_cookie_is_httponly_strict_and_authenticates_reads(api, cfg, decl):
    cid, secret = credentials(cfg, decl, "qihe-desk", "county", QIHE)
    r = sign_in(api, cid, secret)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "county" and r.json()["region"] == QIHE
    cookies = _set_cookies(r)
    s = cookies[session.COOKIE]
    assert s["httponly"] and s["samesite"].lower() == "strict" and s["path"] == "/" and not s["secure"]
    assert s["value"] and s["value"] not in r.text  # the token is never handed to the page's scripts
    csrf = cookies[session.CSRF_COOKIE]
    assert not csrf["httponly"] and csrf["samesite"].lower() == "strict"
    assert csrf["value"] == session.csrf_token(cfg, s["value"])
    # the cookie authenticates GETs, with the caller's scope: its own county only
    me = api.get("/v1/session")
    assert me.status_code == 200 and me.json()["name"] == "qihe-desk"
    assert api.get("/v1/catalog").status_code == 200
    assert_problem(api.get("/v1/indicators", params={"region": DECHENG}), 403, QIHE)
    # audited as the same client a bearer token would be
    with engine(cfg.hub_db_uri).connect() as con:
        actions = {r.action for r in con.execute(select(audit_log).where(audit_log.c.client_id == cid))}
    assert {"session.create", "session.show", "catalog"} <= actions


def test_wrong_credentials_are_refused_and_rate_limited_as_the_token_endpoint(api, cfg, decl):
    cid, secret = credentials(cfg, decl, "linyi-desk", "county", "371424")
    bad = sign_in(api, cid, "wrong")
    assert_problem(bad, 401, "secret")
    assert session.COOKIE not in _set_cookies(bad)
    for _ in range(12):
        r = sign_in(api, cid, "wrong")
    assert_problem(r, 429, "too many failed")
    assert int(r.headers["Retry-After"]) >= 1
    # the token endpoint shares the count: the id is blocked there too, even with its secret
    t = api.post("/v1/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret})
    assert t.status_code == 429
    assert_problem(api.post("/v1/session", data={"client_id": cid}), 400, "client_secret")


def test_a_cookie_session_changes_nothing_without_the_csrf_header(api, cfg, decl, pending_grant):
    grant_id, (cid, secret) = pending_grant
    assert sign_in(api, cid, secret).status_code == 200
    csrf = api.cookies.get(session.CSRF_COOKIE)
    assert_problem(api.post(f"/v1/grants/{grant_id}/approve"), 403, "X-CSRF-Token")
    assert_problem(api.post(f"/v1/grants/{grant_id}/approve", headers={"X-CSRF-Token": "forged"}), 403,
                   "does not match")
    # a CSRF token of another session does not help either
    other_cid, other_secret = credentials(cfg, decl, "other-desk", "admin")
    with TestClient(api.app) as other:
        assert sign_in(other, other_cid, other_secret).status_code == 200
        assert_problem(api.post(f"/v1/grants/{grant_id}/approve",
                                headers={"X-CSRF-Token": other.cookies.get(session.CSRF_COOKIE)}), 403)
    assert api.get(f"/v1/grants/{grant_id}").json()["status"] == "pending"  # nothing happened
    ok = api.post(f"/v1/grants/{grant_id}/approve", headers={"X-CSRF-Token": csrf}, json={"note": "ok"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved" and ok.json()["decided_by"] == "owner-desk"


def test_bearer_tokens_need_no_csrf_header(api, cfg, decl, pending_grant):
    grant_id, (cid, secret) = pending_grant
    tok = api.post("/v1/token", data={"grant_type": "client_credentials", "client_id": cid,
                                      "client_secret": secret}).json()["access_token"]
    with TestClient(api.app) as program:  # no cookies at all
        r = program.post(f"/v1/grants/{grant_id}/reject", headers=auth(tok))
        assert r.status_code == 200 and r.json()["status"] == "rejected"


def test_open_data_posted_with_the_cookie_but_no_csrf_header_is_answered_as_to_anyone(api, cfg, decl):
    """An open route takes a token but needs none: a cookie without the CSRF header is
    not used (its authority stays unused), the request is answered as an anonymous one."""
    cid, secret = credentials(cfg, decl, "open-desk", "county", QIHE)
    assert sign_in(api, cid, secret).status_code == 200
    r = api.post("/api/3/action/package_list")
    assert r.status_code == 200 and r.json()["success"] is True
    with engine(cfg.hub_db_uri).connect() as con:
        last = con.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).first()
    assert last.client_id is None  # audited as anonymous, not as the cookie's client


def test_signing_out_clears_the_cookies(api, cfg, decl):
    cid, secret = credentials(cfg, decl, "admin-desk", "admin")
    assert sign_in(api, cid, secret).status_code == 200
    assert api.get("/v1/session").status_code == 200
    out = api.post("/v1/session/logout")
    assert out.status_code == 204
    cleared = _set_cookies(out)
    for name in (session.COOKIE, session.CSRF_COOKIE):
        assert cleared[name]["value"] == "" and cleared[name]["max-age"] == "0"
    assert session.COOKIE not in api.cookies
    assert_problem(api.get("/v1/session"), 401)
    # DELETE /v1/session does the same (the pages' sign-out button)
    assert sign_in(api, cid, secret).status_code == 200
    assert api.delete("/v1/session").status_code == 204
    assert_problem(api.get("/v1/session"), 401)


def test_a_sign_in_posted_from_another_site_is_refused(api, cfg, decl):
    cid, secret = credentials(cfg, decl, "x-desk", "admin")
    r = api.post("/v1/session", data={"client_id": cid, "client_secret": secret},
                 headers={"Origin": "https://evil.example"})
    assert_problem(r, 403, "another site")


def test_cookies_are_secure_behind_https(hub_home, monkeypatch, decl):
    from cityhub.core.settings import Settings

    monkeypatch.setenv("CITYHUB_PUBLIC_URL", "https://data.example.gov.cn")
    cfg = Settings()
    app = create_app(cfg, decl)
    cid, secret = credentials(cfg, decl, "tls-desk", "admin")
    with TestClient(app, base_url="https://data.example.gov.cn") as api:
        cookies = _set_cookies(sign_in(api, cid, secret))
        assert cookies[session.COOKIE]["secure"] and cookies[session.CSRF_COOKIE]["secure"]


@pytest.mark.parametrize("target,expected", [("/console", "/console"), ("/catalogue?x=1", "/catalogue?x=1"),
                                             ("//evil.example/", "/"), ("https://evil.example", "/"),
                                             ("/\\evil.example", "/"), (None, "/")])
def test_after_signing_in_the_browser_only_goes_to_this_hubs_pages(target, expected):
    assert session.safe_next(target) == expected


# -- the console's API ---------------------------------------------------------------------

def test_connectors_status_for_operators_only(api, cfg, decl, lake):
    land_cameras(lake, per_county=4, key_areas=1, parts=("registry",))
    admin = auth(token(cfg, decl, "ops", "admin"))
    r = api.get("/v1/connectors", headers=admin)
    assert r.status_code == 200, r.text
    rows = {c["connector"]: c for c in r.json()["connectors"]}
    assert set(decl.connectors) <= set(rows)
    reg = rows["camera_registry"]
    assert reg["landed"] > 0 and reg["fresh"] is True and reg["result"].startswith("ok")
    assert reg["failures"] == 0 and reg["freshness_hours"] > 0 and reg["age_hours"] < 1
    assert rows["camera_key_areas"]["result"] == "never run" and rows["camera_key_areas"]["fresh"] is None
    # a department sees the feeds of its own categories only; a county none
    owner = catalogue.current(cfg, decl).category_of("camera_registry").owner
    dept = api.get("/v1/connectors", headers=auth(token(cfg, decl, "d", "department", department=owner)))
    assert dept.status_code == 200
    own = {c["dataset"] for c in dept.json()["connectors"]}
    cat = catalogue.current(cfg, decl)
    assert own and all(cat.category_of(d).owner == owner for d in own)
    assert_problem(api.get("/v1/connectors", headers=auth(token(cfg, decl, "c", "county", QIHE))), 403,
                   "connectors' status")


def test_datasets_with_rows_and_snapshots_in_the_callers_scope(api, cfg, decl, lake):
    land_cameras(lake, per_county=6, key_areas=1, parts=("registry",))
    admin = {d["dataset"]: d for d in api.get("/v1/datasets", headers=auth(token(cfg, decl, "a", "admin")))
             .json()["datasets"]}
    total = lake.query("SELECT count(*) FROM camera_registry", ["camera_registry"])[0][0].as_py()
    assert admin["camera_registry"]["rows"] == total > 0 and admin["camera_registry"]["scope"] == "all"
    assert admin["camera_registry"]["snapshots"] >= 1 and admin["camera_registry"]["snapshot_id"]
    county = {d["dataset"]: d for d in api.get("/v1/datasets", headers=auth(token(cfg, decl, "q", "county", QIHE)))
              .json()["datasets"]}
    mine = lake.query("SELECT count(*) FROM camera_registry WHERE region = ?", ["camera_registry"],
                      [QIHE])[0][0].as_py()
    assert county["camera_registry"]["rows"] == mine < total and county["camera_registry"]["scope"] == QIHE
    # a category the county may not read (conditional, no grant) is not listed at all
    cat = catalogue.current(cfg, decl)
    conditional = {d for c in cat.categories.values() if c.share_type == "conditional" for d in c.datasets}
    assert conditional and not conditional & set(county) and conditional & set(admin)
