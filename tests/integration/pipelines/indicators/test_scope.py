"""The standard's statistical scope, hand-counted (DB37/T 3890.1 annex 1): a city value
counts its main urban area only, no value counts rows in towns or townships, a row
without a township code counts with its county and is reported, and the whole area's
figure stands beside every value.

Dezhou's main urban area is 德城区 (371402). The intersections below (all on major roads
unless said; the newest inventory version counts):

    371402 德城区 (main urban)      371403 陵城区 (a district, not main urban)   371425 齐河县 (a county)
    I1 street    e-police          I7 street     e-police                  I9  town-like unit  e-police
    I2 street    -                 I8 township   -                         I10 town            -
    I3 town      e-police
    I4 no code   e-police
    I5 branch road, e-police (never counted)
    I6 street, not signalised, -  (counted: signalised is not part of #7 or #21)

#7 in the standard's scope: 371402 = I1, I4 of I1, I2, I4, I6 = 2/4 (one row without a
code); 371403 = 1/1; 371425 = 1/1; the city = its main urban area = 2/4. Over the whole
area: 371402 = 3/5, 371403 = 1/2, 371425 = 1/2, the city = 5/9.
"""
from __future__ import annotations

import json
import shutil
from datetime import date, datetime

import pyarrow as pa
import pytest

from cityhub.declarations import load
from cityhub.declarations.loading import packaged_root
from cityhub.lake import Lake
from cityhub.pipelines.indicators.engine import compute, latest
from cityhub.pipelines.indicators.evidence import evidence

DAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 23, 8)

INTERSECTIONS = [  # id, region, township code, road class, signalised, e-police, control mode
    ("I1", "371402", "371402001", "major", True, True, "adaptive"),
    ("I2", "371402", "371402002", "major", True, False, "fixed_time"),
    ("I3", "371402", "371402100", "major", True, True, "adaptive"),
    ("I4", "371402", None, "major", True, True, "fixed_time"),
    ("I5", "371402", "371402003", "branch", True, True, "adaptive"),
    ("I6", "371402", "371402006", "major", False, False, "adaptive"),
    ("I7", "371403", "371403001", "major", True, True, "adaptive"),
    ("I8", "371403", "371403200", "major", True, False, "adaptive"),
    ("I9", "371425", "371425400", "major", True, True, "fixed_time"),
    ("I10", "371425", "371425101", "major", True, False, "adaptive"),
]


def land_intersections(lake: Lake) -> None:
    c = lake.decl.contract("traffic_intersections")
    rows = [{"intersection_id": i, "name": i, "region": r, "township_code": t, "major_road": "A", "minor_road": "B",
             "road_class": cls, "signalised": sig, "epolice": ep, "control_mode": mode, "online": True,
             "updated_at": datetime(2026, 11, 1, 8)} for i, r, t, cls, sig, ep, mode in INTERSECTIONS]
    # an older version of I2 with e-police: the newest version counts
    rows.append({**rows[1], "epolice": True, "updated_at": datetime(2026, 10, 1, 8)})
    lake.commit("traffic_intersections", pa.Table.from_pylist(rows, schema=c.arrow_schema()),
                connector="test", batch_id="intersections")


def values(lake: Lake, code: str) -> dict[str, dict]:
    return {v["region"]: v for v in latest(lake, code=code, period_label=DAY.isoformat())}


def whole(v: dict) -> dict:
    return next(x for x in json.loads(v["components"]) if x["code"] == f"{v['code']}.whole")


@pytest.fixture
def intersections(lake):
    land_intersections(lake)
    compute(lake, DAY, codes=["7", "21"], kinds=("day",), now=NOW)
    return lake


def test_7_counts_the_main_urban_area_without_towns_and_townships(intersections):
    v = values(intersections, "7")
    assert (v["371402"]["numerator"], v["371402"]["denominator"]) == (2, 4)
    assert (v["371403"]["numerator"], v["371403"]["denominator"]) == (1, 1)
    assert (v["371425"]["numerator"], v["371425"]["denominator"]) == (1, 1)
    city = v["371400"]
    assert (city["numerator"], city["denominator"], city["value"]) == (2, 4, 0.5)
    assert "371402" in city["scope"] and "towns and townships" in city["scope"]
    assert "371425" in v["371425"]["scope"] and "towns and townships" in v["371425"]["scope"]
    # the one row without a township code (I4) is counted and reported
    assert city["rows_without_township"] == 1 and v["371402"]["rows_without_township"] == 1
    assert v["371403"]["rows_without_township"] == 0


def test_the_whole_area_stands_beside_every_value(intersections):
    v = values(intersections, "7")
    assert [(whole(v[r])["numerator"], whole(v[r])["denominator"]) for r in ("371402", "371403", "371425", "371400")] \
        == [(3, 5), (1, 2), (1, 2), (5, 9)]
    assert whole(v["371400"])["value"] == pytest.approx(5 / 9)
    assert "whole administrative area" in whole(v["371400"])["scope"]


def test_21_divides_by_major_intersections_signalised_or_not(intersections):
    v = values(intersections, "21")
    # adaptive among I1, I2, I4, I6 (I6 is not signalised: it counts): I1, I6
    assert (v["371402"]["numerator"], v["371402"]["denominator"]) == (2, 4)
    assert (v["371400"]["numerator"], v["371400"]["denominator"]) == (2, 4)
    # whole city: adaptive I1, I3, I6, I7, I8, I10 of 9 major intersections
    assert (whole(v["371400"])["numerator"], whole(v["371400"])["denominator"]) == (6, 9)


def test_evidence_returns_the_counted_rows_in_the_values_scope(intersections):
    e = evidence(intersections, "7", "371400", DAY.isoformat(), "numerator")
    assert sorted(r["intersection_id"] for r in e["rows"]) == ["I1", "I4"] and e["rows_total"] == e["stored"] == 2
    e = evidence(intersections, "7", "371400", DAY.isoformat(), "denominator", component="7.whole")
    assert e["rows_total"] == e["stored"] == 9 and "I5" not in {r["intersection_id"] for r in e["rows"]}


def test_a_city_without_a_declared_main_urban_area_gets_its_whole_area_value_and_a_reason(cfg, tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(packaged_root(), root)
    regions = root / "regions.yaml"
    text = regions.read_text(encoding="utf-8")
    assert 'main_urban: ["371402"]' in text
    regions.write_text(text.replace('main_urban: ["371402"]', ""), encoding="utf-8")
    decl = load(root)
    assert decl.city("371400").main_urban == ()
    lake = Lake(cfg, decl)
    land_intersections(lake)
    compute(lake, DAY, codes=["7"], kinds=("day",), now=NOW)
    city = values(lake, "7")["371400"]
    assert (city["numerator"], city["denominator"]) == (5, 9) and city["value"] == pytest.approx(5 / 9)
    assert "main urban area of 371400 is not declared" in city["reason"]
    assert "not declared" in city["scope"]
    # a county is still counted without its towns and townships
    assert (values(lake, "7")["371402"]["numerator"], values(lake, "7")["371402"]["denominator"]) == (2, 4)
    e = evidence(lake, "7", "371400", DAY.isoformat(), "denominator")
    assert e["rows_total"] == e["stored"] == 9
