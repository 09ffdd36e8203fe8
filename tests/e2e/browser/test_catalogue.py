"""The catalogue and grants page in a real browser, as each role: the categories with
their share and open types and update cycles are the API's for that caller; the owning
department approves and rejects grant requests with the page's buttons (through the
session cookie and its CSRF header; the same request without the header is refused);
a county sees its own requests and their state, never another county's. Every
request stays on 127.0.0.1; screenshots at 1920x1080."""
from __future__ import annotations

import httpx
import pytest

from tests.e2e.browser.conftest import DECHENG, QIHE
from tests.e2e.browser.people import CONDITIONAL, county_applicant, department


def _apply(hub, client, purpose: str, scope: str = "county") -> dict:
    r = httpx.post(f"{hub.base}/v1/grants", headers={"Authorization": f"Bearer {client.token}"}, timeout=30,
                   json={"category": CONDITIONAL, "purpose": purpose, "scope": scope, "days": 30})
    assert r.status_code == 201, r.text
    return r.json()


def _grant(hub, role: str, gid: str) -> dict:
    return hub.api(role, f"/v1/grants/{gid}")


@pytest.fixture
def requests_pending(hub):
    """Two pending requests of a Qihe desk and one of a Decheng desk for the department's category."""
    qihe, decheng = county_applicant(hub, QIHE), county_applicant(hub, DECHENG)
    return (_apply(hub, qihe, "齐河县社保稽核比对需要的业务记录"), _apply(hub, qihe, "齐河县另一项用途：统计分析"),
            _apply(hub, decheng, "德城区社保业务数据共享申请"))


@pytest.mark.parametrize("role", ["admin", "scoring", "county-qihe", "department-hrss"])
def test_the_catalogue_shown_is_the_apis_for_each_role(open_as, hub, role):
    if role == "department-hrss":
        department(hub)
    s = open_as(role)
    page = s.goto("/catalogue")
    api = hub.api(role, "/v1/catalog")["categories"]
    shown = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#catalog-table tbody tr')].map(
        (tr) => [tr.dataset.category, ['share_type', 'open_type', 'update_cycle'].map(
            (f) => tr.querySelector(`[data-field="${f}"]`).dataset.value)]))""")
    assert shown == {c["id"]: [c["share_type"], c["open_type"], c["update_cycle"]] for c in api}
    assert page.locator('#catalog-table td[data-field="share_type"]').first.inner_text() in (
        "无条件共享", "有条件共享", "不予共享")
    s.screenshot("catalogue")


def test_the_owning_department_approves_and_rejects_through_the_page(open_as, hub, requests_pending):
    first, second, other_county = requests_pending
    department(hub)
    s = open_as("department-hrss")
    page = s.goto("/catalogue")
    for g in requests_pending:
        assert page.locator(f'#decide-table tr[data-grant="{g["id"]}"][data-status="pending"]').count() == 1
    s.screenshot("catalogue-decide")
    # CSRF: the session alone changes nothing, from the page's own origin even
    bare = page.evaluate("""async (id) => { const r = await fetch(`/v1/grants/${id}/approve`,
                              {method: 'POST', credentials: 'same-origin'}); return [r.status, (await r.json()).detail]; }""",
                         first["id"])
    assert bare[0] == 403 and "X-CSRF-Token" in bare[1]
    assert _grant(hub, "department-hrss", first["id"])["status"] == "pending"
    # the buttons send it
    with page.expect_response(lambda r: r.url.endswith(f"/v1/grants/{first['id']}/approve")) as answer:
        page.click(f'#decide-table tr[data-grant="{first["id"]}"] button[data-action="approve"]')
    assert answer.value.status == 200 and answer.value.request.headers.get("x-csrf-token")
    page.wait_for_selector(f'#decide-table tr[data-grant="{first["id"]}"][data-status="approved"]')
    with page.expect_response(lambda r: r.url.endswith(f"/v1/grants/{second['id']}/reject")):
        page.click(f'#decide-table tr[data-grant="{second["id"]}"] button[data-action="reject"]')
    page.wait_for_selector(f'#decide-table tr[data-grant="{second["id"]}"][data-status="rejected"]')
    approved, rejected = _grant(hub, "department-hrss", first["id"]), _grant(hub, "department-hrss", second["id"])
    assert approved["status"] == "approved" and approved["live"] and approved["decided_by"] == "browser-department-hrss"
    assert rejected["status"] == "rejected" and rejected["decided_by"] == "browser-department-hrss"
    assert _grant(hub, "department-hrss", other_county["id"])["status"] == "pending"
    s.screenshot("catalogue-decided")


def test_a_county_sees_its_own_requests_and_their_state_never_another_countys(open_as, hub, requests_pending):
    first, _, other_county = requests_pending
    s = open_as("applicant-371425")
    page = s.goto("/catalogue")
    api = hub.api("applicant-371425", "/v1/grants")["grants"]
    shown = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#mine-table tbody tr')].map(
        (tr) => [tr.dataset.grant, tr.dataset.status]))""")
    assert shown == {g["id"]: g["status"] for g in api}
    assert first["id"] in shown and other_county["id"] not in shown
    assert page.locator(f'[data-grant="{other_county["id"]}"]').count() == 0
    assert page.locator("#decide").is_hidden() and page.locator("button[data-action]").count() == 0
    # the county cannot decide its own request, whatever the page is made to send
    tried = page.evaluate("""async (id) => { try { await cityhub.api(`/v1/grants/${id}/approve`, {method: 'POST'}); }
                               catch (e) { return [e.status, e.message]; } return [200, '']; }""", first["id"])
    assert tried[0] == 403
    # nor read another county's request by its id
    peek = page.evaluate("""async (id) => (await fetch(`/v1/grants/${id}`, {credentials: 'same-origin'})).status""",
                         other_county["id"])
    assert peek == 404
    s.screenshot("catalogue")
