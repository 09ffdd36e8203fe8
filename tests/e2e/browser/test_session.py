"""Signing in to the pages in a real browser: a page that needs a session sends an
anonymous visitor to the sign-in page, which signs in with a client's credentials and
returns to where the visitor was going; the session's token is out of the page's
scripts' reach (HttpOnly cookie), only the CSRF token is readable; a wrong secret is
said on the page; signing out ends the session. Screenshots at 1920x1080."""
from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

from cityhub.api.serve import wait_ready
from tests.conftest import free_port, serving
from tests.e2e.browser.conftest import QIHE, SCREENSHOTS, VIEWPORT, Requests
from tests.integration.api.oidc_provider import Provider


def test_an_anonymous_visitor_signs_in_and_returns_to_the_page(open_as, hub):
    s = open_as(None)
    page = s.page
    page.goto(hub.base + "/console")
    page.wait_for_url("**/login?next=%2Fconsole*")  # the API's 401, turned into the sign-in page
    page.wait_for_selector("#login-form")
    s.screenshot("login")
    c = hub.clients["county-qihe"]
    page.fill("#client_id", c.client_id)
    page.fill("#client_secret", c.secret)
    page.click("#login-submit")
    page.wait_for_url("**/console")
    page.wait_for_function("document.body.dataset.ready === '1'")
    cookies = {x["name"]: x for x in page.context.cookies()}
    assert cookies["cityhub_session"]["httpOnly"] and cookies["cityhub_session"]["sameSite"] == "Strict"
    assert not cookies["cityhub_csrf"]["httpOnly"]
    readable = page.evaluate("document.cookie")
    assert "cityhub_csrf=" in readable and "cityhub_session" not in readable
    who = page.evaluate("cityhub.api('/v1/session')")
    assert who["role"] == "county" and who["region"] == QIHE and who["name"] == "browser-county-qihe"
    page.wait_for_selector("#session-who:not(:empty)")
    assert "browser-county-qihe" in page.inner_text("#session-who")


def test_a_wrong_secret_is_said_on_the_page(open_as, hub):
    s = open_as(None)
    page = s.goto("/login?next=/catalogue")
    page.fill("#client_id", hub.clients["admin"].client_id)
    page.fill("#client_secret", "not-the-secret")
    with page.expect_response(lambda r: r.url.endswith("/v1/session")) as answer:
        page.click("#login-submit")
    assert answer.value.status == 401
    page.wait_for_selector("#login-error:not([hidden])")
    assert "客户端 ID 或密钥不正确" in page.inner_text("#login-error")
    assert page.url.endswith("/login?next=/catalogue")
    assert "cityhub_session" not in {x["name"] for x in page.context.cookies()}
    s.screenshot("login-refused")


def test_signing_out_ends_the_session(open_as, hub):
    s = open_as("admin")
    page = s.goto("/catalogue")
    page.wait_for_selector("#session-logout:not([hidden])")
    page.click("#session-logout")
    page.wait_for_url("**/login")
    assert "cityhub_session" not in {x["name"] for x in page.context.cookies()}
    status = page.evaluate("async () => (await fetch('/v1/session', {credentials: 'same-origin'})).status")
    assert status == 401


def test_a_county_user_signs_in_through_the_city_identity_platform(browser, hub):
    """The whole OpenID Connect round trip in the browser: the hub (served with
    ``CITYHUB_OIDC_*`` over the same world) sends the person to a real provider on
    loopback, which sends them back with a code; the hub checks the ID token and maps its
    claims to a county user, who then sees only its county."""
    with Provider().serving() as idp:
        idp.who = {"sub": "qihe-0042", "preferred_username": "qihe.li", "groups": ["county-staff"],
                   "county_code": QIHE}
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")} | {
            "CITYHUB_HOME": str(hub.home), **idp.settings_env()}
        with serving([sys.executable, "-m", "cityhub.cli.main", "serve", "--host", "127.0.0.1", "--port",
                      str(port), "--workers", "1"], port, env=env):
            base = f"http://127.0.0.1:{port}"
            wait_ready(base)
            context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
            reqs = Requests()
            context.route("**/*", reqs.route)
            try:
                page = context.new_page()
                every: list[str] = []  # redirects included (a route sees only the first request of a chain)
                page.on("request", lambda r: every.append(r.url))
                page.goto(base + "/login?next=/console")
                page.wait_for_selector("#login-oidc")
                page.click("#login-oidc")
                page.wait_for_url(base + "/console")
                page.wait_for_function("document.body.dataset.ready === '1'")
                assert any(u.startswith(idp.issuer + "/authorize") for u in every)
                assert any("/login/oidc/callback?code=" in u for u in every)
                assert {urlsplit(u).hostname for u in every if urlsplit(u).scheme.startswith("http")} == {"127.0.0.1"}
                me = page.evaluate("cityhub.api('/v1/session')")
                assert me["role"] == "county" and me["region"] == QIHE and me["name"] == "oidc:qihe.li"
                assert page.locator("#connectors .refused").get_attribute("data-status") == "403"
                scopes = set(page.locator('#datasets-table [data-field="scope"]').all_inner_texts())
                assert scopes == {QIHE}
                # an unknown role is refused on the sign-in page, saying why
                other = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
                other.route("**/*", reqs.route)
                idp.who = {"sub": "guest-1", "preferred_username": "guest", "groups": ["visitors"]}
                p2 = other.new_page()
                p2.goto(base + "/login/oidc?next=/console")
                p2.wait_for_selector("#login-error")
                assert "no role this hub knows" in p2.inner_text("#login-error")
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                p2.screenshot(path=str(SCREENSHOTS / "login-oidc-refused.png"))
                other.close()
            finally:
                context.close()
    assert reqs.outside == [], reqs.outside
