"""Signing in through the city's OpenID Connect provider: the hub (in-process) runs the
authorization-code flow with PKCE against a real provider served over HTTP on loopback
(``oidc_provider.py``: discovery, JWKS, RS256 ID tokens), validates the ID token
(signature, issuer, audience, expiry, nonce) and maps its claims to the hub's roles,
county and department. A county user then reads only its county; an ID token for
another audience or an expired one, an unknown role, county or department is refused
with a clear message."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from cityhub.access import catalogue, clients, session
from cityhub.api.main import create_app
from cityhub.core.settings import Settings
from tests.integration.api.oidc_provider import Provider
from tests.integration.api.world import DECHENG, QIHE, land_cameras
from tests.support import assert_problem


@pytest.fixture
def idp():
    with Provider().serving() as p:
        yield p


@pytest.fixture
def hub(hub_home, monkeypatch, decl, idp):
    for k, v in idp.settings_env().items():
        monkeypatch.setenv(k, v)
    cfg = Settings()
    with TestClient(create_app(cfg, decl)) as api:
        yield api, cfg


def said(r) -> str:
    """What the sign-in page says went wrong."""
    m = re.search(r'id="login-error" role="alert">(.*?)</p>', r.text, re.DOTALL)
    return html.unescape(m.group(1)) if m else ""


def sign_in(api, idp, who: dict, next_path: str = "/console"):
    """A browser's round trip: the hub sends it to the provider, the provider back to
    the hub's callback with a code; returns the callback's answer."""
    idp.who = who
    start = api.get("/login/oidc", params={"next": next_path}, follow_redirects=False)
    assert start.status_code == 302, start.text
    to_idp = start.headers["location"]
    q = parse_qs(urlsplit(to_idp).query)
    assert to_idp.startswith(idp.issuer + "/authorize")
    assert q["code_challenge_method"] == ["S256"] and q["code_challenge"][0] and q["nonce"][0] and q["state"][0]
    assert "openid" in q["scope"][0].split()
    back = httpx.get(to_idp, follow_redirects=False)  # the provider, over HTTP
    assert back.status_code == 302, back.text
    cb = urlsplit(back.headers["location"])
    assert cb.path == "/login/oidc/callback"
    return api.get(f"{cb.path}?{cb.query}", follow_redirects=False)


def test_a_county_user_signs_in_and_sees_only_its_county(hub, idp, decl):
    api, cfg = hub
    land_cameras(api.app.state.hub.lake, per_county=4, key_areas=1, parts=("registry",))
    r = sign_in(api, idp, {"sub": "u-1001", "preferred_username": "wang.li", "groups": ["staff", "county-staff"],
                           "county_code": QIHE})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console"
    assert api.cookies.get(session.COOKIE) and api.cookies.get(session.CSRF_COOKIE)
    assert idp.token_requests[-1]["code_verifier"]  # PKCE verifier sent with the code
    me = api.get("/v1/session").json()
    assert me["role"] == "county" and me["region"] == QIHE and me["name"] == "oidc:wang.li"
    # the same principal as a client: its county only
    assert_problem(api.get("/v1/indicators", params={"region": DECHENG}), 403, QIHE)
    rows = {d["dataset"]: d for d in api.get("/v1/datasets").json()["datasets"]}
    assert rows["camera_registry"]["scope"] == QIHE
    # disabling the person stops the session at once, and the next sign-in too
    clients.set_disabled(cfg, "oidc:wang.li", True)
    assert_problem(api.get("/v1/session"), 401, "disabled")
    again = sign_in(api, idp, {"sub": "u-1001", "preferred_username": "wang.li", "groups": "county-staff",
                               "county_code": QIHE})
    assert again.status_code == 401 and "disabled" in said(again)


def test_a_department_user_maps_to_its_department(hub, idp, decl):
    api, cfg = hub
    dept = next(iter(catalogue.current(cfg, decl).departments))
    r = sign_in(api, idp, {"sub": "d-7", "preferred_username": "zhao", "groups": "dept-staff", "dept": dept})
    assert r.status_code == 303, r.text
    me = api.get("/v1/session").json()
    assert me["role"] == "department" and me["department"] == dept and me["region"] is None


@pytest.mark.parametrize("tamper,why", [({"aud": "another-app"}, "aud"),
                                        ({"aud": ["another-app"], "azp": "cityhub"}, "aud"),
                                        ({"exp": 1_000_000, "iat": 999_000}, "expired"),
                                        ({"iss": "http://127.0.0.1:1/evil"}, "iss")])
def test_an_id_token_for_another_audience_expired_or_from_another_issuer_is_refused(hub, idp, tamper, why):
    api, _ = hub
    idp.tamper = tamper
    r = sign_in(api, idp, {"sub": "u-1", "groups": "county-staff", "county_code": QIHE})
    assert r.status_code == 401
    assert "ID token was refused" in said(r) and why in said(r), said(r)
    assert session.COOKIE not in api.cookies
    assert_problem(api.get("/v1/session"), 401)


@pytest.mark.parametrize("who,words", [
    ({"sub": "x", "preferred_username": "guest", "groups": ["visitors"]}, "no role this hub knows"),
    ({"sub": "y", "preferred_username": "li", "groups": "county-staff", "county_code": "999999"}, "not a declared county"),
    ({"sub": "z", "preferred_username": "he", "groups": "dept-staff", "dept": "no-such-dept"}, "not a department"),
    ({"sub": "w", "preferred_username": "two", "groups": ["ops", "county-staff"], "county_code": QIHE}, "several roles"),
])
def test_unknown_users_and_roles_are_refused_with_a_clear_message(hub, idp, who, words):
    api, _ = hub
    r = sign_in(api, idp, who)
    assert r.status_code == 403 and words in said(r), said(r)
    assert "text/html" in r.headers["content-type"]  # the sign-in page, saying why
    assert session.COOKIE not in api.cookies


def test_an_answer_that_does_not_belong_to_the_sign_in_under_way_is_refused(hub, idp):
    api, _ = hub
    idp.who = {"sub": "u-2", "groups": "county-staff", "county_code": QIHE}
    start = api.get("/login/oidc", follow_redirects=False)
    back = httpx.get(start.headers["location"], follow_redirects=False)
    cb = urlsplit(back.headers["location"])
    forged = cb.query.replace("state=", "state=x")
    r = api.get(f"{cb.path}?{forged}", follow_redirects=False)
    assert r.status_code == 401 and "state mismatch" in said(r)
    with TestClient(api.app) as fresh:  # another browser: no sign-in under way
        r = fresh.get(f"{cb.path}?{cb.query}", follow_redirects=False)
        assert r.status_code == 401 and "no sign-in is under way" in said(r)


def test_without_a_provider_the_page_says_to_use_client_credentials(api):
    r = api.get("/login/oidc", follow_redirects=False)
    assert r.status_code == 503 and "not configured" in said(r)
    assert "login-oidc" not in api.get("/login").text
