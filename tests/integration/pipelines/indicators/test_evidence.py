"""The rows behind stored values of #4 and #5 (``evidence``), on the camera world of
``cameras.py``: the definition the value names re-run over the snapshots the value
recorded, in the scope it was counted over."""
from __future__ import annotations

from datetime import date

import pytest

from cityhub.core.errors import InvalidRequest, NotFound
from cityhub.pipelines.indicators.engine import compute, latest
from cityhub.pipelines.indicators.evidence import evidence

from tests.integration.pipelines.indicators.cameras import LATER_EVENTS, ingest_cameras, write_status

DAY = date(2026, 11, 22)
C1, C2, C3, C5, C6 = ("37140200001310000001", "37140200001310000002", "37140200001310000003",
                      "37142500001310000005", "37142500001310000006")


@pytest.fixture
def computed(camera_lake):
    compute(camera_lake, DAY, codes=["4", "5"], kinds=("day",))
    return camera_lake


def test_the_rows_counted_are_the_hand_counted_ones(computed):
    ev = evidence(computed, "5", "371402", "2026-11-22", "numerator")
    assert sorted(r["device_id"] for r in ev["rows"]) == [C1, C2]
    assert ev["measured"] == ev["stored"] == ev["rows_total"] == 2 and ev["component"] == "5"
    # the city's value counts its main urban area, 371402 (德城区): C1 and C2 of C1-C3, not C5
    stored = latest(computed, code="5", region="371400", period_label="2026-11-22")[0]
    ev = evidence(computed, "5", "371400", "2026-11-22", "numerator")
    assert sorted(r["device_id"] for r in ev["rows"]) == [C1, C2]
    assert ev["measured"] == ev["stored"] == ev["rows_total"] == 2
    assert ev["scope"] == stored["scope"] and "371402" in ev["scope"]
    assert ev["definition_hash"] == stored["definition_hash"] and ev["definition_version"] == 2
    ev = evidence(computed, "5", "371400", "2026-11-22", "denominator")
    assert sorted(r["device_id"] for r in ev["rows"]) == [C1, C2, C3]
    assert ev["measured"] == ev["stored"] == 3 and not ev["truncated"] and ev["next_cursor"] is None
    assert ev["snapshot_ids"] == {n: computed.snapshot_id(n) for n in ("camera_catalog", "camera_registry",
                                                                         "key_areas")}
    # the whole area beside it: the city's rows over every county, C1, C2 and C5 of five
    ev = evidence(computed, "5", "371400", "2026-11-22", "numerator", component="5.whole")
    assert sorted(r["device_id"] for r in ev["rows"]) == [C1, C2, C5]
    assert ev["measured"] == ev["stored"] == 3 and ev["component"] == "5.whole" and "全域" in ev["scope"]
    ev = evidence(computed, "5", "371400", "2026-11-22", "denominator", component="5.whole")
    assert sorted(r["device_id"] for r in ev["rows"]) == [C1, C2, C3, C5, C6]
    assert ev["measured"] == ev["stored"] == 5


def test_evidence_pages_with_a_cursor(computed):
    seen, cursor, pages = [], None, 0
    while True:
        ev = evidence(computed, "5", "371400", "2026-11-22", "denominator", component="5.whole", limit=2,
                      cursor=cursor)
        pages += 1
        assert ev["rows_total"] == 5 and len(ev["rows"]) <= 2
        seen += [r["device_id"] for r in ev["rows"]]
        cursor = ev["next_cursor"]
        assert ev["truncated"] == (cursor is not None)
        if cursor is None:
            break
    assert pages == 3 and sorted(seen) == [C1, C2, C3, C5, C6] and len(set(seen)) == 5
    with pytest.raises(InvalidRequest, match="cursor is not valid"):
        evidence(computed, "5", "371400", "2026-11-22", "denominator", cursor="not-a-cursor")
    first = evidence(computed, "5", "371400", "2026-11-22", "denominator", limit=2)
    compute(computed, DAY, codes=["5"], kinds=("day",))         # a newer computation of the value
    with pytest.raises(InvalidRequest, match="another value"):
        evidence(computed, "5", "371400", "2026-11-22", "denominator", cursor=first["next_cursor"])


def test_a_composite_names_its_component(computed):
    with pytest.raises(InvalidRequest, match="4.1, 4.2"):
        evidence(computed, "4", "371402", "2026-11-22", "numerator")
    with pytest.raises(InvalidRequest, match="no component '4.9'"):
        evidence(computed, "4", "371402", "2026-11-22", "numerator", component="4.9")
    with pytest.raises(InvalidRequest, match="4.1.whole, 4.2.whole"):
        evidence(computed, "4", "371400", "2026-11-22", "numerator", component="4.whole")
    # the city's 4.1 is its main urban area's key areas: A1 covered of A1-A3
    ev = evidence(computed, "4", "371400", "2026-11-22", "numerator", component="4.1")
    assert [r["area_id"] for r in ev["rows"]] == ["KA-A1"]
    assert ev["measured"] == ev["stored"] == 1
    ev = evidence(computed, "4", "371400", "2026-11-22", "denominator", component="4.1")
    assert sorted(r["area_id"] for r in ev["rows"]) == ["KA-A1", "KA-A2", "KA-A3"] and ev["stored"] == 3
    # and over the whole city, A1 and B1 of four
    ev = evidence(computed, "4", "371400", "2026-11-22", "numerator", component="4.1.whole")
    assert sorted(r["area_id"] for r in ev["rows"]) == ["KA-A1", "KA-B1"]
    assert ev["measured"] == ev["stored"] == 2
    ev = evidence(computed, "4", "371400", "2026-11-22", "denominator", component="4.2.whole")
    assert ev["measured"] == ev["stored"] == 5
    ev = evidence(computed, "4", "371425", "2026-11-22", "denominator", component="4.2")
    assert ev["measured"] == ev["stored"] == 2


def test_evidence_is_read_at_the_values_snapshots(computed):
    """C2 goes OFF at 20:00 in a later delivery: the stored value's evidence still
    shows C2 ON, as the value counted it, until the value is recomputed."""
    write_status(computed.cfg.drop_root, "status_371400_20261122b.jsonl", LATER_EVENTS)
    ingest_cameras(computed)
    ev = evidence(computed, "4", "371402", "2026-11-22", "numerator", component="4.2")
    assert sorted(r["device_id"] for r in ev["rows"]) == [C1, C2] and ev["measured"] == ev["stored"] == 2
    compute(computed, DAY, codes=["4"], kinds=("day",))
    ev = evidence(computed, "4", "371402", "2026-11-22", "numerator", component="4.2")
    assert [r["device_id"] for r in ev["rows"]] == [C1] and ev["measured"] == ev["stored"] == 1
    ev = evidence(computed, "4", "371400", "2026-11-22", "numerator", component="4.2")
    assert [r["device_id"] for r in ev["rows"]] == [C1] and ev["measured"] == ev["stored"] == 1


def test_bad_requests_are_refused(computed):
    with pytest.raises(InvalidRequest, match="side must be numerator or denominator"):
        evidence(computed, "5", "371402", "2026-11-22", "value")
    with pytest.raises(NotFound, match="no stored value of indicator 5 for 371402 over 2026-11"):
        evidence(computed, "5", "371402", "2026-11", "numerator")   # only the day was computed
    with pytest.raises(NotFound, match="no stored value of indicator 99"):
        evidence(computed, "99", "371402", "2026-11-22", "numerator")
    with pytest.raises(InvalidRequest, match="limit must be 1 to 10000"):
        evidence(computed, "5", "371402", "2026-11-22", "numerator", limit=10_001)
