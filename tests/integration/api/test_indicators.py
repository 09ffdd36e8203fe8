"""Indicator values, their evidence, star readiness and the standard's table, in-process."""
from __future__ import annotations

import pytest

from cityhub.pipelines.indicators.engine import compute
from tests.integration.api.world import CITY, DAY, DECHENG, QIHE, land_cameras
from tests.support import assert_problem, auth, token


@pytest.fixture
def tokens(lake, cfg, decl):
    land_cameras(lake)
    compute(lake, DAY)
    return {"county": token(cfg, decl, "qihe-app", "county", QIHE),
            "scoring": token(cfg, decl, "province-scoring", "scoring")}


def test_indicators_carry_numerator_denominator_and_evidence(api, lake, tokens):
    r = api.get("/v1/indicators", headers=auth(tokens["scoring"]), params={"region": CITY, "code": "5"})
    assert r.status_code == 200, r.text
    values = r.json()["indicators"]
    assert {v["period"] for v in values} == {"2026-11-22", "2026-11", "2026"}
    for v in values:
        assert v["code"] == "5" and v["region"] == CITY
        assert 0 <= v["value"] <= 1 and v["value"] == pytest.approx(v["numerator"] / v["denominator"])
        assert v["evidence"]["definition_version"] == 2 and v["definition_hash"]
        assert v["evidence"]["snapshot_ids"]["camera_catalog"] == lake.snapshot_id("camera_catalog")
        assert v["name_zh"] == "重点公共区域视频监控联网率"
        # the standard's value counts the main urban area (德城区); the whole city is beside it
        assert "主城区" in v["scope"] and DECHENG in v["scope"] and v["components"] is None
        [whole] = v["alternates"]
        assert whole["code"] == "5.whole" and "全域" in whole["scope"]
        assert whole["denominator"] > v["denominator"]   # every county's cameras, not 德城区's alone
    four = api.get("/v1/indicators", headers=auth(tokens["scoring"]),
                   params={"region": DECHENG, "code": "4", "period": "2026-11-22"}).json()["indicators"]
    assert len(four) == 1 and [c["code"] for c in four[0]["components"]] == ["4.1", "4.2"]
    assert [a["code"] for a in four[0]["alternates"]] == ["4.whole", "4.1.whole", "4.2.whole"]
    # a county reads its own values only
    mine = api.get("/v1/indicators", headers=auth(tokens["county"])).json()["indicators"]
    assert mine and {v["region"] for v in mine} == {QIHE}
    assert_problem(api.get("/v1/indicators", headers=auth(tokens["county"]), params={"region": DECHENG}), 403)


def test_evidence_returns_the_rows_behind_a_stored_value(api, tokens):
    h = auth(tokens["scoring"])
    stored = api.get("/v1/indicators", headers=h,
                     params={"region": CITY, "code": "5", "period": "2026-11-22"}).json()["indicators"][0]
    for side in ("numerator", "denominator"):
        r = api.get("/v1/indicators/5/evidence", headers=h,
                    params={"region": CITY, "period": "2026-11-22", "side": side, "limit": 10000})
        assert r.status_code == 200, r.text
        ev = r.json()
        assert ev["measured"] == ev["stored"] == stored[side]
        assert len(ev["rows"]) == stored[side] and not ev["truncated"]
        assert ev["snapshot_ids"] == stored["inputs"]
        assert len({row["device_id"] for row in ev["rows"]}) == len(ev["rows"])
        # the main urban area's rows only, none located in a town (镇) or a township (乡)
        assert {row["region"] for row in ev["rows"]} == {DECHENG}
        assert not [row for row in ev["rows"] if row["township_code"] and 100 <= int(row["township_code"][6:9]) <= 399]
        assert ev["scope"] == stored["scope"] and ev["definition_hash"] == stored["definition_hash"]
        # and the whole-area figure beside it, over every county
        whole = api.get("/v1/indicators/5/evidence", headers=h, params={
            "region": CITY, "period": "2026-11-22", "side": side, "component": "5.whole", "limit": 10000}).json()
        assert whole["measured"] == whole["stored"] == stored["alternates"][0][side] == len(whole["rows"])
        assert {row["region"] for row in whole["rows"]} > {DECHENG}
    # a county sees the evidence of its own values only
    mine = api.get("/v1/indicators/5/evidence", headers=auth(tokens["county"]),
                   params={"region": QIHE, "period": "2026-11-22", "side": "denominator"}).json()
    assert mine["rows"] and {row["region"] for row in mine["rows"]} == {QIHE}
    assert_problem(api.get("/v1/indicators/5/evidence", headers=auth(tokens["county"]),
                           params={"region": DECHENG, "period": "2026-11-22"}), 403)
    # a weighted mix needs its component named
    assert_problem(api.get("/v1/indicators/4/evidence", headers=h,
                           params={"region": CITY, "period": "2026-11-22"}), 400, "4.1")
    part = api.get("/v1/indicators/4/evidence", headers=h, params={
        "region": CITY, "period": "2026-11-22", "component": "4.1", "side": "denominator"}).json()
    assert part["component"] == "4.1" and part["measured"] == len(part["rows"]) > 0
    assert_problem(api.get("/v1/indicators/99/evidence", headers=h,
                           params={"region": CITY, "period": "2026-11-22"}), 404, "99")


def test_star_readiness_and_export_for_the_scoring_layer(api, tokens):
    h = auth(tokens["scoring"])
    ready = api.get("/v1/star-readiness", headers=h, params={"region": CITY}).json()
    assert "not from DB37/T 3890.1" in ready["thresholds_source"]
    codes = {row["code"] for row in ready["indicators"]}
    assert {"4", "5", "7", "18", "19", "20", "21"} <= codes
    five = next(row for row in ready["indicators"] if row["code"] == "5")
    assert five["period"] == "2026" and five["value"] is not None
    assert five["stars_met"] == max([int(s) for s, need in five["thresholds"].items() if five["value"] >= need],
                                    default=0)   # JSON keys are text: compare the stars as numbers
    assert ready["stars_met_by_all"] == min(row["stars_met"] for row in ready["indicators"])

    r = api.get("/v1/indicators/export", headers=h, params={"region": CITY, "period": "2026"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("指标编号,指标名称,指标名称(英文),区域代码,区域名称,统计周期,指标值,分子,分母")
    assert any(line.startswith("5,重点公共区域视频监控联网率") and ",德州市,2026," in line for line in lines[1:])
    # the scope is a column, and the whole-area figure is a row of its own beside the standard's
    assert "统计口径" in lines[0].split(",")
    assert any(line.startswith("5.whole,重点公共区域视频监控联网率（全域）") and ",德州市,2026," in line
               for line in lines[1:])
    body = api.get("/v1/indicators/export", headers=h, params={"format": "json", "period": "2026"}).json()
    assert body["columns"][0] == "指标编号" and {row["区域代码"] for row in body["rows"]} >= {CITY, QIHE}
