"""The API over HTTP (uvicorn, two workers): authentication, county scoping,
pagination, errors as problem+json, indicators with evidence, audit."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import httpx
import pytest

from hub.config import settings
from hub.simulator.cameras import SimConfig, generate, write_drop
from pipelines.ingest import feed_connectors, ingest
from pipelines.indicators import compute
from tests.conftest import REPO

DAY = date(2026, 11, 22)
COUNTY, OTHER = "371425", "371402"


def cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "hub.cli", *args], cwd=REPO, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


@pytest.fixture
def hub(lake, api_server):
    write_drop(generate(SimConfig(cameras_per_county=60, key_areas_per_county=8, day=DAY)), settings().drop_root)
    ingest(feed_connectors("camera_"), lake)
    compute(lake, "371400", DAY)
    with httpx.Client(base_url=api_server, timeout=30) as client:
        tokens = {
            "county": new_client(client, "qihe-app", "county", region=COUNTY),
            "scoring": new_client(client, "province-scoring", "scoring"),
        }
        yield client, tokens, lake


def new_client(client: httpx.Client, name: str, role: str, region: str | None = None,
               department: str | None = None) -> str:
    """Register a client with the CLI and get a token over OAuth2 client credentials."""
    args = ["clients", "create", "--name", name, "--role", role]
    args += ["--region", region] if region else []
    args += ["--department", department] if department else []
    creds = json.loads(cli(*args))
    r = client.post("/v1/token", data={"grant_type": "client_credentials", "client_id": creds["client_id"],
                                       "client_secret": creds["client_secret"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 3600
    return body["access_token"]


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for w in words:
        assert w in body["detail"], body["detail"]


def all_pages(client, token, url, **params) -> list[dict]:
    rows, cursor = [], None
    while True:
        r = client.get(url, headers=auth(token), params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        rows.extend(body["records"])
        cursor = body["next_cursor"]
        if not cursor:
            return rows


def test_health_and_openapi(hub):
    client, _, _ = hub
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/v1/datasets/{dataset}/records" in spec["paths"] and "/v1/indicators" in spec["paths"]


def test_tokens_are_required_and_checked(hub):
    client, tokens, _ = hub
    assert_problem(client.get("/v1/catalog"), 401, "bearer token")
    assert_problem(client.get("/v1/catalog", headers=auth("not-a-token")), 401, "not valid")
    assert_problem(client.get("/v1/catalog", headers=auth(tokens["county"][:-3] + "abc")), 401)


def test_a_county_sees_only_its_own_rows_across_all_pages(hub):
    client, tokens, lake = hub
    rows = all_pages(client, tokens["county"], "/v1/datasets/camera_registry/records", limit=50)
    assert rows and {r["region"] for r in rows} == {COUNTY}
    ids = [r["device_id"] for r in rows]
    assert len(ids) == len(set(ids))
    expected = lake.query("SELECT count(*) AS n FROM camera_registry WHERE region = ?", ["camera_registry"],
                          [COUNTY])["n"][0].as_py()
    assert len(rows) == expected
    # asking for another county, or the city, is refused rather than silently narrowed
    for region in (OTHER, "371400"):
        assert_problem(client.get("/v1/datasets/camera_registry/records", headers=auth(tokens["county"]),
                                  params={"region": region}), 403, COUNTY, region)


def test_scoring_reads_any_region(hub):
    client, tokens, lake = hub
    rows = all_pages(client, tokens["scoring"], "/v1/datasets/camera_catalog/records", region=OTHER, limit=500)
    assert rows and {r["region"] for r in rows} == {OTHER}
    city = all_pages(client, tokens["scoring"], "/v1/datasets/camera_catalog/records", limit=1000)
    assert len(city) == lake.query("SELECT count(*) AS n FROM camera_catalog", ["camera_catalog"])["n"][0].as_py()


def test_projection_and_bad_requests(hub):
    client, tokens, _ = hub
    h = auth(tokens["county"])
    r = client.get("/v1/datasets/camera_registry/records", headers=h, params={"fields": "device_id,hd", "limit": 3})
    assert r.status_code == 200 and all(set(x) == {"device_id", "hd"} for x in r.json()["records"])
    url = "/v1/datasets/camera_registry/records"
    assert_problem(client.get(url, headers=h, params={"fields": "device_id,secret"}), 400, "secret")
    assert_problem(client.get(url, headers=h, params={"limit": 0}), 400, "limit")
    assert_problem(client.get(url, headers=h, params={"limit": 10**6}), 400, "limit")
    assert_problem(client.get(url, headers=h, params={"cursor": "garbage"}), 400, "cursor")
    assert_problem(client.get(url, headers=h, params={"region": "37'; DROP"}), 400, "region")
    assert_problem(client.get("/v1/datasets/nope/records", headers=h), 404, "nope")
    assert_problem(client.get("/v1/datasets/quarantine/records", headers=h), 404)


def test_pages_stay_on_their_snapshot_while_data_lands(hub):
    client, tokens, lake = hub
    url = "/v1/datasets/camera_registry/records"
    first = client.get(url, headers=auth(tokens["county"]), params={"limit": 10}).json()
    before = lake.query("SELECT count(*) AS n FROM camera_registry WHERE region = ?", ["camera_registry"],
                        [COUNTY])["n"][0].as_py()
    # the next day's registry lands between two pages
    write_drop(generate(SimConfig(cameras_per_county=60, key_areas_per_county=8, day=date(2026, 11, 23))),
               settings().drop_root, parts=("registry",))
    ingest(feed_connectors("camera_"), lake)
    rows, cursor = list(first["records"]), first["next_cursor"]
    while cursor:
        body = client.get(url, headers=auth(tokens["county"]), params={"limit": 10, "cursor": cursor}).json()
        assert body["snapshot_id"] == first["snapshot_id"]
        rows.extend(body["records"])
        cursor = body["next_cursor"]
    assert len(rows) == before
    assert len({(r["device_id"], r["as_of"]) for r in rows}) == before


def test_indicators_carry_numerator_denominator_and_evidence(hub):
    client, tokens, lake = hub
    r = client.get("/v1/indicators", headers=auth(tokens["scoring"]), params={"region": "371400", "code": "5"})
    assert r.status_code == 200, r.text
    values = r.json()["indicators"]
    assert {v["period"] for v in values} == {"2026-11-22", "2026-11", "2026"}
    for v in values:
        assert v["code"] == "5" and v["region"] == "371400"
        assert 0 <= v["value"] <= 1 and v["value"] == pytest.approx(v["numerator"] / v["denominator"])
        assert v["evidence"]["definition_version"] == 1
        assert v["evidence"]["snapshot_ids"]["camera_catalog"] == lake.snapshot_id("camera_catalog")
    four = client.get("/v1/indicators", headers=auth(tokens["scoring"]),
                      params={"region": OTHER, "code": "4", "period": "2026-11-22"}).json()["indicators"]
    assert len(four) == 1 and [c["code"] for c in four[0]["components"]] == ["4.1", "4.2"]
    # a county reads its own values only
    mine = client.get("/v1/indicators", headers=auth(tokens["county"])).json()["indicators"]
    assert mine and {v["region"] for v in mine} == {COUNTY}
    assert_problem(client.get("/v1/indicators", headers=auth(tokens["county"]), params={"region": OTHER}), 403)


def test_catalog_and_audit_log(hub):
    client, tokens, _ = hub
    cats = client.get("/v1/catalog", headers=auth(tokens["county"])).json()["categories"]
    ids = {c["id"] for c in cats}
    assert {"ps.camera_registry", "ps.camera_catalog"} <= ids
    assert all(c["share_type"] in ("unconditional", "conditional") for c in cats)
    client.get("/v1/datasets/camera_status/records", headers=auth(tokens["county"]), params={"limit": 7})
    from hub import audit
    entries = audit.entries(dataset="camera_status")
    assert entries[0]["action"] == "records" and entries[0]["rows"] == 7
    assert entries[0]["filters"]["region"] == COUNTY


def test_a_disabled_client_is_refused_at_once(hub):
    client, tokens, _ = hub
    h = auth(tokens["county"])
    assert client.get("/v1/catalog", headers=h).status_code == 200
    cli("clients", "disable", "qihe-app")
    assert_problem(client.get("/v1/catalog", headers=h), 401, "disabled")


def test_evidence_returns_the_rows_behind_a_stored_value(hub):
    client, tokens, lake = hub
    h = auth(tokens["scoring"])
    stored = client.get("/v1/indicators", headers=h,
                        params={"region": "371400", "code": "5", "period": "2026-11-22"}).json()["indicators"][0]
    for side in ("numerator", "denominator"):
        r = client.get("/v1/indicators/5/evidence", headers=h,
                       params={"region": "371400", "period": "2026-11-22", "side": side, "limit": 10000})
        assert r.status_code == 200, r.text
        ev = r.json()
        assert ev["measured"] == ev["stored"] == stored[side]
        assert len(ev["rows"]) == stored[side] and not ev["truncated"]
        assert ev["snapshot_ids"] == stored["inputs"]
        assert len({row["device_id"] for row in ev["rows"]}) == len(ev["rows"])
    # a county sees the evidence of its own values only
    mine = client.get("/v1/indicators/5/evidence", headers=auth(tokens["county"]),
                      params={"region": COUNTY, "period": "2026-11-22", "side": "denominator"}).json()
    assert mine["rows"] and {row["region"] for row in mine["rows"]} == {COUNTY}
    assert_problem(client.get("/v1/indicators/5/evidence", headers=auth(tokens["county"]),
                              params={"region": OTHER, "period": "2026-11-22"}), 403)
    # a weighted mix needs its component named
    assert_problem(client.get("/v1/indicators/4/evidence", headers=h,
                              params={"region": "371400", "period": "2026-11-22"}), 400, "4.1")
    part = client.get("/v1/indicators/4/evidence", headers=h, params={
        "region": "371400", "period": "2026-11-22", "component": "4.1", "side": "denominator"}).json()
    assert part["component"] == "4.1" and part["measured"] == len(part["rows"]) > 0
    assert_problem(client.get("/v1/indicators/99/evidence", headers=h,
                              params={"region": "371400", "period": "2026-11-22"}), 404, "99")


def test_star_readiness_and_export_for_the_scoring_layer(hub):
    client, tokens, _ = hub
    h = auth(tokens["scoring"])
    ready = client.get("/v1/star-readiness", headers=h, params={"region": "371400"}).json()
    assert "not from DB37/T 3890.1" in ready["thresholds_source"]
    codes = {row["code"] for row in ready["indicators"]}
    assert {"4", "5", "7", "18", "19", "20", "21"} <= codes
    five = next(row for row in ready["indicators"] if row["code"] == "5")
    assert five["period"] == "2026" and five["value"] is not None
    assert five["stars_met"] == max([s for s, need in five["thresholds"].items() if five["value"] >= need] or [0],
                                    key=int)
    assert ready["stars_met_by_all"] == min(row["stars_met"] for row in ready["indicators"])

    r = client.get("/v1/indicators/export", headers=h, params={"region": "371400", "period": "2026"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("指标编号,指标名称,指标名称(英文),区域代码,区域名称,统计周期,指标值,分子,分母")
    assert any(line.startswith("5,重点公共区域视频监控联网率") and ",德州市,2026," in line for line in lines[1:])
    body = client.get("/v1/indicators/export", headers=h, params={"format": "json", "period": "2026"}).json()
    assert body["columns"][0] == "指标编号" and {row["区域代码"] for row in body["rows"]} >= {"371400", COUNTY}


def test_personal_fields_are_masked_and_crafted_cursors_refused(hub):
    from connectors.runner import run
    from hub.simulator import social_security

    client, tokens, lake = hub
    sw = social_security.generate(social_security.SocialSecurityConfig(start=DAY, days=1, records_per_day=300,
                                                                       fault_rate=0))
    social_security.write_drop(sw, settings().drop_root)
    assert run("social_security_records_drop", lake).landed > 0
    # conditional data: refused without a grant
    assert_problem(client.get("/v1/datasets/social_security_records/records", headers=auth(tokens["county"])),
                   403, "grant")
    admin = new_client(client, "city-admin", "admin")
    # admins decide on grants; they do not read conditional data themselves
    assert_problem(client.get("/v1/datasets/social_security_records/records", headers=auth(admin)), 403, "grant")
    grant = client.post("/v1/grants", headers=auth(tokens["county"]), json={
        "category": "hrss.records", "purpose": "checking pension qualification cases", "days": 1}).json()
    assert client.post(f"/v1/grants/{grant['id']}/approve", headers=auth(admin)).json()["live"]
    rows = all_pages(client, tokens["county"], "/v1/datasets/social_security_records/records", limit=100)
    assert rows and {r["region"] for r in rows} == {COUNTY}
    for r in rows:
        assert r["id_number"][:4] == r["id_number"][:4] and r["id_number"][4:14] == "*" * 10
        assert len(r["id_number"]) == 18
        assert r["phone"][3:7] == "****" and set(r["name"][1:]) == {"*"}
    raw_ids = set(lake.query("SELECT id_number FROM social_security_records", ["social_security_records"])
                  ["id_number"].to_pylist())
    assert not raw_ids & {r["id_number"] for r in rows}
    import base64
    import json as _json
    forged = base64.urlsafe_b64encode(_json.dumps({"s": 12345, "k": [COUNTY, "2026-01-01", "x"]}).encode()).decode().rstrip("=")
    assert_problem(client.get("/v1/datasets/camera_registry/records", headers=auth(tokens["county"]),
                              params={"cursor": forged}), 400, "snapshot")
