"""Indicators #7, #21, #18, #20 and #19 against values counted by hand on small
deliveries written below as the departments would send them. A city value counts its
main urban area, 371402 (德城区) only; the whole city is its `.whole` alternate. No row
here carries a township code: every row counts with its county.

  traffic (latest version at the period's end; branch roads excluded, signalised or not)
    371402: I1 major e-police adaptive; I2 major no e-police fixed (a later version on
            11-23 adds e-police: not yet); I3 branch (excluded); I4 major e-police -> a
            newer version without e-police, coordinated; I5 major but not signalised
            (counted since definition version 2: 区域路口总数 does not ask for signals)
    371425: I6 major e-police fixed_time          371403: none
    by hand  #7:  371402 1/4, 371425 1/1, city 1/4 (whole 2/5)
             #21: 371402 1/4, 371425 0/1, city 1/4 (whole 1/5)
  medical (registries delivered 11-21 and 11-22; a visit counts where and as the registry
           of its day had its institution, not by the authority in its credit code)
    371402: O1 level 3 networked, registered with the city (USCC positions 3-8 371400),
            located in 371402; O2 level 2 not networked; O3 ungraded networked;
            O4 level 1 networked, active on 11-21, closed on 11-22
    371425: O5 level 1 networked
    visits 11-22: O1 phone 10 web 5 app 5 onsite 30 walk-in 50; O2 walk-in 100;
                  O3 app 50 walk-in 50 (ungraded: excluded); O5 web 30 walk-in 70
           11-21: O1 phone 100; O4 phone 10 walk-in 30 (open that day: counted)
    by hand  #18 (registry of 11-22): 371402 2/3, 371425 1/1, city 2/3 (whole 3/4), 371403 no value
             #20 day: 371402 20/200, 371425 30/100, city 20/200 (whole 50/300)
                 month: 371402 130/340, city 130/340 (whole 160/440)
  social security (a business counts on the day it was completed)
    371402: SI_TRANSFER web remote done 11-22; PENSION_QUALIFICATION app remote done 11-22;
            MEDICAL_SETTLEMENT at the counter; PENSION_STATUS_QUERY web but not remote;
            MEDICAL_SETTLEMENT web remote, accepted 11-21, completed 11-22 (counts on 11-22)
    371425: MEDICAL_SETTLEMENT web remote done 11-22; PENSION_STATUS_QUERY app remote, not done;
            PENSION_QUALIFICATION app remote, accepted 11-22, completed 11-23 (delivered 11-23:
            not on 11-22)
    by hand  #19 day: 371402 3/4, 371425 1/4, 371403 0/4, city 3/4 (whole 3/4: distinct
             services, not 3 + 1)
"""
from __future__ import annotations

import json
from datetime import date

import pytest

from cityhub.core.identifiers import id_check_char, uscc_check_char
from cityhub.pipelines.indicators.engine import compute
from cityhub.pipelines.ingest.runner import run_all

DAY = date(2026, 11, 22)


def inter(iid, region, road, signalised, epolice, mode, updated):
    return {"id": iid, "name": iid, "region": region, "major_road": "甲路", "minor_road": "乙路",
            "road_class": road, "signalised": signalised, "epolice": epolice, "control_mode": mode,
            "online": True, "updated_at": updated}


INTERSECTIONS = [
    inter("I1", "371402", "major", True, True, "adaptive", "2026-11-01T08:00:00+08:00"),
    inter("I2", "371402", "major", True, False, "fixed_time", "2026-11-01T08:00:00+08:00"),
    inter("I3", "371402", "branch", True, True, "adaptive", "2026-11-01T08:00:00+08:00"),
    inter("I4", "371402", "major", True, True, "adaptive", "2026-11-01T08:00:00+08:00"),
    inter("I5", "371402", "major", False, False, "off", "2026-11-01T08:00:00+08:00"),
    inter("I6", "371425", "major", True, True, "fixed_time", "2026-11-01T08:00:00+08:00"),
]
INTERSECTIONS_LATER = [inter("I4", "371402", "major", True, False, "coordinated", "2026-11-10T08:00:00+08:00"),
                       inter("I2", "371402", "major", True, True, "fixed_time", "2026-11-23T08:00:00+08:00")]


def uscc(region: str, n: int) -> str:
    body = f"12{region}MB{n:07d}"
    return body + uscc_check_char(body)


# (id, where it is, level, networked, active) in the registry of 11-22
ORGS = [("O1", "371402", "3", True, True), ("O2", "371402", "2", False, True), ("O3", "371402", "ungraded", True, True),
        ("O4", "371402", "1", True, False), ("O5", "371425", "1", True, True)]
ORGS_1121 = [(oid, region, level, networked, active or oid == "O4")  # the day before O4 closed
             for oid, region, level, networked, active in ORGS]
# O1, the city's large level-3 hospital, was registered with the city's authority: its credit code
# says 371400 in positions 3-8, where the definition before version 2 took its county from (and
# quarantined its visits as unknown_region); the registry locates it in 371402
REGISTERED_WITH = {"O1": "371400"}
CODES = {oid: uscc(REGISTERED_WITH.get(oid, region), i) for i, (oid, region, *_rest) in enumerate(ORGS)}
VISITS = [("2026-11-22", "O1", "phone", 10), ("2026-11-22", "O1", "web", 5), ("2026-11-22", "O1", "app", 5),
          ("2026-11-22", "O1", "onsite_appointment", 30), ("2026-11-22", "O1", "walk_in", 50),
          ("2026-11-22", "O2", "walk_in", 100), ("2026-11-22", "O3", "app", 50), ("2026-11-22", "O3", "walk_in", 50),
          ("2026-11-22", "O5", "web", 30), ("2026-11-22", "O5", "walk_in", 70), ("2026-11-21", "O1", "phone", 100),
          ("2026-11-21", "O4", "phone", 10), ("2026-11-21", "O4", "walk_in", 30)]


def organization(oid, region, level, networked, active) -> dict:
    base = "https://cityhub.example/fhir/StructureDefinition"
    return {"resourceType": "Organization", "id": oid, "active": active, "name": f"{oid}医院",
            "identifier": [{"system": "urn:cn:uscc", "value": CODES[oid]}],
            "type": [{"coding": [{"code": "general_hospital"}]}],
            "address": [{"extension": [{"url": f"{base}/region-code", "valueCode": region}]}],
            "extension": [{"url": f"{base}/hospital-level", "valueCode": level},
                          {"url": f"{base}/platform-networked", "valueBoolean": networked}]}


def person(n: int) -> str:
    body = f"37140219800101{n:03d}"
    return body + id_check_char(body)


SS_HEADER = "业务流水号,业务类型代码,业务类型名称,办理渠道,行政区划代码,异地办理标志,办理状态,受理时间,办结时间,公民身份号码,姓名,联系电话"
ACCEPTED, DONE = "2026-11-22 09:00:00", "2026-11-22 10:00:00"
SS_ROWS = [  # (serial, service, channel, county, remote, status, accepted, completed)
    ("S1", "SI_TRANSFER", "网上", "371402", "是", "已办结", ACCEPTED, DONE),
    ("S2", "PENSION_QUALIFICATION", "手机APP", "371402", "是", "已办结", ACCEPTED, DONE),
    ("S3", "MEDICAL_SETTLEMENT", "窗口", "371402", "是", "已办结", ACCEPTED, DONE),
    ("S4", "PENSION_STATUS_QUERY", "网上", "371402", "否", "已办结", ACCEPTED, DONE),
    ("S5", "MEDICAL_SETTLEMENT", "网上", "371425", "是", "已办结", ACCEPTED, DONE),
    ("S6", "PENSION_STATUS_QUERY", "手机APP", "371425", "是", "已受理", ACCEPTED, ""),
    # #19 counts a business when it was completed (definition version 2; version 1 filtered on
    # accepted_at): S7 counts on 11-22, the day after it was accepted
    ("S7", "MEDICAL_SETTLEMENT", "网上", "371402", "是", "已办结", "2026-11-21 16:00:00", DONE),
]
SS_ROWS_1123 = [  # the next day's export: S8 accepted on 11-22, completed on 11-23, so not on 11-22
    ("S8", "PENSION_QUALIFICATION", "手机APP", "371425", "是", "已办结", "2026-11-22 15:00:00", "2026-11-23 09:00:00"),
]


def ss_records(rows: list[tuple], first: int) -> bytes:
    lines = [SS_HEADER] + [f"{s},{t},名称,{ch},{r},{remote},{st},{accepted},{completed},{person(first + i)},张三,13800000000"
                           for i, (s, t, ch, r, remote, st, accepted, completed) in enumerate(rows)]
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")


def registry(orgs: list[tuple]) -> str:
    return json.dumps({"resourceType": "Bundle", "type": "searchset", "total": len(orgs),
                       "entry": [{"resource": organization(*o)} for o in orgs]}, ensure_ascii=False)


@pytest.fixture
def feeds(lake):
    drop = lake.cfg.drop_root
    (drop / "traffic/intersections").mkdir(parents=True)
    (drop / "traffic/intersections/intersections_371400_20261121.json").write_text(
        json.dumps({"items": INTERSECTIONS}, ensure_ascii=False), encoding="utf-8")
    (drop / "traffic/intersections/intersections_371400_20261122.json").write_text(
        json.dumps({"items": INTERSECTIONS_LATER}, ensure_ascii=False), encoding="utf-8")
    (drop / "medical/registry").mkdir(parents=True)
    (drop / "medical/registry/organizations_371400_20261121_b0001.json").write_text(registry(ORGS_1121),
                                                                                     encoding="utf-8")
    (drop / "medical/registry/organizations_371400_20261122_b0001.json").write_text(registry(ORGS), encoding="utf-8")
    (drop / "medical/visits").mkdir(parents=True)
    (drop / "medical/visits/visits_371400_20261122.csv").write_text(
        "date,institution_uscc,channel,visits\n" + "".join(f"{d},{CODES[o]},{c},{n}\n" for d, o, c, n in VISITS))
    (drop / "social_security/records").mkdir(parents=True)
    (drop / "social_security/records/ss_records_371400_20261122.csv").write_bytes(ss_records(SS_ROWS, 0))
    (drop / "social_security/records/ss_records_371400_20261123.csv").write_bytes(
        ss_records(SS_ROWS_1123, len(SS_ROWS)))
    # the registry lands before the visits: a visit's county is looked up in it at landing
    reports, failed = run_all(lake, ["traffic_intersections_drop", "medical_institutions_drop", "medical_visits_drop",
                                     "social_security_records_drop"])
    assert not failed, failed
    assert all(r.quarantined == 0 and r.landed > 0 for r in reports.values()), {
        n: r.land.reasons for n, r in reports.items()}
    return {(r["code"], r["region"], r["period"]): r for r in compute(lake, DAY, codes=["7", "21", "18", "20", "19"])}


def ratio(v, code, region, period="2026-11-22"):
    r = v[(code, region, period)]
    return r["numerator"], r["denominator"], r["value"]


def whole(v, code, region="371400", period="2026-11-22"):
    """The whole-area alternate (``<code>.whole``) beside a value."""
    r = next(x for x in json.loads(v[(code, region, period)]["components"]) if x["code"] == f"{code}.whole")
    assert r["kind"] == "alternate"
    return r["numerator"], r["denominator"], r["value"]


def test_epolice_coverage_and_real_time_signal_timing(feeds):
    # I5, major but not signalised, is a major intersection since definition version 2
    # (version 1 counted signalised ones only: 371402 was 1/3 for both, the city 2/4 and 1/4)
    assert ratio(feeds, "7", "371402") == (1, 4, 0.25)
    assert ratio(feeds, "7", "371425") == (1, 1, 1.0)
    assert ratio(feeds, "7", "371400") == (1, 4, 0.25)           # the main urban area: 371402
    assert whole(feeds, "7") == (2, 5, 0.4)                       # I1, I6 of I1, I2, I4, I5, I6
    assert ratio(feeds, "21", "371402") == (1, 4, 0.25)
    assert ratio(feeds, "21", "371425") == (0, 1, 0.0)
    assert ratio(feeds, "21", "371400") == (1, 4, 0.25)
    assert whole(feeds, "21") == (1, 5, 0.2)                      # I1 of five
    r = feeds[("7", "371403", "2026-11-22")]
    assert r["value"] is None and "denominator is 0" in r["reason"]
    assert feeds[("7", "371400", "2026-11-22")]["definition_version"] == 2


def test_medical_networking_and_appointment_rates(feeds):
    assert ratio(feeds, "18", "371402") == (2, 3, pytest.approx(2 / 3))
    assert ratio(feeds, "18", "371425") == (1, 1, 1.0)
    assert ratio(feeds, "18", "371400") == (2, 3, pytest.approx(2 / 3))   # 371402: O1, O3 of O1-O3
    assert whole(feeds, "18") == (3, 4, 0.75)
    assert feeds[("18", "371403", "2026-11-22")]["value"] is None
    # O1's visits count in 371402, where the registry has it, though its code says 371400
    assert ratio(feeds, "20", "371402") == (20, 200, 0.1)
    assert ratio(feeds, "20", "371425") == (30, 100, 0.3)
    assert ratio(feeds, "20", "371400") == (20, 200, 0.1)
    assert whole(feeds, "20") == (50, 300, pytest.approx(50 / 300))
    # O4 closed on 11-22 but was open on 11-21: its 10/40 visits of that day count in the month
    # (version 1 took the registry of the period's end, where O4 is closed, and left them out)
    assert ratio(feeds, "20", "371402", "2026-11") == (130, 340, pytest.approx(130 / 340))
    assert ratio(feeds, "20", "371400", "2026-11") == (130, 340, pytest.approx(130 / 340))
    assert whole(feeds, "20", period="2026-11") == (160, 440, pytest.approx(160 / 440))
    assert feeds[("20", "371400", "2026-11-22")]["name_zh"] == "一级以上医疗机构预约诊疗率"


def test_visits_land_in_the_county_the_registry_gives(feeds, lake):
    """A visit's region is looked up in the registry at landing, not cut from positions
    3-8 of the credit code: the city-registered O1's visits land in 371402."""
    rows = lake.query("SELECT uscc, region, sum(visits) AS n FROM medical_visits GROUP BY ALL ORDER BY ALL",
                      ["medical_visits"]).to_pylist()
    assert {(r["uscc"], r["region"], int(r["n"])) for r in rows} == {
        (CODES["O1"], "371402", 200), (CODES["O2"], "371402", 100), (CODES["O3"], "371402", 100),
        (CODES["O4"], "371402", 40), (CODES["O5"], "371425", 100)}
    assert CODES["O1"][2:8] == "371400"


def test_cross_region_social_security_services(feeds):
    # S7, accepted on 11-21 and completed on 11-22, counts on 11-22; S8, accepted on 11-22 and
    # completed on 11-23, does not (version 1 counted by acceptance: 371402 2/4, 371425 2/4)
    assert ratio(feeds, "19", "371402") == (3, 4, 0.75)
    assert ratio(feeds, "19", "371425") == (1, 4, 0.25)
    assert ratio(feeds, "19", "371403") == (0, 4, 0.0)
    assert ratio(feeds, "19", "371400") == (3, 4, 0.75)           # the main urban area: 371402
    # the whole city counts distinct services over its rows: 3 of 4, not 3 + 1 + 0 and not a mean
    assert whole(feeds, "19") == (3, 4, 0.75)
