"""Operating the quarantine: an engineer lists and reads refused items (personal data
masked but for the owning department), fixes the cause and releases them back through the
landing, where they land or come back with their new reason; retention expires old ones."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cityhub.core.errors import InvalidRequest, NotFound
from cityhub.core.time import now_cst
from cityhub.pipelines import quarantine
from cityhub.pipelines.ingest.runner import run
from cityhub_sim import traffic

NAME, DATASET = "traffic_intersections_drop", "traffic_intersections"


@pytest.fixture
def refused(cfg, decl, lake):
    """An inventory export with three refused intersections: an unknown county, a
    township outside its county, and one whose raw text carries a phone and an ID number."""
    world = traffic.generate(traffic.TrafficConfig(intersections_per_county=3, fault_rate=0))
    items = [dict(i) for i in world.intersections]
    good = len(items)
    items.append(dict(items[0], id="X-UNKNOWN", region="379999"))
    items.append(dict(items[1], id="X-TOWNSHIP", township_code="371499001"))
    items.append(dict(items[2], id="X-PERSONAL", region="379998", name="张三 13812345678 110101199003074578"))
    folder = cfg.drop_root / "traffic" / "intersections"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "intersections_371400_20261122.json").write_text(json.dumps({"items": items}, ensure_ascii=False),
                                                               encoding="utf-8")
    r = run(lake, NAME)
    assert (r.landed, r.quarantined) == (good, 3)
    return lake, good


def by_key(lake, key: str) -> quarantine.Item:
    [it] = [i for i in quarantine.items(lake) if json.loads(i.raw)["id"] == key]
    return it


def test_items_are_listed_filtered_and_read_by_id(refused):
    lake, _ = refused
    found = quarantine.items(lake, connector=NAME)
    assert len(found) == 3 and len({i.id for i in found}) == 3
    assert {i.code for i in found} == {"unknown_region", "township_outside_region"}
    [township] = quarantine.items(lake, reason="township_outside_region")
    assert township.record_key.startswith("X-TOWNSHIP|")  # the contract's key: id and update time
    assert quarantine.items(lake, connector="camera_status_drop") == []
    assert quarantine.items(lake, datasets=["camera_status"]) == []
    it = found[0]
    assert quarantine.item(lake, it.id) == it
    with pytest.raises(NotFound):
        quarantine.item(lake, "0" * 16)
    with pytest.raises(InvalidRequest, match="no quarantine item id"):
        quarantine.item(lake, "../etc/passwd")
    page1 = quarantine.items(lake, limit=2)
    assert [i.id for i in page1 + quarantine.items(lake, limit=2, after=page1[-1].id)] == [i.id for i in found]


def test_personal_data_in_a_raw_item_is_masked(refused):
    lake, _ = refused
    it = by_key(lake, "X-PERSONAL")
    shown = quarantine.masked(it, lake.decl.contracts.get(DATASET))
    assert "13812345678" in it.raw and "110101199003074578" in it.raw
    assert "13812345678" not in shown.raw and "138****5678" in shown.raw
    assert "110101199003074578" not in shown.raw and "1101**********4578" in shown.raw
    assert json.loads(shown.raw)["id"] == "X-PERSONAL"  # what is not personal stays readable


def test_a_released_item_lands_once_fixed_and_leaves_the_quarantine(refused):
    lake, good = refused
    it = by_key(lake, "X-UNKNOWN")
    raw = json.loads(it.raw)
    fixed = json.dumps(dict(raw, region=raw["township_code"][:6]), ensure_ascii=False)
    out = quarantine.release(lake, [it.id], raw=fixed)
    assert out.landed == [it.id] and not out.refused
    rows = lake.query(f"SELECT intersection_id, region FROM {DATASET}", [DATASET]).to_pylist()
    assert len(rows) == good + 1 and {"intersection_id": "X-UNKNOWN", "region": raw["township_code"][:6]} in rows
    assert it.id not in {i.id for i in quarantine.items(lake)}
    with pytest.raises(NotFound):
        quarantine.release(lake, [it.id])  # gone: released once


def test_an_item_released_unfixed_comes_back_with_its_reason(refused):
    lake, good = refused
    it = by_key(lake, "X-TOWNSHIP")
    out = quarantine.release(lake, [it.id])
    assert out.refused == {it.id: ["township_outside_region"]} and not out.landed
    again = [i for i in quarantine.items(lake) if i.record_key.startswith("X-TOWNSHIP|")]
    assert len(again) == 1 and again[0].id != it.id and again[0].batch_id == f"{NAME}:release:{it.id}"
    assert lake.query(f"SELECT count(*) AS n FROM {DATASET}", [DATASET])["n"][0].as_py() == good


def test_one_fixed_raw_text_fixes_one_item(refused):
    lake, _ = refused
    ids = [i.id for i in quarantine.items(lake)]
    with pytest.raises(InvalidRequest, match="one item"):
        quarantine.release(lake, ids[:2], raw="{}")


def test_retention_expires_old_items_only(refused):
    lake, _ = refused
    assert quarantine.expire(lake, 30) == 0
    assert quarantine.expire(lake, 30, now=now_cst() + timedelta(days=31)) == 3
    assert quarantine.items(lake) == []
    with pytest.raises(InvalidRequest):
        quarantine.expire(lake, 0)


# -- over the API: admins and the owning department; masked but for the owner; audited ------


def test_the_owning_department_reads_items_as_sent_an_admin_masked_others_not_at_all(refused, api, cfg, decl):
    from cityhub.access import audit
    from tests.support import auth, token

    lake, _ = refused
    owner = auth(token(cfg, decl, "traffic-police", "department", department="traffic_police"))
    admin = auth(token(cfg, decl, "ops", "admin"))
    other = auth(token(cfg, decl, "health", "department", department="health_commission"))
    county = auth(token(cfg, decl, "qihe", "county", "371425"))
    personal = by_key(lake, "X-PERSONAL")

    mine = api.get("/v1/quarantine", headers=owner, params={"connector": NAME}).json()
    assert len(mine["items"]) == 3 and mine["next_after"] is None
    shown = api.get(f"/v1/quarantine/{personal.id}", headers=owner).json()
    assert shown["masked"] is False and "110101199003074578" in shown["raw"]
    seen = api.get(f"/v1/quarantine/{personal.id}", headers=admin).json()
    assert seen["masked"] is True and "110101199003074578" not in seen["raw"] and "13812345678" not in seen["raw"]
    assert api.get("/v1/quarantine", headers=other).json()["items"] == []
    assert api.get(f"/v1/quarantine/{personal.id}", headers=other).status_code == 404
    refused_county = api.get("/v1/quarantine", headers=county)
    assert refused_county.status_code == 403 and refused_county.headers["content-type"] == "application/problem+json"
    assert api.get("/v1/quarantine/not-an-id", headers=admin).status_code == 400
    paged = api.get("/v1/quarantine", headers=admin, params={"limit": 2}).json()
    assert len(paged["items"]) == 2 and paged["next_after"] == paged["items"][1]["id"]
    entries = [(e["action"], e["status"]) for e in audit.entries(cfg) if e["action"].startswith("quarantine.")]
    assert sorted(entries) == sorted([("quarantine.list", 200)] * 3 + [("quarantine.list", 403)]
                                     + [("quarantine.show", 200)] * 2 + [("quarantine.show", 404),
                                                                         ("quarantine.show", 400)])


def test_release_over_the_api_is_for_the_owner_and_admins(refused, api, cfg, decl):
    from tests.support import auth, token

    lake, good = refused
    it = by_key(lake, "X-UNKNOWN")
    raw = json.loads(it.raw)
    fixed = json.dumps(dict(raw, region=raw["township_code"][:6]), ensure_ascii=False)
    other = auth(token(cfg, decl, "health", "department", department="health_commission"))
    assert api.post("/v1/quarantine/release", headers=other, json={"ids": [it.id], "raw": fixed}).status_code == 404
    assert api.post("/v1/quarantine/release", headers=other, json={"ids": ["x"]}).status_code == 400
    owner = auth(token(cfg, decl, "traffic-police", "department", department="traffic_police"))
    r = api.post("/v1/quarantine/release", headers=owner, json={"ids": [it.id], "raw": fixed})
    assert r.status_code == 200 and r.json() == {"landed": [it.id], "already_landed": [], "refused": {}}
    assert lake.query(f"SELECT count(*) AS n FROM {DATASET}", [DATASET])["n"][0].as_py() == good + 1


def test_the_cli_lists_shows_masked_and_releases(refused, cfg, tmp_path):
    from typer.testing import CliRunner

    from cityhub.cli.main import app

    lake, _ = refused
    runner = CliRunner()
    listed = runner.invoke(app, ["quarantine", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert len(rows) == 3 and all("110101199003074578" not in r["raw"] for r in rows)
    personal = by_key(lake, "X-PERSONAL")
    shown = runner.invoke(app, ["quarantine", "show", personal.id])
    assert shown.exit_code == 0 and "13812345678" not in shown.output
    assert "13812345678" in runner.invoke(app, ["quarantine", "show", personal.id, "--unmasked"]).output
    again = runner.invoke(app, ["quarantine", "release", by_key(lake, "X-TOWNSHIP").id])
    assert again.exit_code == 1 and "refused again: township_outside_region" in again.output
    missing = runner.invoke(app, ["quarantine", "show", "0" * 16])
    assert missing.exit_code == 2 and "no quarantine item" in missing.output
