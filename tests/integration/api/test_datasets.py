"""Records of a dataset (``/v1/datasets/{dataset}/records``), in-process: county
scoping across pages, projection, bad requests as problem+json, pages pinned to a
snapshot while data lands, masking of personal fields and crafted cursors."""
from __future__ import annotations

import base64
import json
from datetime import date

import pytest

from tests.integration.api.world import (
    CITY,
    DECHENG,
    QIHE,
    count,
    land_cameras,
    land_social_security,
)
from tests.support import all_pages, assert_problem, auth, token

REGISTRY = "/v1/datasets/camera_registry/records"


@pytest.fixture
def tokens(cfg, decl):
    return {"county": token(cfg, decl, "qihe-app", "county", QIHE),
            "scoring": token(cfg, decl, "province-scoring", "scoring")}


@pytest.fixture
def registry(lake):
    """The camera registry of every county (60 cameras each)."""
    land_cameras(lake, parts=("registry",))


def test_a_county_sees_only_its_own_rows_across_all_pages(api, lake, tokens, registry):
    rows = all_pages(api, tokens["county"], REGISTRY, limit=50)
    assert rows and {r["region"] for r in rows} == {QIHE}
    ids = [r["device_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert len(rows) == count(lake, "SELECT count(*) FROM camera_registry WHERE region = ?", ["camera_registry"],
                              [QIHE])
    # asking for another county, or the city, is refused rather than silently narrowed
    for region in (DECHENG, CITY):
        assert_problem(api.get(REGISTRY, headers=auth(tokens["county"]), params={"region": region}),
                       403, QIHE, region)


def test_scoring_reads_any_region(api, lake, tokens):
    land_cameras(lake, parts=("catalog",))
    rows = all_pages(api, tokens["scoring"], "/v1/datasets/camera_catalog/records", region=DECHENG, limit=500)
    assert rows and {r["region"] for r in rows} == {DECHENG}
    city = all_pages(api, tokens["scoring"], "/v1/datasets/camera_catalog/records", limit=1000)
    assert len(city) == count(lake, "SELECT count(*) FROM camera_catalog", ["camera_catalog"])


def test_projection_and_bad_requests(api, tokens, registry):
    h = auth(tokens["county"])
    r = api.get(REGISTRY, headers=h, params={"fields": "device_id,hd", "limit": 3})
    assert r.status_code == 200 and r.json()["records"]
    assert all(set(x) == {"device_id", "hd"} for x in r.json()["records"])
    assert_problem(api.get(REGISTRY, headers=h, params={"fields": "device_id,secret"}), 400, "secret")
    assert_problem(api.get(REGISTRY, headers=h, params={"limit": 0}), 400, "limit")
    assert_problem(api.get(REGISTRY, headers=h, params={"limit": 10**6}), 400, "limit")
    assert_problem(api.get(REGISTRY, headers=h, params={"cursor": "garbage"}), 400, "cursor")
    assert_problem(api.get(REGISTRY, headers=h, params={"region": "37'; DROP"}), 400, "region")
    assert_problem(api.get("/v1/datasets/nope/records", headers=h), 404, "nope")
    assert_problem(api.get("/v1/datasets/quarantine/records", headers=h), 404)


def test_pages_stay_on_their_snapshot_while_data_lands(api, lake, tokens, registry):
    h = auth(tokens["county"])
    first = api.get(REGISTRY, headers=h, params={"limit": 10}).json()
    before = count(lake, "SELECT count(*) FROM camera_registry WHERE region = ?", ["camera_registry"], [QIHE])
    # the next day's registry lands between two pages
    land_cameras(lake, date(2026, 11, 23), parts=("registry",))
    assert lake.snapshot_id("camera_registry") != first["snapshot_id"]
    rows, cursor = list(first["records"]), first["next_cursor"]
    while cursor:
        body = api.get(REGISTRY, headers=h, params={"limit": 10, "cursor": cursor}).json()
        assert body["snapshot_id"] == first["snapshot_id"]
        rows.extend(body["records"])
        cursor = body["next_cursor"]
    assert len(rows) == before
    assert len({(r["device_id"], r["as_of"]) for r in rows}) == before


def test_personal_fields_are_masked_and_crafted_cursors_refused(api, cfg, decl, lake, tokens, registry):
    land_social_security(lake, 300)
    ssr = "/v1/datasets/social_security_records/records"
    # conditional data: refused without a grant
    assert_problem(api.get(ssr, headers=auth(tokens["county"])), 403, "grant")
    admin = token(cfg, decl, "city-admin", "admin")
    # admins decide on grants; they do not read conditional data themselves
    assert_problem(api.get(ssr, headers=auth(admin)), 403, "grant")
    grant = api.post("/v1/grants", headers=auth(tokens["county"]), json={
        "category": "hrss.records", "purpose": "checking pension qualification cases", "days": 1}).json()
    assert api.post(f"/v1/grants/{grant['id']}/approve", headers=auth(admin)).json()["live"]
    rows = all_pages(api, tokens["county"], ssr, limit=100)
    assert rows and {r["region"] for r in rows} == {QIHE}
    raw = {r["serial"]: r for r in lake.query("SELECT serial, id_number FROM social_security_records",
                                              ["social_security_records"]).to_pylist()}
    for r in rows:
        clear = raw[r["serial"]]["id_number"]
        assert len(r["id_number"]) == 18 and r["id_number"][4:14] == "*" * 10
        assert r["id_number"][:4] == clear[:4] and r["id_number"][14:] == clear[14:]
        assert r["phone"][3:7] == "****" and set(r["name"][1:]) == {"*"}
    assert not {r["id_number"] for r in raw.values()} & {r["id_number"] for r in rows}
    # a cursor naming a snapshot the dataset never had is refused, not followed
    forged = base64.urlsafe_b64encode(json.dumps({"s": 12345, "k": [QIHE, "2026-01-01", "x"]}).encode()
                                      ).decode().rstrip("=")
    assert_problem(api.get(REGISTRY, headers=auth(tokens["county"]), params={"cursor": forged}), 400, "snapshot")
