"""The engineers' console in a real browser (Debian's Chromium), as each role: the
connectors, quarantine and datasets it shows are the API's values for that caller;
what the API refuses a role the page shows as refused, with the API's reason; an item
is read raw and released through the page (with the session's CSRF header). Every
request stays on 127.0.0.1; screenshots at 1920x1080."""
from __future__ import annotations

import pytest

from tests.e2e.browser.conftest import QIHE
from tests.e2e.browser.people import department


def _cells(page, table: str, key: str, fields: list[str]) -> dict[str, dict[str, str]]:
    """Each row of ``table`` by its ``data-<key>``: the ``data-value`` (or text) of its cells."""
    return page.evaluate(
        """([table, key, fields]) => Object.fromEntries([...document.querySelectorAll(`#${table} tbody tr`)].map(
             (tr) => [tr.dataset[key], Object.fromEntries(fields.map((f) => {
               const td = tr.querySelector(`[data-field="${f}"]`);
               return [f, td ? (td.dataset.value !== undefined ? td.dataset.value : td.innerText) : null];
             }))]))""", [table, key, fields])


def _same_connectors(page, api_rows: list[dict]) -> None:
    shown = _cells(page, "connectors-table", "connector", ["landed", "quarantined", "lag", "failures", "fresh"])
    assert set(shown) == {c["connector"] for c in api_rows}
    for c in api_rows:
        s = shown[c["connector"]]
        assert int(s["landed"]) == c["landed"] and int(s["quarantined"]) == c["quarantined"], c["connector"]
        assert s["lag"] == ("" if c["lag"] is None else str(c["lag"])) and int(s["failures"]) == c["failures"]
        fresh = page.locator(f'#connectors-table tr[data-connector="{c["connector"]}"] [data-fresh]').get_attribute("data-fresh")
        assert fresh == ("none" if c["fresh"] is None else str(c["fresh"]).lower())


def _same_datasets(page, api_rows: list[dict]) -> None:
    shown = _cells(page, "datasets-table", "dataset", ["rows", "snapshots", "snapshot_id", "scope"])
    assert set(shown) == {d["dataset"] for d in api_rows}
    for d in api_rows:
        s = shown[d["dataset"]]
        assert int(s["rows"]) == d["rows"] and int(s["snapshots"]) == d["snapshots"], d["dataset"]
        assert s["snapshot_id"] == (d["snapshot_id"] or "—")


def test_an_admin_sees_every_feed_dataset_and_quarantined_item_as_the_api_does(open_as, hub):
    s = open_as("admin")
    page = s.goto("/console")
    assert s.signed_in_by == "session-cookie"
    _same_connectors(page, hub.api("admin", "/v1/connectors")["connectors"])
    _same_datasets(page, hub.api("admin", "/v1/datasets")["datasets"])
    items = hub.api("admin", "/v1/quarantine", limit=50)["items"]
    shown = page.locator("#quarantine-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.item)") if items else []
    assert shown == [it["id"] for it in items]
    assert page.locator("#connectors-table tbody tr").count() >= 10
    print(f"console ready {page.evaluate('window.cityhubReadyAt'):.0f} ms after navigation (admin)")
    s.screenshot("console")


def test_the_quarantine_browser_filters_reads_raw_items_and_releases_them(open_as, hub):
    every = hub.api("admin", "/v1/quarantine", limit=1000)["items"]
    if not every:
        pytest.skip("the simulated world quarantined nothing")
    it = every[-1]
    reason = it["reason"].split(":")[0]
    s = open_as("admin")
    page = s.goto("/console")
    page.select_option("#q-connector", it["connector"])
    page.fill("#q-reason", reason)
    with page.expect_response(lambda r: "/v1/quarantine?" in r.url):
        page.click("#quarantine-filter button[type=submit]")
    want = hub.api("admin", "/v1/quarantine", connector=it["connector"], reason=reason, limit=50)["items"]
    page.wait_for_selector(f'#quarantine-table tr[data-item="{want[0]["id"]}"]')
    shown = page.locator("#quarantine-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.item)")
    assert shown == [x["id"] for x in want] and it["id"] in shown
    assert set(page.locator('#quarantine-table [data-field="connector"]').all_inner_texts()) == {it["connector"]}
    # read the raw item
    page.click(f'#quarantine-table tr[data-item="{it["id"]}"] td:nth-child(3)')
    page.wait_for_selector(f'#item-facts[data-item="{it["id"]}"]')
    detail = hub.api("admin", f"/v1/quarantine/{it['id']}")
    assert page.inner_text("#item-raw") == (detail["raw"] or "（无）")
    assert page.inner_text("#item-reason") == detail["reason"]
    s.screenshot("console-quarantine")
    # release it as it is: it leaves the quarantine under its old reason (landed or re-quarantined)
    with page.expect_response(lambda r: r.url.endswith("/v1/quarantine/release")) as answer:
        page.click("#item-release")
    assert answer.value.status == 200, answer.value.text()
    assert answer.value.request.headers.get("x-csrf-token")
    out = answer.value.json()
    assert it["id"] in out["landed"] + out["already_landed"] + list(out["refused"])
    page.wait_for_selector("#release-result:not([hidden])")
    left = {x["id"] for x in hub.api("admin", "/v1/quarantine", limit=1000)["items"]}
    assert it["id"] not in left


def test_a_county_is_refused_the_feeds_and_sees_only_its_own_county(open_as, hub):
    s = open_as("county-qihe")
    page = s.goto("/console")
    for section in ("connectors", "quarantine"):
        box = page.locator(f"#{section} .refused")
        assert box.get_attribute("data-status") == "403"
        assert "无权访问" in box.inner_text() and "county" in box.inner_text()
    mine = hub.api("county-qihe", "/v1/datasets")["datasets"]
    assert mine and {d["scope"] for d in mine} == {QIHE}
    _same_datasets(page, mine)
    # the page's own session cannot reach another county's rows either
    other = page.evaluate("""async () => { const r = await fetch('/v1/datasets/camera_registry/records?region=371402',
                                             {credentials: 'same-origin'}); return [r.status, (await r.json()).detail]; }""")
    assert other[0] == 403 and QIHE in other[1]
    s.screenshot("console")


def test_a_department_sees_the_feeds_of_its_own_categories(open_as, hub):
    department(hub)
    s = open_as("department-hrss")
    page = s.goto("/console")
    feeds = hub.api("department-hrss", "/v1/connectors")["connectors"]
    assert feeds and {c["dataset"] for c in feeds} <= {"social_security_records"}
    _same_connectors(page, feeds)
    _same_datasets(page, hub.api("department-hrss", "/v1/datasets")["datasets"])
    assert page.locator("#quarantine .refused").count() == 0
    s.screenshot("console")
