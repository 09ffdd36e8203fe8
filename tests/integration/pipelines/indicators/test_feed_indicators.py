"""Indicators #7, #21, #18, #20 and #19 against values counted by hand on small
deliveries written below as the departments would send them.

  traffic (latest version at the period's end; branch roads and unsignalised excluded)
    371402: I1 major e-police adaptive; I2 major no e-police fixed (a later version on
            11-23 adds e-police: not yet); I3 branch (excluded); I4 major e-police -> a
            newer version without e-police, coordinated; I5 major but not signalised
    371425: I6 major e-police fixed_time          371403: none
    by hand  #7: 371402 1/3, 371425 1/1, city 2/4     #21: 371402 1/3, 371425 0/1, city 1/4
  medical
    371402: O1 level 3 networked, O2 level 2 not networked, O3 ungraded networked,
            O4 inactive (not counted)             371425: O5 level 1 networked
    visits 11-22: O1 phone 10 web 5 app 5 onsite 30 walk-in 50; O2 walk-in 100;
                  O3 app 50 walk-in 50 (ungraded: excluded); O5 web 30 walk-in 70
           11-21: O1 phone 100
    by hand  #18: 371402 2/3, 371425 1/1, city 3/4, 371403 no value
             #20 day: 371402 20/200, 371425 30/100, city 50/300; month: 371402 120/300, city 150/400
  social security (11-22)
    371402: SI_TRANSFER web remote done; PENSION_QUALIFICATION app remote done;
            MEDICAL_SETTLEMENT at the counter; PENSION_STATUS_QUERY web but not remote
    371425: MEDICAL_SETTLEMENT web remote done; PENSION_STATUS_QUERY app remote, not done
    by hand  #19: 371402 2/4, 371425 1/4, 371403 0/4, city 3/4 (distinct services, not a sum)
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


ORGS = [("O1", "371402", "3", True, True), ("O2", "371402", "2", False, True), ("O3", "371402", "ungraded", True, True),
        ("O4", "371402", "1", True, False), ("O5", "371425", "1", True, True)]
CODES = {oid: uscc(region, i) for i, (oid, region, *_rest) in enumerate(ORGS)}
VISITS = [("2026-11-22", "O1", "phone", 10), ("2026-11-22", "O1", "web", 5), ("2026-11-22", "O1", "app", 5),
          ("2026-11-22", "O1", "onsite_appointment", 30), ("2026-11-22", "O1", "walk_in", 50),
          ("2026-11-22", "O2", "walk_in", 100), ("2026-11-22", "O3", "app", 50), ("2026-11-22", "O3", "walk_in", 50),
          ("2026-11-22", "O5", "web", 30), ("2026-11-22", "O5", "walk_in", 70), ("2026-11-21", "O1", "phone", 100)]


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
SS_ROWS = [
    ("S1", "SI_TRANSFER", "网上", "371402", "是", "已办结"),
    ("S2", "PENSION_QUALIFICATION", "手机APP", "371402", "是", "已办结"),
    ("S3", "MEDICAL_SETTLEMENT", "窗口", "371402", "是", "已办结"),
    ("S4", "PENSION_STATUS_QUERY", "网上", "371402", "否", "已办结"),
    ("S5", "MEDICAL_SETTLEMENT", "网上", "371425", "是", "已办结"),
    ("S6", "PENSION_STATUS_QUERY", "手机APP", "371425", "是", "已受理"),
]


@pytest.fixture
def feeds(lake):
    drop = lake.cfg.drop_root
    (drop / "traffic/intersections").mkdir(parents=True)
    (drop / "traffic/intersections/intersections_371400_20261121.json").write_text(
        json.dumps({"items": INTERSECTIONS}, ensure_ascii=False), encoding="utf-8")
    (drop / "traffic/intersections/intersections_371400_20261122.json").write_text(
        json.dumps({"items": INTERSECTIONS_LATER}, ensure_ascii=False), encoding="utf-8")
    (drop / "medical/registry").mkdir(parents=True)
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(ORGS),
              "entry": [{"resource": organization(*o)} for o in ORGS]}
    (drop / "medical/registry/organizations_371400_20261122_b0001.json").write_text(
        json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    (drop / "medical/visits").mkdir(parents=True)
    (drop / "medical/visits/visits_371400_20261122.csv").write_text(
        "date,institution_uscc,channel,visits\n" + "".join(f"{d},{CODES[o]},{c},{n}\n" for d, o, c, n in VISITS))
    (drop / "social_security/records").mkdir(parents=True)
    lines = [SS_HEADER] + [
        f"{s},{t},名称,{ch},{r},{remote},{st},2026-11-22 09:00:00,{'2026-11-22 10:00:00' if st == '已办结' else ''},"
        f"{person(i)},张三,13800000000" for i, (s, t, ch, r, remote, st) in enumerate(SS_ROWS)]
    (drop / "social_security/records/ss_records_371400_20261122.csv").write_bytes(
        ("\r\n".join(lines) + "\r\n").encode("gb18030"))
    reports, failed = run_all(lake, ["traffic_intersections_drop", "medical_institutions_drop", "medical_visits_drop",
                                     "social_security_records_drop"])
    assert not failed, failed
    assert all(r.quarantined == 0 and r.landed > 0 for r in reports.values()), {
        n: r.land.reasons for n, r in reports.items()}
    return {(r["code"], r["region"], r["period"]): r for r in compute(lake, DAY, codes=["7", "21", "18", "20", "19"])}


def ratio(v, code, region, period="2026-11-22"):
    r = v[(code, region, period)]
    return r["numerator"], r["denominator"], r["value"]


def test_epolice_coverage_and_real_time_signal_timing(feeds):
    assert ratio(feeds, "7", "371402") == (1, 3, pytest.approx(1 / 3))
    assert ratio(feeds, "7", "371425") == (1, 1, 1.0)
    assert ratio(feeds, "7", "371400") == (2, 4, 0.5)
    assert ratio(feeds, "21", "371402") == (1, 3, pytest.approx(1 / 3))
    assert ratio(feeds, "21", "371425") == (0, 1, 0.0)
    assert ratio(feeds, "21", "371400") == (1, 4, 0.25)
    r = feeds[("7", "371403", "2026-11-22")]
    assert r["value"] is None and "denominator is 0" in r["reason"]


def test_medical_networking_and_appointment_rates(feeds):
    assert ratio(feeds, "18", "371402") == (2, 3, pytest.approx(2 / 3))
    assert ratio(feeds, "18", "371425") == (1, 1, 1.0)
    assert ratio(feeds, "18", "371400") == (3, 4, 0.75)
    assert feeds[("18", "371403", "2026-11-22")]["value"] is None
    assert ratio(feeds, "20", "371402") == (20, 200, 0.1)
    assert ratio(feeds, "20", "371425") == (30, 100, 0.3)
    assert ratio(feeds, "20", "371400") == (50, 300, pytest.approx(50 / 300))
    assert ratio(feeds, "20", "371402", "2026-11") == (120, 300, 0.4)
    assert ratio(feeds, "20", "371400", "2026-11") == (150, 400, 0.375)


def test_cross_region_social_security_services(feeds):
    assert ratio(feeds, "19", "371402") == (2, 4, 0.5)
    assert ratio(feeds, "19", "371425") == (1, 4, 0.25)
    assert ratio(feeds, "19", "371403") == (0, 4, 0.0)
    # the city counts distinct services over its rows: 3 of 4, not 2 + 1 + 0 and not a mean
    assert ratio(feeds, "19", "371400") == (3, 4, 0.75)
