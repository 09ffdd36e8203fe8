"""Indicators #4 and #5 computed by the engine against values counted by hand on the
small camera world of ``cameras.py`` (its docstring has the counts)."""
from __future__ import annotations

import json
from datetime import date

import pytest

from cityhub.core.time import now_cst
from cityhub.pipelines.indicators.engine import compute, evaluate, latest
from cityhub.pipelines.indicators.periods import period

from tests.integration.pipelines.indicators.cameras import LATER_EVENTS, ingest_cameras, write_status

DAY = date(2026, 11, 22)


def values(rows, code, period_label):
    return {r["region"]: r for r in rows if r["code"] == code and r["period"] == period_label}


def test_indicators_equal_hand_counts(camera_lake):
    rows = compute(camera_lake, DAY)
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


def test_zero_denominator_gives_no_value_and_a_reason(camera_lake):
    rows = compute(camera_lake, DAY)
    for code in ("4", "5"):
        r = values(rows, code, "2026-11-22")["371403"]
        assert r["value"] is None
        assert "denominator is 0" in r["reason"] and "371403" in r["reason"]
    assert values(rows, "5", "2026-11-22")["371403"]["denominator"] == 0


def test_every_region_and_period_is_computed_with_evidence(camera_lake, decl):
    rows = compute(camera_lake, DAY)
    regions = set(decl.city("371400").regions)
    for code in ("4", "5"):
        for label in ("2026-11-22", "2026-11", "2026"):
            assert set(values(rows, code, label)) == regions
    r = values(rows, "5", "2026-11-22")["371400"]
    assert json.loads(r["inputs"]) == {n: camera_lake.snapshot_id(n)
                                        for n in ("camera_catalog", "camera_registry", "key_areas")}
    assert r["definition_version"] == 1
    stored = latest(camera_lake, code="5", region="371400", period_label="2026-11-22")
    assert stored[0]["numerator"] == 3 and stored[0]["denominator"] == 5


def test_recomputing_from_the_same_snapshots_gives_the_same_value(camera_lake, decl):
    ind, c = decl.indicator("4"), decl.city("371400")
    first = evaluate(camera_lake, ind, c, period("day", DAY))
    snaps = json.loads(first[0]["inputs"])
    # new data lands: the current value changes, the pinned one does not
    write_status(camera_lake.cfg.drop_root, "status_371400_20261122b.jsonl", LATER_EVENTS)
    ingest_cameras(camera_lake)
    pinned = evaluate(camera_lake, ind, c, period("day", DAY), snapshots=snaps)
    assert [r["value"] for r in pinned] == [r["value"] for r in first]
    assert [r["components"] for r in pinned] == [r["components"] for r in first]
    now = {r["region"]: r for r in evaluate(camera_lake, ind, c, period("day", DAY))}
    assert now["371402"]["value"] == pytest.approx(0.5 * 1 / 3 + 0.5 * 1 / 3)  # C2 went OFF at 20:00


def test_now_is_today_so_far_and_only_today(camera_lake):
    past = compute(camera_lake, DAY, codes=["5"])
    assert "now" not in {r["period"] for r in past}
    today = now_cst().date()
    rows = {r["period"]: r for r in compute(camera_lake, today, codes=["5"]) if r["region"] == "371400"}
    assert rows["now"]["period_start"] == rows["now"]["period_end"] == today
    # the registry delivered on 11-22 is still the latest list today: same counts as that day
    assert (rows["now"]["numerator"], rows["now"]["denominator"]) == (3, 5)
