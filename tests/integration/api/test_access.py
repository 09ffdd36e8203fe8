"""County apps, in-process: grants (apply, approve, expire), county scoping in every
format, masking in every format, filters, incremental changes, the audit log, rate
limits, catalogue administration, paging while ingest commits, open data and
exports."""
from __future__ import annotations

import io
import threading
import uuid
from datetime import timedelta

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cityhub.api.main import create_app
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.lake.hubdb import engine, grants
from cityhub.pipelines.indicators.engine import compute
from cityhub.pipelines.ingest import runner
from cityhub.read.cursors import encode_cursor
from tests.integration.api.world import (
    DAY,
    DECHENG,
    QIHE,
    SSR,
    count,
    land_cameras,
    land_social_security,
)
from tests.support import assert_problem, auth, credentials, token

REGISTRY = "/v1/datasets/camera_registry"


@pytest.fixture
def tokens(cfg, decl):
    return {
        "qihe": token(cfg, decl, "qihe-app", "county", QIHE),
        "decheng": token(cfg, decl, "decheng-app", "county", DECHENG),
        "hrss": token(cfg, decl, "hrss-dept", "department", department="human_resources_social_security"),
        "admin": token(cfg, decl, "city-admin", "admin"),
    }


@pytest.fixture
def registry(lake):
    """The camera registry of every county (40 cameras each)."""
    land_cameras(lake, per_county=40, key_areas=5, parts=("registry",))


@pytest.fixture
def records(lake):
    """A day of the social-security bureau's business records (400 a county)."""
    land_social_security(lake, 400)


def arrow_rows(r) -> pa.Table:
    assert r.status_code == 200, r.text
    return pa.ipc.open_stream(r.content).read_all()


def every_format(api, tok: str, dataset: str, **params) -> dict[str, pa.Table]:
    """The same query in JSON, CSV and Arrow pages, the Parquet and Arrow exports, and changes."""
    url = f"/v1/datasets/{dataset}"
    h = auth(tok)
    out = {}
    r = api.get(f"{url}/records", headers=h, params={**params, "limit": 10000})
    assert r.status_code == 200, r.text
    out["json"] = pa.Table.from_pylist(r.json()["records"])
    r = api.get(f"{url}/records", headers=h, params={**params, "limit": 10000, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
    out["csv"] = pacsv.read_csv(io.BytesIO(r.content), convert_options=pacsv.ConvertOptions(
        column_types={"id_number": pa.string(), "phone": pa.string(), "region": pa.string()}))
    out["arrow"] = arrow_rows(api.get(f"{url}/records", params={**params, "limit": 10000},
                                      headers={**h, "Accept": "application/vnd.apache.arrow.stream"}))
    r = api.get(f"{url}/export", headers=h, params={**params, "format": "parquet"})
    assert r.status_code == 200, r.text
    out["parquet"] = pq.read_table(io.BytesIO(r.content))
    out["export-arrow"] = arrow_rows(api.get(f"{url}/export", headers=h, params={**params, "format": "arrow"}))
    r = api.get(f"{url}/changes", headers=h, params={**params, "limit": 10000})
    assert r.status_code == 200, r.text
    out["changes"] = pa.Table.from_pylist(r.json()["records"])
    return out


def test_a_county_sees_only_its_county_in_every_format_filter_and_cursor(api, lake, tokens, registry):
    for fmt, table in every_format(api, tokens["qihe"], "camera_registry").items():
        assert table.num_rows == count(lake, "SELECT count(*) FROM camera_registry WHERE region = ?",
                                       ["camera_registry"], [QIHE]), fmt
        assert set(table["region"].to_pylist()) == {QIHE}, fmt
    h = auth(tokens["qihe"])
    for path in ("records", "changes", "export"):
        assert_problem(api.get(f"{REGISTRY}/{path}", headers=h, params={"region": DECHENG}), 403, DECHENG)
    # a filter naming another county's value finds nothing rather than leaking it
    other = lake.query("SELECT device_id FROM camera_registry WHERE region = ? LIMIT 1", ["camera_registry"],
                       [DECHENG])[0][0].as_py()
    r = api.get(f"{REGISTRY}/records", headers=h, params={"device_id": other})
    assert r.status_code == 200 and r.json()["records"] == []
    # a cursor made from another county's key still only continues within the caller's county
    sid = api.get(f"{REGISTRY}/records", headers=h, params={"limit": 1}).json()["snapshot_id"]
    rows = api.get(f"{REGISTRY}/records", headers=h,
                   params={"cursor": encode_cursor(sid, [DECHENG, "2000-01-01", ""]), "limit": 10000}
                   ).json()["records"]
    assert rows and {r["region"] for r in rows} == {QIHE}


def test_conditional_data_needs_a_grant_that_the_owner_approves_and_that_expires(api, cfg, lake, tokens, records):
    q, hrss, admin = auth(tokens["qihe"]), auth(tokens["hrss"]), auth(tokens["admin"])
    assert_problem(api.get(f"{SSR}/records", headers=q), 403, "grant")
    body = {"category": "hrss.records", "purpose": "cross-region pension qualification follow-up",
            "fields": ["id_number"], "days": 30}
    r = api.post("/v1/grants", headers=q, json=body)
    assert r.status_code == 201, r.text
    grant = r.json()
    assert grant["status"] == "pending" and grant["fields"] == ["id_number"] and not grant["live"]
    assert_problem(api.get(f"{SSR}/records", headers=q), 403, "grant")           # pending is not enough
    assert_problem(api.post(f"/v1/grants/{grant['id']}/approve", headers=auth(tokens["decheng"])), 403, "owner")
    assert_problem(api.post("/v1/grants", headers=q, json={**body, "category": "ps.criminal_records"}),
                   403, "not shared")
    assert_problem(api.post("/v1/grants", headers=q, json={**body, "fields": ["salary"]}), 400, "salary")
    pending = api.get("/v1/grants", headers=hrss, params={"status": "pending"}).json()["grants"]
    assert [g["id"] for g in pending] == [grant["id"]]
    r = api.post(f"/v1/grants/{grant['id']}/approve", headers=hrss, json={"note": "ok for 30 days"})
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["live"]
    assert_problem(api.post(f"/v1/grants/{grant['id']}/approve", headers=hrss), 409, "approved")

    raw = {r["serial"]: r for r in lake.query("SELECT serial, id_number, name, phone, region FROM "
                                              "social_security_records", ["social_security_records"]).to_pylist()}
    rows = api.get(f"{SSR}/records", headers=q, params={"limit": 10000}).json()["records"]
    assert rows and {r["region"] for r in rows} == {QIHE}          # county scope: own county only
    assert len(rows) == sum(1 for r in raw.values() if r["region"] == QIHE)
    for r in rows:
        assert r["id_number"] == raw[r["serial"]]["id_number"]      # named in the grant: in clear
        assert r["name"] != raw[r["serial"]]["name"] and set(r["name"][1:]) <= {"*"}
        assert r["phone"][3:7] == "****"
    # the grant lapses: refused again
    with engine(cfg.hub_db_uri).begin() as con:
        con.execute(update(grants).where(grants.c.id == grant["id"]).values(expires_at=now_cst() - timedelta(seconds=1)))
    assert_problem(api.get(f"{SSR}/records", headers=q), 403, "grant")
    # a rejected application gives nothing
    g2 = api.post("/v1/grants", headers=auth(tokens["decheng"]), json={**body, "scope": "city"}).json()
    assert api.post(f"/v1/grants/{g2['id']}/reject", headers=admin).json()["status"] == "rejected"
    assert_problem(api.get(f"{SSR}/records", headers=auth(tokens["decheng"])), 403, "grant")


def test_masking_holds_in_every_format_and_a_city_wide_grant_widens_rows(api, lake, tokens, records):
    q, hrss = auth(tokens["qihe"]), auth(tokens["hrss"])
    g = api.post("/v1/grants", headers=q, json={"category": "hrss.records", "scope": "city", "days": 10,
                                                "purpose": "county social-security service planning"}).json()
    assert api.post(f"/v1/grants/{g['id']}/approve", headers=hrss).status_code == 200
    raw_ids = set(lake.query("SELECT id_number FROM social_security_records",
                             ["social_security_records"])["id_number"].to_pylist())
    total = count(lake, "SELECT count(*) FROM social_security_records", ["social_security_records"])
    assert total > count(lake, "SELECT count(*) FROM social_security_records WHERE region = ?",
                         ["social_security_records"], [QIHE])
    for fmt, table in every_format(api, tokens["qihe"], "social_security_records").items():
        assert table.num_rows == total, fmt                      # city-wide by the grant
        ids = [str(x) for x in table["id_number"].to_pylist()]
        assert not raw_ids & set(ids), fmt
        assert all(x[4:14] == "*" * 10 for x in ids), fmt
        assert all(str(p)[3:7] == "****" for p in table["phone"].to_pylist() if p is not None), fmt
    # filtering on a masked personal field would reveal it: refused
    assert_problem(api.get(f"{SSR}/records", headers=q, params={"id_number": next(iter(raw_ids))}), 403, "personal")
    # the owner reads its own data in clear
    own = api.get(f"{SSR}/records", headers=hrss, params={"limit": 10000}).json()["records"]
    assert {r["id_number"] for r in own} == raw_ids


def _key_cursor(api, h, url) -> str:
    return api.get(url, headers=h, params={"sort": "key", "limit": 1}).json()["next_cursor"]


def test_filters_are_typed_parameters(api, lake, tokens, records):
    h = auth(tokens["hrss"])       # the owner reads its own data
    url = f"{SSR}/records"
    web = api.get(url, headers=h, params={"channel": "web", "limit": 10000}).json()["records"]
    assert web and {r["channel"] for r in web} == {"web"}
    assert len(web) == count(lake, "SELECT count(*) FROM social_security_records WHERE channel = 'web'",
                             ["social_security_records"])
    both = api.get(url, headers=h, params={"channel": "in:web,app", "limit": 10000}).json()["records"]
    assert len(both) == count(lake, "SELECT count(*) FROM social_security_records WHERE channel IN ('web', 'app')",
                              ["social_security_records"])
    assert len(both) > len(web)
    lo, hi = "2026-11-22T09:00:00", "2026-11-22T12:00:00"
    got = api.get(url, headers=h, params=[("accepted_at", f"ge:{lo}"), ("accepted_at", f"lt:{hi}"),
                                          ("limit", "10000")]).json()["records"]
    assert got and all(lo <= x["accepted_at"] < hi for x in got)
    assert len(got) == count(lake, "SELECT count(*) FROM social_security_records WHERE accepted_at >= ? "
                                   "AND accepted_at < ?", ["social_security_records"], [lo, hi])
    # pages come in the lake's order (region, accepted_at, then the key), either way round
    order = [(x["region"], x["accepted_at"], x["serial"]) for x in
             api.get(url, headers=h, params={"limit": 10000}).json()["records"]]
    assert order == sorted(order)
    desc = api.get(url, headers=h, params={"order": "desc", "limit": 5}).json()["records"]
    assert [(x["region"], x["accepted_at"], x["serial"]) for x in desc] == sorted(order, reverse=True)[:5]
    # or by the key, in pages
    by_key, cursor = [], None
    while True:
        body = api.get(url, headers=h, params={"sort": "key", "limit": 50, **({"cursor": cursor} if cursor else {})}
                       ).json()
        by_key += [x["serial"] for x in body["records"]]
        if not (cursor := body["next_cursor"]):
            break
    assert by_key == sorted(x[2] for x in order)
    assert_problem(api.get(url, headers=h, params={"sort": "lake", "cursor": _key_cursor(api, h, url)}),
                   400, "sort")
    assert api.get(url, headers=h, params={"channel": "web' OR '1'='1"}).json()["records"] == []
    assert_problem(api.get(url, headers=h, params={"accepted_at": "ge:yesterday"}), 400, "accepted_at")
    assert_problem(api.get(url, headers=h, params={"business_name": "x"}), 400, "cannot be filtered")
    assert_problem(api.get(url, headers=h, params={"nope": "x"}), 400, "nope")


def test_changes_bring_exactly_what_landed_since_the_cursor(api, lake, tokens, registry):
    h = auth(tokens["qihe"])
    url = f"{REGISTRY}/changes"
    copy, since, calls = {}, None, 0
    while True:                                  # a first sync in small pages
        body = api.get(url, headers=h, params={"limit": 7, **({"since": since} if since else {})}).json()
        calls += 1
        for r in body["records"]:
            copy[(r["as_of"], r["device_id"])] = r
        since = body["next_cursor"]
        if not body["has_more"]:
            break
    expected = count(lake, "SELECT count(*) FROM camera_registry WHERE region = ?", ["camera_registry"], [QIHE])
    assert len(copy) == expected and calls > 1
    again = api.get(url, headers=h, params={"since": since}).json()
    assert again["records"] == [] and not again["has_more"]
    # the next day's registry lands: the next call brings exactly its rows
    nxt = DAY + timedelta(days=1)
    land_cameras(lake, nxt, per_county=40, key_areas=5, parts=("registry",))
    new = api.get(url, headers=h, params={"since": again["next_cursor"], "limit": 10000}).json()
    assert new["records"] and {r["as_of"] for r in new["records"]} == {str(nxt)}
    assert len(new["records"]) == count(lake, "SELECT count(*) FROM camera_registry WHERE region = ? AND as_of = ?",
                                        ["camera_registry"], [QIHE, nxt])
    assert_problem(api.get(url, headers=h, params={"since": "garbage"}), 400, "since")


def test_the_audit_log_records_each_access_and_admins_and_owners_can_read_it(api, tokens, registry):
    q = auth(tokens["qihe"])
    api.get(f"{REGISTRY}/records", headers=q, params={"limit": 3, "channel": "x"})  # refused: not a field
    api.get(f"{REGISTRY}/records", headers=q, params={"limit": 3})
    api.get(f"{SSR}/records", headers=q)                                          # refused: audited too
    entries = api.get("/v1/audit", headers=auth(tokens["admin"]), params={"client": "qihe-app"}).json()["entries"]
    reads = [e for e in entries if e["action"] == "records"]
    assert [e["status"] for e in reads][:3] == [403, 200, 400]
    ok = next(e for e in reads if e["status"] == 200)
    assert ok["rows"] == 3 and ok["dataset"] == "camera_registry" and ok["client_name"] == "qihe-app"
    assert ok["filters"]["region"] == QIHE and ok["category"] == "ps.camera_registry"
    assert_problem(api.get("/v1/audit", headers=q), 403, "audit")
    own = api.get("/v1/audit", headers=auth(tokens["hrss"])).json()["entries"]
    assert own and {e["category"] for e in own} == {"hrss.records"}


def test_rate_limits_answer_429_with_retry_after(hub_home, decl):
    cfg = Settings(rate_limit="5/minute", open_rate_limit="4/minute")
    # an address of this test's own: the in-memory counters live as long as the process
    with TestClient(create_app(cfg, decl), client=(f"rate-limited-{uuid.uuid4().hex}", 50000)) as api:
        client_id, secret = credentials(cfg, decl, "busy-app", "county", QIHE)
        r = api.post("/v1/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                        "client_secret": secret})
        assert r.status_code == 200, r.text
        h = auth(r.json()["access_token"])
        # a sliding-window counter: exact within a minute; across a minute's turn the last
        # minute's count is weighted down and may let one more through (never fewer)
        codes = [api.get(f"{REGISTRY}/records", headers=h).status_code for _ in range(7)]
        assert codes[:5] == [200] * 5 and 429 in codes[5:], codes
        r = api.get(f"{REGISTRY}/records", headers=h)
        assert_problem(r, 429, "rate limit")
        assert int(r.headers["retry-after"]) >= 1
        # without a token the address is counted: the token request above was one of its 4
        opened = [api.get("/v1/open/datasets/medical_institutions/records").status_code for _ in range(5)]
        assert opened[:3] == [200] * 3 and 429 in opened[3:], opened


def test_the_catalogue_is_managed_by_admins(api, tokens):
    a, q = auth(tokens["admin"]), auth(tokens["qihe"])
    cat = api.get("/v1/catalog", headers=a).json()
    assert len(cat["categories"]) >= 55 and all(c["share_type"] and c["open_type"] for c in cat["categories"])
    assert sum(1 for c in cat["categories"] if c["fed"]) >= 10
    seen_by_county = {c["id"] for c in api.get("/v1/catalog", headers=q).json()["categories"]}
    assert "ps.criminal_records" not in seen_by_county and "ps.camera_registry" in seen_by_county
    new = {"id": "ps.parking_lots", "name_zh": "公共停车场", "name_en": "Public car parks", "owner": "public_security",
           "share_type": "unconditional", "open_type": "unconditional", "update_cycle": "daily",
           "fields": [{"name": "lot_id"}, {"name": "spaces", "type": "int64"}]}
    assert_problem(api.put("/v1/catalog/categories/ps.parking_lots", headers=q, json=new), 403, "admin")
    r = api.put("/v1/catalog/categories/ps.parking_lots", headers=a, json=new)
    assert r.status_code == 201, r.text
    assert api.put("/v1/catalog/categories/ps.parking_lots", headers=a, json=new).status_code == 200
    assert_problem(api.put("/v1/catalog/categories/ps.x", headers=a,
                           json={**new, "id": "ps.x", "share_type": "not_shared"}), 400, "legal_basis")
    assert_problem(api.put("/v1/catalog/categories/ps.y", headers=a, json={**new, "id": "ps.y", "owner": "nobody"}),
                   400, "nobody")
    assert_problem(api.put("/v1/catalog/categories/ps.z", headers=a,
                           json={**new, "id": "ps.z", "datasets": ["camera_registry"]}), 409, "camera_registry")
    got = api.get("/v1/catalog/categories/ps.parking_lots", headers=q).json()
    assert got["fed"] is False and [f["name"] for f in got["fields"]] == ["lot_id", "spaces"]
    assert api.delete("/v1/catalog/categories/ps.parking_lots", headers=a).status_code == 204
    assert_problem(api.get("/v1/catalog/categories/ps.parking_lots", headers=q), 404)


def test_paging_while_ingest_commits_returns_every_row_exactly_once(api, cfg, lake, tokens, registry):
    from cityhub_sim.cameras import SimConfig, generate, write_drop

    h = auth(tokens["qihe"])
    url = f"{REGISTRY}/records"
    for n in range(1, 4):
        write_drop(generate(SimConfig(cameras_per_county=40, key_areas_per_county=5, day=DAY + timedelta(days=n))),
                   cfg.drop_root, parts=("registry",))
    first = api.get(url, headers=h, params={"limit": 5}).json()
    landed, failed = [], []

    def ingest() -> None:
        try:
            landed.append(runner.run(lake, "camera_registry").landed)
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            failed.append(e)

    ingest_thread = threading.Thread(target=ingest)
    ingest_thread.start()
    rows, cursor, pages = list(first["records"]), first["next_cursor"], 1
    while cursor:
        body = api.get(url, headers=h, params={"limit": 5, "cursor": cursor}).json()
        assert body["snapshot_id"] == first["snapshot_id"]
        rows.extend(body["records"])
        cursor = body["next_cursor"]
        pages += 1
    ingest_thread.join()
    assert not failed, failed
    assert landed and landed[0] > 0
    keys = [(r["as_of"], r["device_id"]) for r in rows]
    assert len(keys) == len(set(keys))
    con, _ = lake.connect(["camera_registry"], {"camera_registry": first["snapshot_id"]})
    try:
        at_first = con.execute("SELECT count(*) FROM camera_registry WHERE region = ?", [QIHE]).fetchall()[0][0]
    finally:
        con.close()
    assert len(rows) == at_first and pages > 1
    assert lake.snapshot_id("camera_registry") != first["snapshot_id"]    # ingest did commit meanwhile


def test_open_data_and_evidence_never_bypass_the_access_decision(api, lake, tokens, records):
    a, q = auth(tokens["admin"]), auth(tokens["qihe"])
    # only public fields are open data, however the projection is spelled
    r = api.get("/v1/open/datasets/medical_institutions/records", params={"fields": ","})
    assert r.status_code == 200
    assert_problem(api.get("/v1/open/datasets/camera_registry/records", params={"fields": ","}), 404)
    # a conditionally shared category that is also open needs the same live grant
    cat = api.get("/v1/catalog/categories/hrss.records", headers=a).json()
    body = {k: cat[k] for k in ("id", "name_zh", "name_en", "owner", "share_type", "update_cycle", "credit")}
    body |= {"open_type": "conditional", "datasets": [d["id"] for d in cat["datasets"]]}
    assert api.put("/v1/catalog/categories/hrss.records", headers=a, json=body).status_code == 200
    assert_problem(api.get("/v1/open/datasets/social_security_records/records"), 401, "token")
    assert_problem(api.get("/v1/open/datasets/social_security_records/records", headers=q), 403, "grant")
    assert_problem(api.put("/v1/catalog/categories/hrss.records", headers=a,
                           json={**body, "open_type": "unconditional"}), 400, "condition")
    # the rows behind #19 are social-security records: a county needs the grant for them too, and
    # so does an admin (test_security: every role); the owner reads them, without personal fields
    compute(lake, DAY, codes=["19"], kinds=("day",))
    ev = "/v1/indicators/19/evidence"
    assert_problem(api.get(ev, headers=q, params={"region": QIHE, "period": str(DAY)}), 403, "grant")
    assert_problem(api.get(ev, headers=a, params={"region": QIHE, "period": str(DAY)}), 403, "grant")
    rows = api.get(ev, headers=auth(tokens["hrss"]), params={"region": QIHE, "period": str(DAY),
                                                             "side": "denominator"}).json()["rows"]
    assert rows and all("id_number" not in r and "name" not in r for r in rows)


def test_zoned_times_duplicate_fields_and_exports_are_handled(api, tokens, records):
    h = auth(tokens["hrss"])
    url = f"{SSR}/records"
    n_cst = len(api.get(url, headers=h, params={"accepted_at": "ge:2026-11-22T12:00:00", "limit": 10000}
                        ).json()["records"])
    assert n_cst
    for same in ("ge:2026-11-22T04:00:00Z", "ge:2026-11-22T12:00:00+08:00", "ge:2026-11-21T23:00:00-05:00"):
        assert len(api.get(url, headers=h, params={"accepted_at": same, "limit": 10000}).json()["records"]) == n_cst
    assert_problem(api.get(url, headers=h, params={"fields": "serial,serial"}), 400, "twice")
    assert_problem(api.get("/v1/audit", headers=auth(tokens["admin"]),
                           params={"since": "0001-01-01T00:00:00+09:00"}), 400, "range")
    r = api.get(f"{SSR}/export", headers=h, params={"format": "csv"})
    assert r.status_code == 200
    entries = api.get("/v1/audit", headers=auth(tokens["admin"]), params={"client": "hrss-dept"}).json()["entries"]
    done = next(e for e in entries if e["action"] == "export")
    assert done["rows"] == r.text.count("\n") - 1 and done["filters"]["complete"] is True
    assert any(e["action"] == "export.start" for e in entries)
