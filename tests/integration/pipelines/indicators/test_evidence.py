"""The rows behind stored values of #4 and #5 (``evidence``), on the camera world of
``cameras.py``: the declared query re-run over the snapshots the value recorded."""
from __future__ import annotations

from datetime import date

import pytest

from cityhub.core.errors import InvalidRequest, NotFound
from cityhub.pipelines.indicators.engine import compute
from cityhub.pipelines.indicators.evidence import evidence

from tests.integration.pipelines.indicators.cameras import LATER_EVENTS, ingest_cameras, write_status

DAY = date(2026, 11, 22)
C1, C2, C5 = "37140200001310000001", "37140200001310000002", "37142500001310000005"


@pytest.fixture
def computed(camera_lake):
    compute(camera_lake, DAY, codes=["4", "5"], kinds=("day",))
    return camera_lake


def test_the_rows_counted_are_the_hand_counted_ones(computed):
    ev = evidence(computed, "5", "371402", "2026-11-22", "numerator")
    assert sorted(r["device_id"] for r in ev["rows"]) == [C1, C2]
    assert ev["measured"] == ev["stored"] == 2 and ev["component"] == "5"
    # the city's rows are its counties' rows: C1, C2 and C5, not a sum of county figures
    ev = evidence(computed, "5", "371400", "2026-11-22", "numerator")
    assert sorted(r["device_id"] for r in ev["rows"]) == [C1, C2, C5]
    assert ev["measured"] == ev["stored"] == 3
    ev = evidence(computed, "5", "371400", "2026-11-22", "denominator")
    assert ev["measured"] == ev["stored"] == 5 and len(ev["rows"]) == 5 and not ev["truncated"]
    assert ev["snapshot_ids"] == {n: computed.snapshot_id(n) for n in ("camera_catalog", "camera_registry",
                                                                         "key_areas")}


def test_a_composite_names_its_component(computed):
    with pytest.raises(InvalidRequest, match="4.1, 4.2"):
        evidence(computed, "4", "371402", "2026-11-22", "numerator")
    with pytest.raises(InvalidRequest, match="no component '4.9'"):
        evidence(computed, "4", "371402", "2026-11-22", "numerator", component="4.9")
    ev = evidence(computed, "4", "371400", "2026-11-22", "numerator", component="4.1")
    assert sorted(r["area_id"] for r in ev["rows"]) == ["KA-A1", "KA-B1"]
    assert ev["measured"] == ev["stored"] == 2
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


def test_bad_requests_are_refused(computed):
    with pytest.raises(InvalidRequest, match="side must be numerator or denominator"):
        evidence(computed, "5", "371402", "2026-11-22", "value")
    with pytest.raises(NotFound, match="no stored value of indicator 5 for 371402 over 2026-11"):
        evidence(computed, "5", "371402", "2026-11", "numerator")   # only the day was computed
    with pytest.raises(NotFound, match="no indicator '99'"):
        evidence(computed, "99", "371402", "2026-11-22", "numerator")
