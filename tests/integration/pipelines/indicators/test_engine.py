"""Indicators #4 and #5 computed by the engine against values counted by hand on the
small camera world of ``cameras.py`` (its docstring has the counts)."""
from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from cityhub.core.time import CST, now_cst
from cityhub.declarations.indicators import definition
from cityhub.pipelines.indicators.engine import compute, evaluate, latest
from cityhub.pipelines.indicators.periods import period

from tests.integration.pipelines.indicators.cameras import (ITEMS, LATER_EVENTS, ingest_cameras, write_catalogue,
                                                             write_status)

DAY = date(2026, 11, 22)


def values(rows, code, period_label):
    return {r["region"]: r for r in rows if r["code"] == code and r["period"] == period_label}


def figures(row) -> dict[str, dict]:
    """A value's components and alternates (whole-area figures included), by code."""
    return {p["code"]: p for p in json.loads(row["components"] or "[]")}


def nd(x) -> tuple:
    return x["numerator"], x["denominator"]


def test_indicators_equal_hand_counts(camera_lake):
    rows = compute(camera_lake, DAY)
    four, five = values(rows, "4", "2026-11-22"), values(rows, "5", "2026-11-22")

    parts = figures(four["371402"])
    assert nd(parts["4.1"]) == (1, 3)
    assert nd(parts["4.2"]) == (2, 3)
    assert four["371402"]["value"] == pytest.approx(0.5)
    assert nd(five["371402"]) == (2, 3)
    assert five["371402"]["value"] == pytest.approx(2 / 3)
    # no row carries a township code: the whole county is the county's standard figure
    assert nd(parts["4.1.whole"]) == (1, 3) and nd(parts["4.2.whole"]) == (2, 3)
    assert parts["4.whole"]["value"] == pytest.approx(0.5)

    parts = figures(four["371425"])
    assert nd(parts["4.1"]) == (1, 1)
    assert nd(parts["4.2"]) == (0, 2)
    assert four["371425"]["value"] == pytest.approx(0.5)
    assert five["371425"]["value"] == pytest.approx(0.5)

    # the city's value is its main urban area (371402 德城区 only, no towns or townships):
    # 4.1 = 1/3, 4.2 = 2/3, #4 = 0.5, #5 = 2/3, not 371425's rows
    parts = figures(four["371400"])
    assert nd(parts["4.1"]) == (1, 3)
    assert nd(parts["4.2"]) == (2, 3)
    assert four["371400"]["value"] == pytest.approx(0.5)
    assert nd(five["371400"]) == (2, 3)
    assert five["371400"]["value"] == pytest.approx(2 / 3)
    # beside it, the whole administrative area, counted from the city's own rows over every
    # county: 3/5, not the mean of 2/3 and 1/2 (the city value before the standard's scope)
    assert nd(parts["4.1.whole"]) == (2, 4)
    assert nd(parts["4.2.whole"]) == (2, 5)
    assert parts["4.whole"]["value"] == pytest.approx(0.45)
    assert {parts[c]["kind"] for c in ("4.whole", "4.1.whole", "4.2.whole")} == {"alternate"}
    assert {parts[c]["kind"] for c in ("4.1", "4.2")} == {"component"}
    whole = figures(five["371400"])["5.whole"]
    assert nd(whole) == (3, 5) and whole["value"] == pytest.approx(0.6) and whole["kind"] == "alternate"
    assert "全域" in whole["scope"] and "全域" in whole["name_zh"]

    # every value says what it counted, in the standard's words
    assert "主城区" in five["371400"]["scope"] and "371402" in five["371400"]["scope"]
    assert "371425" not in five["371400"]["scope"]
    assert "371425" in five["371425"]["scope"] and "不含乡镇" in five["371425"]["scope"]
    assert five["371400"]["name_zh"] == "重点公共区域视频监控联网率"
    assert five["371400"]["reason"] is None
    # the rows counted without a township code: #5's 3 cameras of 371402; #4's 3 areas and 3 cameras
    assert five["371400"]["rows_without_township"] == 3 and five["371425"]["rows_without_township"] == 2
    assert four["371402"]["rows_without_township"] == 3 + 3


def test_zero_denominator_gives_no_value_and_a_reason(camera_lake):
    rows = compute(camera_lake, DAY)
    for code in ("4", "5"):
        r = values(rows, code, "2026-11-22")["371403"]
        assert r["value"] is None
        assert "denominator is 0" in r["reason"] and "371403" in r["reason"]
    assert values(rows, "5", "2026-11-22")["371403"]["denominator"] == 0
    assert figures(values(rows, "5", "2026-11-22")["371403"])["5.whole"]["value"] is None


def test_every_region_and_period_is_computed_with_evidence(camera_lake, decl):
    rows = compute(camera_lake, DAY)
    regions = set(decl.city("371400").regions)
    for code in ("4", "5"):
        for label in ("2026-11-22", "2026-11", "2026"):
            assert set(values(rows, code, label)) == regions
    r = values(rows, "5", "2026-11-22")["371400"]
    assert json.loads(r["inputs"]) == {n: camera_lake.snapshot_id(n)
                                        for n in ("camera_catalog", "camera_registry", "key_areas")}
    assert r["definition_version"] == 2
    assert r["definition_hash"] == definition(decl.indicator("5"), decl.views).hash
    stored = latest(camera_lake, code="5", region="371400", period_label="2026-11-22")
    assert (stored[0]["numerator"], stored[0]["denominator"]) == (2, 3)      # the main urban area
    assert nd(figures(stored[0])["5.whole"]) == (3, 5)                       # the whole city
    assert stored[0]["definition_hash"] == r["definition_hash"]


def test_recomputing_from_the_same_snapshots_gives_the_same_value(camera_lake, decl):
    d, c = definition(decl.indicator("4"), decl.views), decl.city("371400")
    first = evaluate(camera_lake, d, c, period("day", DAY))
    snaps = json.loads(first[0]["inputs"])
    # new data lands: the current value changes, the pinned one does not
    write_status(camera_lake.cfg.drop_root, "status_371400_20261122b.jsonl", LATER_EVENTS)
    ingest_cameras(camera_lake)
    pinned = evaluate(camera_lake, d, c, period("day", DAY), snapshots=snaps)
    assert [r["value"] for r in pinned] == [r["value"] for r in first]
    assert [r["components"] for r in pinned] == [r["components"] for r in first]
    now = {r["region"]: r for r in evaluate(camera_lake, d, c, period("day", DAY))}
    assert now["371402"]["value"] == pytest.approx(0.5 * 1 / 3 + 0.5 * 1 / 3)  # C2 went OFF at 20:00
    assert now["371400"]["value"] == pytest.approx(0.5 * 1 / 3 + 0.5 * 1 / 3)  # the main urban area: 371402
    assert figures(now["371400"])["4.whole"]["value"] == pytest.approx(0.5 * 2 / 4 + 0.5 * 1 / 5)


def test_the_newest_observation_wins_the_catalogue_included(camera_lake, decl):
    """#4.2 (definition version 2): a camera's status at the period's end is its newest
    observation, a status event or a catalogue's Status at the catalogue's delivery time.
    After C2's OFF event at 20:00 on 11-22, the catalogue delivered at 06:00 on 11-23 says
    C2 ON: C2 is intact at the end of 11-23. C5's ON event at 01:00 on 11-23 is older than
    that catalogue's OFF: C5 is broken. (Before version 2 any event beat any catalogue:
    C2 would have stayed broken until its next event, and C5 intact.)"""
    write_status(camera_lake.cfg.drop_root, "status_371400_20261122b.jsonl", LATER_EVENTS)
    ingest_cameras(camera_lake)
    d, c = definition(decl.indicator("4"), decl.views), decl.city("371400")
    next_day = period("day", date(2026, 11, 23))
    before = {r["region"]: figures(r) for r in evaluate(camera_lake, d, c, next_day)}
    assert nd(before["371402"]["4.2"]) == (1, 3)          # C1 ON at 12:00; C2 OFF at 20:00 on 11-22
    assert nd(before["371425"]["4.2"]) == (1, 2)          # C5 ON at 01:00 on 11-23
    statuses = {"37142500001310000005": "OFF"}
    morning = [(device, region, statuses.get(device, "ON")) for device, region, _ in ITEMS]
    write_catalogue(camera_lake.cfg.drop_root, "catalog_371400_20261123_p0001.xml",
                    datetime(2026, 11, 23, 6, 0, tzinfo=CST), morning)
    ingest_cameras(camera_lake)
    after = {r["region"]: figures(r) for r in evaluate(camera_lake, d, c, next_day)}
    assert nd(after["371402"]["4.2"]) == (2, 3)           # C1 and C2 ON in the 06:00 catalogue
    assert nd(after["371425"]["4.2"]) == (0, 2)           # C5 OFF in the 06:00 catalogue
    assert nd(after["371400"]["4.2"]) == (2, 3) and nd(after["371400"]["4.2.whole"]) == (2, 5)
    # a catalogue delivered after a period's end is no observation of that period
    day = {r["region"]: figures(r) for r in evaluate(camera_lake, d, c, period("day", DAY))}
    assert nd(day["371402"]["4.2"]) == (1, 3) and nd(day["371425"]["4.2"]) == (0, 2)


def test_now_is_today_so_far_and_only_today(camera_lake):
    past = compute(camera_lake, DAY, codes=["5"])
    assert "now" not in {r["period"] for r in past}
    today = now_cst().date()
    rows = {r["period"]: r for r in compute(camera_lake, today, codes=["5"]) if r["region"] == "371400"}
    assert rows["now"]["period_start"] == rows["now"]["period_end"] == today
    # the registry delivered on 11-22 is still the latest list today: same counts as that day
    assert nd(rows["now"]) == (2, 3) and nd(figures(rows["now"])["5.whole"]) == (3, 5)
