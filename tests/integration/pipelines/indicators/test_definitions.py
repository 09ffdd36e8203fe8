"""Five definitions by the letter of the standard, hand-counted, and evidence that cannot
drift: every value names the definition it was computed with, and its evidence re-runs
that definition even after the declaration changed."""
from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta

import pyarrow as pa
import pytest

from cityhub.core.identifiers import uscc_check_char
from cityhub.declarations import load
from cityhub.declarations.loading import packaged_root
from cityhub.lake import Lake
from cityhub.pipelines.checks import check
from cityhub.pipelines.indicators.engine import compute, latest
from cityhub.pipelines.indicators.evidence import evidence
from cityhub.pipelines.ingest.runner import run

NOW = datetime(2026, 12, 2, 8)


def commit(lake: Lake, dataset: str, rows: list[dict]) -> None:
    c = lake.decl.contract(dataset)
    lake.commit(dataset, pa.Table.from_pylist(rows, schema=c.arrow_schema()), connector="test",
                batch_id=f"{dataset}:{len(rows)}:{rows[0]}")


def uscc(region: str, body: str) -> str:
    first17 = "12" + region + body
    return first17 + uscc_check_char(first17)


def value(lake: Lake, code: str, region: str, period: str) -> dict:
    (v,) = latest(lake, code=code, region=region, period_label=period)
    return v


# -- #20: where the institution is, and only while it is open ---------------------------------------

CITY_HOSPITAL = uscc("371400", "MA3C4D5E9")   # registered by the city, located in 德城区
COUNTY_CLINIC = uscc("371425", "MA3C4D5F7")   # closes on 2026-07-01
UNGRADED = uscc("371402", "MA3C4D5G5")
DROPPED = uscc("371402", "MA3C4D5H3")         # in the March registry, absent from July's


def institution(code: str, region: str, township: str, level: str, active: bool, as_of: date) -> dict:
    return {"uscc": code, "org_id": code[-6:], "name": code, "kind": "general_hospital", "level": level,
            "region": region, "township_code": township, "networked": True, "active": active, "as_of": as_of}


@pytest.fixture
def medical(lake, tmp_path):
    commit(lake, "medical_institutions", [
        institution(CITY_HOSPITAL, "371402", "371402001", "3", True, date(2026, 3, 1)),
        institution(COUNTY_CLINIC, "371425", "371425001", "1", True, date(2026, 3, 1)),
        institution(UNGRADED, "371402", "371402002", "ungraded", True, date(2026, 3, 1)),
        institution(DROPPED, "371402", "371402003", "2", True, date(2026, 3, 1)),
        institution(CITY_HOSPITAL, "371402", "371402001", "3", True, date(2026, 7, 1)),
        institution(COUNTY_CLINIC, "371425", "371425001", "1", False, date(2026, 7, 1)),
        institution(UNGRADED, "371402", "371402002", "ungraded", True, date(2026, 7, 1)),
    ])
    # the visits arrive as the health commission sends them: no county, only the institution's code
    drop = lake.cfg.drop_root / "medical" / "visits"
    drop.mkdir(parents=True)
    (drop / "visits_20261201.csv").write_text(
        "date,institution_uscc,channel,visits\n"
        f"2026-02-10,{CITY_HOSPITAL},phone,100\n2026-02-10,{CITY_HOSPITAL},walk_in,300\n"  # before any registry
        f"2026-08-01,{CITY_HOSPITAL},web,50\n2026-08-01,{CITY_HOSPITAL},walk_in,50\n"
        f"2026-04-15,{COUNTY_CLINIC},app,10\n2026-04-15,{COUNTY_CLINIC},walk_in,30\n"
        f"2026-09-01,{COUNTY_CLINIC},phone,5\n2026-09-01,{COUNTY_CLINIC},walk_in,5\n"   # after it closed
        f"2026-04-15,{UNGRADED},phone,1000\n"
        f"2026-05-01,{DROPPED},web,2\n2026-05-01,{DROPPED},walk_in,2\n"
        f"2026-08-01,{DROPPED},phone,7\n2026-08-01,{DROPPED},walk_in,3\n", encoding="utf-8")  # after it was dropped
    report = run(lake, "medical_visits_drop")
    assert (report.landed, report.quarantined) == (13, 0), report.land.reasons
    compute(lake, date(2026, 12, 1), codes=["20"], kinds=("year",), now=NOW)
    return lake


def test_a_city_registered_hospitals_visits_land_in_the_county_where_it_is(medical):
    rows = medical.query("SELECT DISTINCT uscc, region FROM medical_visits", ["medical_visits"]).to_pylist()
    assert {r["uscc"]: r["region"] for r in rows}[CITY_HOSPITAL] == "371402"  # not 371400 from its credit code


def test_20_counts_level_1_to_3_where_they_are_and_while_they_are_open(medical):
    # the ungraded clinic's 1,000 phone visits do not count; the dropped institution's count until July
    assert (value(medical, "20", "371402", "2026")["numerator"], value(medical, "20", "371402", "2026")["denominator"]) \
        == (100 + 50 + 2, 400 + 100 + 4)
    clinic = value(medical, "20", "371425", "2026")
    assert (clinic["numerator"], clinic["denominator"]) == (10, 40)  # nothing after it closed
    city = value(medical, "20", "371400", "2026")
    assert (city["numerator"], city["denominator"]) == (152, 504)  # the main urban area: 德城区
    whole = next(x for x in json.loads(city["components"]) if x["code"] == "20.whole")
    assert (whole["numerator"], whole["denominator"]) == (162, 544)
    assert city["name_zh"] == "一级以上医疗机构预约诊疗率"
    e = evidence(medical, "20", "371400", "2026", "denominator", component="20.whole")
    assert sum(r["visits"] for r in e["rows"]) == e["stored"] == 544


# -- #4.2: the newest observation wins -------------------------------------------------------------

def test_a_cameras_newest_observation_wins_even_when_it_is_the_catalogue(lake):
    day = date(2026, 11, 22)
    area = {"area_id": "A1", "name": "德州站", "kind": "station", "region": "371402", "township_code": "371402001",
            "longitude": 116.3, "latitude": 37.4, "as_of": day}
    commit(lake, "key_areas", [area])
    camera = {"name": "cam", "region": "371402", "township_code": "371402001", "key_area_id": "A1",
              "resolution": "1920x1080", "hd": True, "longitude": 116.3, "latitude": 37.4, "owner": "ps",
              "install_date": date(2020, 1, 1), "address": "x", "as_of": day}
    c1, c2 = "37140200001320000001", "37140200001320000002"
    commit(lake, "camera_registry", [{**camera, "device_id": c1}, {**camera, "device_id": c2}])
    seen = datetime(2026, 11, 22, 9)  # the catalogue's delivery time
    listed = {"name": "cam", "manufacturer": "m", "model": "x", "civil_code": "371402", "region": "371402",
              "address": "x", "parent_id": None, "status": "ON", "longitude": 116.3, "latitude": 37.4,
              "resolution_codes": None, "platform_id": "p", "as_of": day, "observed_at": seen}
    commit(lake, "camera_catalog", [{**listed, "device_id": c1}, {**listed, "device_id": c2}])
    event = {"region": "371402", "status": "OFF", "received_at": datetime(2026, 11, 22, 12)}
    commit(lake, "camera_status", [
        {**event, "event_id": "e1", "device_id": c1, "event_time": seen - timedelta(hours=1)},  # older: the catalogue wins
        {**event, "event_id": "e2", "device_id": c2, "event_time": seen + timedelta(hours=1)},  # newer: the event wins
    ])
    compute(lake, day, codes=["4"], kinds=("day",), now=NOW)
    v = value(lake, "4", "371402", day.isoformat())
    part = next(x for x in json.loads(v["components"]) if x["code"] == "4.2")
    assert (part["numerator"], part["denominator"]) == (1, 2)
    e = evidence(lake, "4", "371402", day.isoformat(), "numerator", component="4.2")
    assert [r["device_id"] for r in e["rows"]] == [c1]


# -- #19: in the period it was completed ------------------------------------------------------------

def test_19_counts_a_business_in_the_period_it_was_completed(lake):
    base = {"business_name": "x", "channel": "web", "region": "371402", "remote": True, "status": "completed",
            "id_number": "110101199003074578", "name": "张三", "phone": "13800000000"}
    commit(lake, "social_security_records", [
        {**base, "serial": "S1", "business_type": "SI_TRANSFER", "accepted_at": datetime(2026, 11, 21, 23),
         "completed_at": datetime(2026, 11, 22, 1)},
        {**base, "serial": "S2", "business_type": "MEDICAL_SETTLEMENT", "accepted_at": datetime(2026, 11, 21, 9),
         "completed_at": datetime(2026, 11, 21, 10)},
    ])
    compute(lake, date(2026, 11, 22), codes=["19"], kinds=("day", "month"), now=NOW)
    compute(lake, date(2026, 11, 21), codes=["19"], kinds=("day",), now=NOW)
    assert value(lake, "19", "371402", "2026-11-21")["numerator"] == 1   # MEDICAL_SETTLEMENT only
    assert value(lake, "19", "371402", "2026-11-22")["numerator"] == 1   # SI_TRANSFER, accepted the day before
    assert value(lake, "19", "371402", "2026-11")["numerator"] == 2
    e = evidence(lake, "19", "371402", "2026-11-22", "numerator")
    assert [r["service"] for r in e["rows"]] == ["SI_TRANSFER"]


# -- evidence that cannot drift ---------------------------------------------------------------------

def changed_declarations(tmp_path, version: str):
    root = tmp_path / f"schemas-{version}"
    shutil.copytree(packaged_root(), root)
    path = root / "indicators.yaml"
    text = path.read_text(encoding="utf-8")
    old = "numerator: SELECT intersection_id, region, township_code FROM major_intersections WHERE epolice"
    assert old in text
    text = text.replace(old, old + " AND township_code IS NOT NULL")  # a changed count
    start = text.index('  - code: "7"')
    text = text[:start] + text[start:].replace("version: 2", f"version: {version}", 1)
    path.write_text(text, encoding="utf-8")
    return load(root)


def test_the_evidence_of_a_value_computed_before_a_definition_changed_returns_its_counted_rows(cfg, lake, tmp_path):
    from tests.integration.pipelines.indicators.test_scope import land_intersections

    land_intersections(lake)
    day = date(2026, 11, 22)
    compute(lake, day, codes=["7"], kinds=("day",), now=NOW)
    before = value(lake, "7", "371400", day.isoformat())
    assert (before["numerator"], before["definition_version"]) == (2, 2)   # I1 and I4 (no township code)

    changed = Lake(cfg, changed_declarations(tmp_path, "3"))
    compute(changed, date(2026, 11, 23), codes=["7"], kinds=("day",), now=NOW)  # another period, the new definition
    assert value(changed, "7", "371400", "2026-11-23")["numerator"] == 1     # I4 no longer counts
    e = evidence(changed, "7", "371400", day.isoformat(), "numerator")
    assert e["definition_hash"] == before["definition_hash"] and e["definition_version"] == 2
    assert sorted(r["intersection_id"] for r in e["rows"]) == ["I1", "I4"] and e["rows_total"] == 2


def test_check_refuses_changed_queries_that_kept_their_version(cfg, lake, tmp_path):
    from tests.integration.pipelines.indicators.test_scope import land_intersections

    land_intersections(lake)
    compute(lake, date(2026, 11, 22), codes=["7"], kinds=("day",), now=NOW)
    assert check(cfg, lake.decl) == []
    same_version = changed_declarations(tmp_path, "2")
    (problem,) = check(cfg, same_version)
    assert problem.file == "indicators.yaml" and "indicator 7" in problem.path
    assert "give the changed definition version 3" in problem.message
    assert check(cfg, changed_declarations(tmp_path, "3")) == []


def test_evidence_pages_through_every_counted_row(cfg, lake):
    rows = [{"intersection_id": f"P{i:05d}", "name": "x", "region": "371402", "township_code": "371402001",
             "major_road": "A", "minor_road": "B", "road_class": "major", "signalised": True, "epolice": i % 2 == 0,
             "control_mode": "adaptive", "online": True, "updated_at": datetime(2026, 11, 1)} for i in range(2500)]
    commit(lake, "traffic_intersections", rows)
    compute(lake, date(2026, 11, 22), codes=["7"], kinds=("day",), now=NOW)
    seen, cursor = [], None
    while True:
        page = evidence(lake, "7", "371400", "2026-11-22", "denominator", limit=1000, cursor=cursor)
        seen += [r["intersection_id"] for r in page["rows"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == page["stored"] == 2500
