"""County apps over HTTP: OAuth2 client credentials, grants (apply, approve,
expire), county scoping in every format, masking in every format, filters,
incremental changes, the audit log, rate limits and catalogue administration."""
from __future__ import annotations

import io
import os
import sys
import time
from datetime import date, timedelta

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from hub.config import settings
from hub.simulator.cameras import SimConfig, generate, write_drop
from pipelines.ingest import feed_connectors, ingest
from tests.conftest import REPO, free_port, serving
from tests.test_api import assert_problem, auth, new_client

DAY = date(2026, 11, 22)
QIHE, DECHENG = "371425", "371402"
SSR = "/v1/datasets/social_security_records"


@pytest.fixture
def hub(lake, api_server):
    from connectors.runner import run
    from hub.simulator import social_security

    write_drop(generate(SimConfig(cameras_per_county=40, key_areas_per_county=5, day=DAY)), settings().drop_root)
    ingest(feed_connectors("camera_"), lake)
    sw = social_security.generate(social_security.SocialSecurityConfig(start=DAY, days=1, records_per_day=400,
                                                                       fault_rate=0))
    social_security.write_drop(sw, settings().drop_root)
    assert run("social_security_records_drop", lake).landed > 0
    with httpx.Client(base_url=api_server, timeout=60) as client:
        tokens = {
            "qihe": new_client(client, "qihe-app", "county", region=QIHE),
            "decheng": new_client(client, "decheng-app", "county", region=DECHENG),
            "hrss": new_client(client, "hrss-dept", "department", department="human_resources_social_security"),
            "admin": new_client(client, "city-admin", "admin"),
        }
        yield client, tokens, lake


def count(lake, sql: str, names: list[str], params=None) -> int:
    return lake.query(sql, names, params)[0][0].as_py()


def arrow_rows(r: httpx.Response) -> pa.Table:
    assert r.status_code == 200, r.text
    return pa.ipc.open_stream(r.content).read_all()


def every_format(client, token, dataset: str, **params) -> dict[str, pa.Table]:
    """The same query in JSON, CSV and Arrow pages, and the Parquet, Arrow and CSV exports."""
    url = f"/v1/datasets/{dataset}"
    h = auth(token)
    out = {}
    r = client.get(f"{url}/records", headers=h, params={**params, "limit": 10000})
    assert r.status_code == 200, r.text
    out["json"] = pa.Table.from_pylist(r.json()["records"])
    r = client.get(f"{url}/records", headers=h, params={**params, "limit": 10000, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
    out["csv"] = pacsv.read_csv(io.BytesIO(r.content), convert_options=pacsv.ConvertOptions(
        column_types={"id_number": pa.string(), "phone": pa.string(), "region": pa.string()}))
    out["arrow"] = arrow_rows(client.get(f"{url}/records", params={**params, "limit": 10000},
                                         headers={**h, "Accept": "application/vnd.apache.arrow.stream"}))
    r = client.get(f"{url}/export", headers=h, params={**params, "format": "parquet"})
    assert r.status_code == 200, r.text
    out["parquet"] = pq.read_table(io.BytesIO(r.content))
    out["export-arrow"] = arrow_rows(client.get(f"{url}/export", headers=h, params={**params, "format": "arrow"}))
    r = client.get(f"{url}/changes", headers=h, params={**params, "limit": 10000})
    assert r.status_code == 200, r.text
    out["changes"] = pa.Table.from_pylist(r.json()["records"])
    return out


def test_token_endpoint_follows_client_credentials(hub):
    client, tokens, _ = hub
    import json
    from tests.test_api import cli

    creds = json.loads(cli("clients", "create", "--name", "linyi-app", "--role", "county", "--region", "371424"))
    bad = client.post("/v1/token", data={"grant_type": "client_credentials", "client_id": creds["client_id"],
                                         "client_secret": "wrong"})
    assert_problem(bad, 401, "secret")
    assert bad.json()["error"] == "invalid_client"
    assert_problem(client.post("/v1/token", data={"grant_type": "password", "client_id": "x", "client_secret": "y"}),
                   400, "grant_type")
    basic = client.post("/v1/token", data={"grant_type": "client_credentials"},
                        auth=(creds["client_id"], creds["client_secret"]))
    assert basic.status_code == 200 and basic.json()["access_token"]
    # the secret is stored hashed, never as given
    from sqlalchemy import select
    from hub.store import clients, engine
    with engine(settings().hub_db_uri).connect() as con:
        stored = con.execute(select(clients.c.secret_hash).where(clients.c.id == creds["client_id"])).scalar_one()
    assert stored.startswith("scrypt$") and creds["client_secret"] not in stored
    cli("clients", "disable", "linyi-app")
    assert_problem(client.post("/v1/token", data={"grant_type": "client_credentials", **{
        k: creds[k] for k in ("client_id", "client_secret")}}), 401, "disabled")
    assert_problem(client.get("/v1/catalog", headers=auth(basic.json()["access_token"])), 401, "disabled")


def test_a_county_sees_only_its_county_in_every_format_filter_and_cursor(hub):
    client, tokens, lake = hub
    for fmt, table in every_format(client, tokens["qihe"], "camera_registry").items():
        assert table.num_rows == count(lake, "SELECT count(*) FROM camera_registry WHERE region = ?",
                                       ["camera_registry"], [QIHE]), fmt
        assert set(table["region"].to_pylist()) == {QIHE}, fmt
    url = "/v1/datasets/camera_registry"
    h = auth(tokens["qihe"])
    for path in ("records", "changes", "export"):
        assert_problem(client.get(f"{url}/{path}", headers=h, params={"region": DECHENG}), 403, DECHENG)
    # a filter naming another county's value finds nothing rather than leaking it
    other = lake.query("SELECT device_id FROM camera_registry WHERE region = ? LIMIT 1", ["camera_registry"],
                       [DECHENG])[0][0].as_py()
    r = client.get(f"{url}/records", headers=h, params={"device_id": other})
    assert r.status_code == 200 and r.json()["records"] == []
    # a cursor made from another county's key still only continues within the caller's county
    from hub.records import encode_cursor
    sid = client.get(f"{url}/records", headers=h, params={"limit": 1}).json()["snapshot_id"]
    rows = client.get(f"{url}/records", headers=h, params={"cursor": encode_cursor(sid, [DECHENG, "2000-01-01", ""]), "limit": 10000}
                      ).json()["records"]
    assert rows and {r["region"] for r in rows} == {QIHE}


def test_conditional_data_needs_a_grant_that_the_owner_approves_and_that_expires(hub):
    client, tokens, lake = hub
    q, hrss, admin = auth(tokens["qihe"]), auth(tokens["hrss"]), auth(tokens["admin"])
    assert_problem(client.get(f"{SSR}/records", headers=q), 403, "grant")
    body = {"category": "hrss.records", "purpose": "cross-region pension qualification follow-up",
            "fields": ["id_number"], "days": 30}
    r = client.post("/v1/grants", headers=q, json=body)
    assert r.status_code == 201, r.text
    grant = r.json()
    assert grant["status"] == "pending" and grant["fields"] == ["id_number"] and not grant["live"]
    assert_problem(client.get(f"{SSR}/records", headers=q), 403, "grant")           # pending is not enough
    assert_problem(client.post(f"/v1/grants/{grant['id']}/approve", headers=auth(tokens["decheng"])), 403, "owner")
    assert_problem(client.post("/v1/grants", headers=q, json={**body, "category": "ps.criminal_records"}),
                   403, "not shared")
    assert_problem(client.post("/v1/grants", headers=q, json={**body, "fields": ["salary"]}), 400, "salary")
    pending = client.get("/v1/grants", headers=hrss, params={"status": "pending"}).json()["grants"]
    assert [g["id"] for g in pending] == [grant["id"]]
    r = client.post(f"/v1/grants/{grant['id']}/approve", headers=hrss, json={"note": "ok for 30 days"})
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["live"]
    assert_problem(client.post(f"/v1/grants/{grant['id']}/approve", headers=hrss), 409, "approved")

    raw = {r["serial"]: r for r in lake.query("SELECT serial, id_number, name, phone, region FROM "
                                              "social_security_records", ["social_security_records"]).to_pylist()}
    rows = client.get(f"{SSR}/records", headers=q, params={"limit": 10000}).json()["records"]
    assert rows and {r["region"] for r in rows} == {QIHE}          # county scope: own county only
    assert len(rows) == sum(1 for r in raw.values() if r["region"] == QIHE)
    for r in rows:
        assert r["id_number"] == raw[r["serial"]]["id_number"]      # named in the grant: in clear
        assert r["name"] != raw[r["serial"]]["name"] and set(r["name"][1:]) <= {"*"}
        assert r["phone"][3:7] == "****"
    # the grant lapses: refused again
    from sqlalchemy import update
    from hub.lake import now_cst
    from hub.store import engine, grants
    with engine(settings().hub_db_uri).begin() as con:
        con.execute(update(grants).where(grants.c.id == grant["id"]).values(expires_at=now_cst() - timedelta(seconds=1)))
    assert_problem(client.get(f"{SSR}/records", headers=q), 403, "grant")
    # a rejected application gives nothing
    g2 = client.post("/v1/grants", headers=auth(tokens["decheng"]), json={**body, "scope": "city"}).json()
    assert client.post(f"/v1/grants/{g2['id']}/reject", headers=admin).json()["status"] == "rejected"
    assert_problem(client.get(f"{SSR}/records", headers=auth(tokens["decheng"])), 403, "grant")


def test_masking_holds_in_every_format_and_a_city_wide_grant_widens_rows(hub):
    client, tokens, lake = hub
    q, hrss = auth(tokens["qihe"]), auth(tokens["hrss"])
    g = client.post("/v1/grants", headers=q, json={"category": "hrss.records", "scope": "city", "days": 10,
                                                   "purpose": "county social-security service planning"}).json()
    client.post(f"/v1/grants/{g['id']}/approve", headers=hrss)
    raw_ids = set(lake.query("SELECT id_number FROM social_security_records",
                             ["social_security_records"])["id_number"].to_pylist())
    total = count(lake, "SELECT count(*) FROM social_security_records", ["social_security_records"])
    for fmt, table in every_format(client, tokens["qihe"], "social_security_records").items():
        assert table.num_rows == total, fmt                      # city-wide by the grant
        ids = [str(x) for x in table["id_number"].to_pylist()]
        assert not raw_ids & set(ids), fmt
        assert all(x[4:14] == "*" * 10 for x in ids), fmt
        assert all(str(p)[3:7] == "****" for p in table["phone"].to_pylist() if p is not None), fmt
    # filtering on a masked personal field would reveal it: refused
    assert_problem(client.get(f"{SSR}/records", headers=q, params={"id_number": next(iter(raw_ids))}), 403, "personal")
    # the owner reads its own data in clear
    own = client.get(f"{SSR}/records", headers=hrss, params={"limit": 10000}).json()["records"]
    assert {r["id_number"] for r in own} == raw_ids


def test_filters_are_typed_parameters(hub):
    client, tokens, lake = hub
    h = auth(tokens["hrss"])       # the owner reads its own data
    url = f"{SSR}/records"
    web = client.get(url, headers=h, params={"channel": "web", "limit": 10000}).json()["records"]
    assert web and {r["channel"] for r in web} == {"web"}
    assert len(web) == count(lake, "SELECT count(*) FROM social_security_records WHERE channel = 'web'",
                             ["social_security_records"])
    both = client.get(url, headers=h, params={"channel": "in:web,app", "limit": 10000}).json()["records"]
    assert len(both) == count(lake, "SELECT count(*) FROM social_security_records WHERE channel IN ('web', 'app')",
                              ["social_security_records"])
    lo, hi = "2026-11-22T09:00:00", "2026-11-22T12:00:00"
    r = client.get(url, headers=h, params=[("accepted_at", f"ge:{lo}"), ("accepted_at", f"lt:{hi}"), ("limit", "10000")])
    got = r.json()["records"]
    assert got and all(lo <= x["accepted_at"] < hi for x in got)
    assert len(got) == count(lake, "SELECT count(*) FROM social_security_records WHERE accepted_at >= ? "
                                   "AND accepted_at < ?", ["social_security_records"], [lo, hi])
    # pages come in the lake's order (region, accepted_at, then the key), either way round
    order = [(x["region"], x["accepted_at"], x["serial"]) for x in
             client.get(url, headers=h, params={"limit": 10000}).json()["records"]]
    assert order == sorted(order)
    desc = client.get(url, headers=h, params={"order": "desc", "limit": 5}).json()["records"]
    assert [(x["region"], x["accepted_at"], x["serial"]) for x in desc] == sorted(order, reverse=True)[:5]
    # or by the key, in pages
    by_key, cursor = [], None
    while True:
        body = client.get(url, headers=h, params={"sort": "key", "limit": 50, **({"cursor": cursor} if cursor else {})}
                          ).json()
        by_key += [x["serial"] for x in body["records"]]
        if not (cursor := body["next_cursor"]):
            break
    assert by_key == sorted(x[2] for x in order)
    assert_problem(client.get(url, headers=h, params={"sort": "lake", "cursor": _key_cursor(client, h, url)}),
                   400, "sort")
    assert client.get(url, headers=h, params={"channel": "web' OR '1'='1"}).json()["records"] == []
    assert_problem(client.get(url, headers=h, params={"accepted_at": "ge:yesterday"}), 400, "accepted_at")
    assert_problem(client.get(url, headers=h, params={"business_name": "x"}), 400, "cannot be filtered")
    assert_problem(client.get(url, headers=h, params={"nope": "x"}), 400, "nope")


def _key_cursor(client, h, url) -> str:
    return client.get(url, headers=h, params={"sort": "key", "limit": 1}).json()["next_cursor"]


def test_changes_bring_exactly_what_landed_since_the_cursor(hub):
    client, tokens, lake = hub
    from connectors.runner import run

    h = auth(tokens["qihe"])
    url = "/v1/datasets/camera_registry/changes"
    copy, since, calls = {}, None, 0
    while True:                                  # a first sync in small pages
        body = client.get(url, headers=h, params={"limit": 7, **({"since": since} if since else {})}).json()
        calls += 1
        for r in body["records"]:
            copy[(r["as_of"], r["device_id"])] = r
        since = body["next_cursor"]
        if not body["has_more"]:
            break
    expected = count(lake, "SELECT count(*) FROM camera_registry WHERE region = ?", ["camera_registry"], [QIHE])
    assert len(copy) == expected and calls > 1
    again = client.get(url, headers=h, params={"since": since}).json()
    assert again["records"] == [] and not again["has_more"]
    # the next day's registry lands: the next call brings exactly its rows
    write_drop(generate(SimConfig(cameras_per_county=40, key_areas_per_county=5, day=DAY + timedelta(days=1))),
               settings().drop_root)
    assert run("camera_registry", lake).landed > 0
    new = client.get(url, headers=h, params={"since": again["next_cursor"], "limit": 10000}).json()
    assert new["records"] and {r["as_of"] for r in new["records"]} == {str(DAY + timedelta(days=1))}
    assert len(new["records"]) == count(lake, "SELECT count(*) FROM camera_registry WHERE region = ? AND as_of = ?",
                                        ["camera_registry"], [QIHE, DAY + timedelta(days=1)])
    assert_problem(client.get(url, headers=h, params={"since": "garbage"}), 400, "since")


def test_the_audit_log_records_each_access_and_admins_and_owners_can_read_it(hub):
    client, tokens, _ = hub
    q = auth(tokens["qihe"])
    client.get("/v1/datasets/camera_registry/records", headers=q, params={"limit": 3, "channel": "x"})
    client.get("/v1/datasets/camera_registry/records", headers=q, params={"limit": 3})
    client.get(f"{SSR}/records", headers=q)                                     # refused: audited too
    entries = client.get("/v1/audit", headers=auth(tokens["admin"]), params={"client": "qihe-app"}).json()["entries"]
    reads = [e for e in entries if e["action"] == "records"]
    assert [e["status"] for e in reads][:3] == [403, 200, 400] or [e["status"] for e in reads][:2] == [403, 200]
    ok = next(e for e in reads if e["status"] == 200)
    assert ok["rows"] == 3 and ok["dataset"] == "camera_registry" and ok["client_name"] == "qihe-app"
    assert ok["filters"]["region"] == QIHE and ok["category"] == "ps.camera_registry"
    assert_problem(client.get("/v1/audit", headers=q), 403, "audit")
    own = client.get("/v1/audit", headers=auth(tokens["hrss"])).json()["entries"]
    assert own and {e["category"] for e in own} == {"hrss.records"}


def test_rate_limits_answer_429_with_retry_after(hub_home, lake):
    port = free_port()
    env = {**os.environ, "CITYHUB_HOME": str(hub_home), "CITYHUB_RATE_LIMIT": "5/minute",
           "CITYHUB_OPEN_RATE_LIMIT": "4/minute"}
    with serving([sys.executable, "-m", "uvicorn", "hub.api.app:app", "--host", "127.0.0.1", "--port", str(port),
                  "--workers", "1", "--log-level", "warning"], port, cwd=REPO, env=env):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            token = new_client(client, "busy-app", "county", region=QIHE)
            # a sliding-window counter: exact within a minute; across a minute's turn the last
            # minute's count is weighted down and may let one more through (never fewer)
            codes = [client.get("/v1/datasets/camera_registry/records", headers=auth(token)).status_code
                     for _ in range(7)]
            assert codes[:5] == [200] * 5 and 429 in codes[5:], codes
            r = client.get("/v1/datasets/camera_registry/records", headers=auth(token))
            assert_problem(r, 429, "rate limit")
            assert int(r.headers["retry-after"]) >= 1
            # without a token the address is counted: the token request above was one of its 4
            opened = [client.get("/v1/open/datasets/medical_institutions/records").status_code for _ in range(5)]
            assert opened[:3] == [200] * 3 and 429 in opened[3:], opened


def test_the_catalogue_is_managed_by_admins(hub):
    client, tokens, _ = hub
    a, q = auth(tokens["admin"]), auth(tokens["qihe"])
    cat = client.get("/v1/catalog", headers=a).json()
    assert len(cat["categories"]) >= 55 and all(c["share_type"] and c["open_type"] for c in cat["categories"])
    assert sum(1 for c in cat["categories"] if c["fed"]) >= 10
    seen_by_county = {c["id"] for c in client.get("/v1/catalog", headers=q).json()["categories"]}
    assert "ps.criminal_records" not in seen_by_county and "ps.camera_registry" in seen_by_county
    new = {"id": "ps.parking_lots", "name_zh": "公共停车场", "name_en": "Public car parks", "owner": "public_security",
           "share_type": "unconditional", "open_type": "unconditional", "update_cycle": "daily",
           "fields": [{"name": "lot_id"}, {"name": "spaces", "type": "int64"}]}
    assert_problem(client.put("/v1/catalog/categories/ps.parking_lots", headers=q, json=new), 403, "admin")
    r = client.put("/v1/catalog/categories/ps.parking_lots", headers=a, json=new)
    assert r.status_code == 201, r.text
    assert client.put("/v1/catalog/categories/ps.parking_lots", headers=a, json=new).status_code == 200
    assert_problem(client.put("/v1/catalog/categories/ps.x", headers=a,
                              json={**new, "id": "ps.x", "share_type": "not_shared"}), 400, "legal_basis")
    assert_problem(client.put("/v1/catalog/categories/ps.y", headers=a, json={**new, "id": "ps.y", "owner": "nobody"}),
                   400, "nobody")
    assert_problem(client.put("/v1/catalog/categories/ps.z", headers=a,
                              json={**new, "id": "ps.z", "datasets": ["camera_registry"]}), 409, "camera_registry")
    got = client.get("/v1/catalog/categories/ps.parking_lots", headers=q).json()
    assert got["fed"] is False and [f["name"] for f in got["fields"]] == ["lot_id", "spaces"]
    assert client.delete("/v1/catalog/categories/ps.parking_lots", headers=a).status_code == 204
    assert_problem(client.get("/v1/catalog/categories/ps.parking_lots", headers=q), 404)


def test_paging_while_ingest_commits_returns_every_row_exactly_once(hub):
    import threading

    from connectors.runner import run

    client, tokens, lake = hub
    h = auth(tokens["qihe"])
    url = "/v1/datasets/camera_registry/records"
    for n in range(1, 4):
        write_drop(generate(SimConfig(cameras_per_county=40, key_areas_per_county=5, day=DAY + timedelta(days=n))),
                   settings().drop_root, parts=("registry",))
    first = client.get(url, headers=h, params={"limit": 5}).json()
    landed = []
    ingest_thread = threading.Thread(target=lambda: landed.append(run("camera_registry", lake).landed))
    ingest_thread.start()
    rows, cursor = list(first["records"]), first["next_cursor"]
    while cursor:
        body = client.get(url, headers=h, params={"limit": 5, "cursor": cursor}).json()
        assert body["snapshot_id"] == first["snapshot_id"]
        rows.extend(body["records"])
        cursor = body["next_cursor"]
    ingest_thread.join()
    assert landed and landed[0] > 0
    keys = [(r["as_of"], r["device_id"]) for r in rows]
    assert len(keys) == len(set(keys))
    table = lake.table("camera_registry")
    con, _ = lake.connect(["camera_registry"], {"camera_registry": first["snapshot_id"]})
    try:
        at_first = con.execute("SELECT count(*) FROM camera_registry WHERE region = ?", [QIHE]).fetchall()[0][0]
    finally:
        con.close()
    assert len(rows) == at_first
    assert table.current_snapshot().snapshot_id != first["snapshot_id"]    # ingest did commit meanwhile


def test_open_data_and_evidence_never_bypass_the_access_decision(hub):
    client, tokens, lake = hub
    a, q = auth(tokens["admin"]), auth(tokens["qihe"])
    # only public fields are open data, however the projection is spelled
    r = client.get("/v1/open/datasets/medical_institutions/records", params={"fields": ","})
    assert r.status_code == 200
    assert_problem(client.get("/v1/open/datasets/camera_registry/records", params={"fields": ","}), 404)
    # a conditionally shared category that is also open needs the same live grant
    cat = client.get("/v1/catalog/categories/hrss.records", headers=a).json()
    body = {k: cat[k] for k in ("id", "name_zh", "name_en", "owner", "share_type", "update_cycle", "credit")}
    body |= {"open_type": "conditional", "datasets": [d["id"] for d in cat["datasets"]]}
    assert client.put("/v1/catalog/categories/hrss.records", headers=a, json=body).status_code == 200
    time.sleep(2.1)                                   # API workers re-read the catalogue within 2 s
    assert_problem(client.get("/v1/open/datasets/social_security_records/records"), 401, "token")
    assert_problem(client.get("/v1/open/datasets/social_security_records/records", headers=q), 403, "grant")
    assert_problem(client.put("/v1/catalog/categories/hrss.records", headers=a,
                              json={**body, "open_type": "unconditional"}), 400, "condition")
    # the rows behind #19 are social-security records: a county needs the grant for them too
    from pipelines.indicators import compute
    compute(lake, "371400", DAY, codes=["19"], kinds=("day",))
    ev = "/v1/indicators/19/evidence"
    assert_problem(client.get(ev, headers=q, params={"region": QIHE, "period": str(DAY)}), 403, "grant")
    rows = client.get(ev, headers=auth(tokens["admin"]), params={"region": QIHE, "period": str(DAY),
                                                                 "side": "denominator"}).json()["rows"]
    assert rows and all("id_number" not in r and "name" not in r for r in rows)


def test_zoned_times_duplicate_fields_and_exports_are_handled(hub):
    client, tokens, lake = hub
    h = auth(tokens["hrss"])
    url = f"{SSR}/records"
    n_cst = len(client.get(url, headers=h, params={"accepted_at": "ge:2026-11-22T12:00:00", "limit": 10000}
                           ).json()["records"])
    for same in ("ge:2026-11-22T04:00:00Z", "ge:2026-11-22T12:00:00+08:00", "ge:2026-11-21T23:00:00-05:00"):
        assert len(client.get(url, headers=h, params={"accepted_at": same, "limit": 10000}).json()["records"]) == n_cst
    assert_problem(client.get(url, headers=h, params={"fields": "serial,serial"}), 400, "twice")
    assert_problem(client.get("/v1/audit", headers=auth(tokens["admin"]),
                              params={"since": "0001-01-01T00:00:00+09:00"}), 400, "range")
    r = client.get(f"{SSR}/export", headers=h, params={"format": "csv"})
    assert r.status_code == 200
    entries = client.get("/v1/audit", headers=auth(tokens["admin"]), params={"client": "hrss-dept"}).json()["entries"]
    done = next(e for e in entries if e["action"] == "export")
    assert done["rows"] == r.text.count("\n") - 1 and done["filters"]["complete"] is True
    assert any(e["action"] == "export.start" for e in entries)
