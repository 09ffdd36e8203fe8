"""Indicators #4 and #5 against values counted by hand on a small fixture.

The fixture (written below as the departments would deliver it):

  key areas   371402: A1, A2, A3      371425: B1      371403: none
  cameras     C1 371402 A1 1080p  networked, catalogue OFF, events OFF 10:00 then ON 12:00 (delivered out of order)
              C2 371402 A1 D1     networked, catalogue OFF, event ON 09:00
              C3 371402 A2 D1     not networked
              C4 371402 --  1080p networked (watches no key area)
              C5 371425 B1 720p   networked, catalogue ON, event OFF 23:00, event ON next day 01:00
              C6 371425 B1 720p   not networked
              C7 371402 X9 1080p  networked, but X9 is not a declared key area

  by hand     371402: 4.1 = 1/3 (A1 only), 4.2 = 2/3 (C1, C2 of C1-C3), #4 = 0.5, #5 = 2/3
              371425: 4.1 = 1/1, 4.2 = 0/2 (C5 OFF at 23:00, C6 not networked), #4 = 0.5, #5 = 1/2
              371400: 4.1 = 2/4, 4.2 = 2/5, #4 = 0.45, #5 = 3/5 (not the mean of the counties)
              371403: no key areas -> no value, with a reason
"""
from __future__ import annotations

import json
from datetime import date

import pytest

from hub.config import settings
from hub.regions import city
from pipelines.ingest import feed_connectors, ingest
from pipelines.indicators import compute, evaluate, latest, period
from hub.indicators import indicator

DAY = date(2026, 11, 22)

AREAS = """area_id,name,kind,region,longitude,latitude
KA-A1,德城区火车站,station,371402,116.30,37.45
KA-A2,德城区第一中学,school,371402,116.31,37.44
KA-A3,德城区人民医院,hospital,371402,,
KA-B1,齐河县人民广场,square,371425,116.75,36.79
"""
REGISTRY = """device_id,name,region,key_area_id,resolution,longitude,latitude,owner,install_date,address
37140200001310000001,C1,371402,KA-A1,1920x1080,116.30,37.45,德城分局,2020-01-01,新华路1号
37140200001310000002,C2,371402,KA-A1,704x576,116.30,37.45,德城分局,2020-01-01,新华路1号
37140200001310000003,C3,371402,KA-A2,704x576,116.31,37.44,德城分局,2020-01-01,新华路2号
37140200001310000004,C4,371402,,1920x1080,116.32,37.43,德城分局,2020-01-01,新华路3号
37142500001310000005,C5,371425,KA-B1,1280x720,116.75,36.79,齐河分局,2021-01-01,齐河路1号
37142500001310000006,C6,371425,KA-B1,1280x720,116.75,36.79,齐河分局,2021-01-01,齐河路1号
37140200001310000007,C7,371402,KA-X9,1920x1080,116.33,37.42,德城分局,2021-01-01,新华路4号
"""
ITEMS = [("37140200001310000001", "371402", "OFF"), ("37140200001310000002", "371402", "OFF"),
         ("37140200001310000004", "371402", "ON"), ("37142500001310000005", "371425", "ON"),
         ("37140200001310000007", "371402", "ON")]
EVENTS = [  # delivery order; C1's two events arrive out of order
    ("C1-2", "37140200001310000001", "ON", "2026-11-22T12:00:00+08:00"),
    ("C1-1", "37140200001310000001", "OFF", "2026-11-22T10:00:00+08:00"),
    ("C2-1", "37140200001310000002", "ON", "2026-11-22T09:00:00+08:00"),
    ("C5-1", "37142500001310000005", "OFF", "2026-11-22T23:00:00+08:00"),
    ("C5-2", "37142500001310000005", "ON", "2026-11-23T01:00:00+08:00"),
]


def catalogue_page() -> bytes:
    items = "".join(f"<Item><DeviceID>{d}</DeviceID><Name>cam</Name><CivilCode>{c}</CivilCode>"
                    f"<Status>{s}</Status></Item>" for d, c, s in ITEMS)
    return ('<?xml version="1.0" encoding="GB18030"?>\n<Response><CmdType>Catalog</CmdType><SN>1</SN>'
            f'<DeviceID>37140000002000000001</DeviceID><SumNum>{len(ITEMS)}</SumNum>'
            f'<DeviceList Num="{len(ITEMS)}">{items}</DeviceList></Response>').encode("gb18030")


@pytest.fixture
def fixture_lake(lake):
    drop = settings().drop_root / "cameras"
    for sub in ("key_areas", "registry", "catalog", "status"):
        (drop / sub).mkdir(parents=True, exist_ok=True)
    (drop / "key_areas" / "key_areas_371400_20261122.csv").write_text(AREAS, encoding="utf-8")
    (drop / "registry" / "registry_371400_20261122.csv").write_text(REGISTRY, encoding="utf-8")
    (drop / "catalog" / "catalog_371400_20261122_p0001.xml").write_bytes(catalogue_page())
    (drop / "status" / "status_371400_20261122.jsonl").write_text("".join(
        json.dumps({"event_id": i, "device_id": d, "civil_code": d[:6], "status": s, "event_time": t}) + "\n"
        for i, d, s, t in EVENTS))
    reports = ingest(feed_connectors("camera_"), lake)
    assert all(r.quarantined == 0 for r in reports.values())
    return lake


def values(rows, code, period_label):
    return {r["region"]: r for r in rows if r["code"] == code and r["period"] == period_label}


def test_indicators_equal_hand_counts(fixture_lake):
    rows = compute(fixture_lake, "371400", DAY)
    four, five = values(rows, "4", "2026-11-22"), values(rows, "5", "2026-11-22")

    parts = {p["code"]: p for p in json.loads(four["371402"]["components"])}
    assert (parts["4.1"]["numerator"], parts["4.1"]["denominator"]) == (1, 3)
    assert (parts["4.2"]["numerator"], parts["4.2"]["denominator"]) == (2, 3)
    assert four["371402"]["value"] == pytest.approx(0.5)
    assert (five["371402"]["numerator"], five["371402"]["denominator"]) == (2, 3)
    assert five["371402"]["value"] == pytest.approx(2 / 3)

    parts = {p["code"]: p for p in json.loads(four["371425"]["components"])}
    assert (parts["4.1"]["numerator"], parts["4.1"]["denominator"]) == (1, 1)
    assert (parts["4.2"]["numerator"], parts["4.2"]["denominator"]) == (0, 2)
    assert four["371425"]["value"] == pytest.approx(0.5)
    assert five["371425"]["value"] == pytest.approx(0.5)

    # the city counts its own rows: 3/5, not the mean of 2/3 and 1/2
    parts = {p["code"]: p for p in json.loads(four["371400"]["components"])}
    assert (parts["4.1"]["numerator"], parts["4.1"]["denominator"]) == (2, 4)
    assert (parts["4.2"]["numerator"], parts["4.2"]["denominator"]) == (2, 5)
    assert four["371400"]["value"] == pytest.approx(0.45)
    assert (five["371400"]["numerator"], five["371400"]["denominator"]) == (3, 5)
    assert five["371400"]["value"] == pytest.approx(0.6)


def test_zero_denominator_gives_no_value_and_a_reason(fixture_lake):
    rows = compute(fixture_lake, "371400", DAY)
    for code in ("4", "5"):
        r = values(rows, code, "2026-11-22")["371403"]
        assert r["value"] is None
        assert "denominator is 0" in r["reason"] and "371403" in r["reason"]
    assert values(rows, "5", "2026-11-22")["371403"]["denominator"] == 0


def test_every_region_and_period_is_computed_with_evidence(fixture_lake):
    rows = compute(fixture_lake, "371400", DAY)
    regions = set(city("371400").regions)
    for code in ("4", "5"):
        for label in ("2026-11-22", "2026-11", "2026"):
            assert set(values(rows, code, label)) == regions
    r = values(rows, "5", "2026-11-22")["371400"]
    assert json.loads(r["inputs"]) == {n: fixture_lake.snapshot_id(n)
                                        for n in ("camera_catalog", "camera_registry", "key_areas")}
    assert r["definition_version"] == 1
    stored = latest(fixture_lake, code="5", region="371400", period_label="2026-11-22")
    assert stored[0]["numerator"] == 3 and stored[0]["denominator"] == 5


def test_recomputing_from_the_same_snapshots_gives_the_same_value(fixture_lake):
    ind = indicator("4")
    first = evaluate(fixture_lake, ind, city("371400"), period("day", DAY))
    snaps = json.loads(first[0]["inputs"])
    # new data lands: the current value changes, the pinned one does not
    drop = settings().drop_root / "cameras" / "status"
    (drop / "status_371400_20261122b.jsonl").write_text(json.dumps(
        {"event_id": "C6-1", "device_id": "37142500001310000006", "civil_code": "371425", "status": "ON",
         "event_time": "2026-11-22T08:00:00+08:00"}) + "\n" + json.dumps(
        {"event_id": "C3-1", "device_id": "37140200001310000003", "civil_code": "371402", "status": "OFF",
         "event_time": "2026-11-22T08:00:00+08:00"}) + "\n" + json.dumps(
        {"event_id": "C2-2", "device_id": "37140200001310000002", "civil_code": "371402", "status": "OFF",
         "event_time": "2026-11-22T20:00:00+08:00"}) + "\n")
    ingest(feed_connectors("camera_"), fixture_lake)
    pinned = evaluate(fixture_lake, ind, city("371400"), period("day", DAY), snapshots=snaps)
    assert [r["value"] for r in pinned] == [r["value"] for r in first]
    assert [r["components"] for r in pinned] == [r["components"] for r in first]
    now = {r["region"]: r for r in evaluate(fixture_lake, ind, city("371400"), period("day", DAY))}
    assert now["371402"]["value"] == pytest.approx(0.5 * 1 / 3 + 0.5 * 1 / 3)  # C2 went OFF at 20:00


def test_now_is_today_so_far_and_only_today(fixture_lake):
    from hub.lake import now_cst

    past = compute(fixture_lake, "371400", DAY, codes=["5"])
    assert "now" not in {r["period"] for r in past}
    today = now_cst().date()
    rows = {r["period"]: r for r in compute(fixture_lake, "371400", today, codes=["5"]) if r["region"] == "371400"}
    assert rows["now"]["period_start"] == rows["now"]["period_end"] == today
    # the registry delivered on 11-22 is still the latest list today: same counts as that day
    assert (rows["now"]["numerator"], rows["now"]["denominator"]) == (3, 5)
