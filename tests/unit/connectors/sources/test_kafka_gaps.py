"""Retention gaps: the lake's offsets against the broker's earliest ones."""
from __future__ import annotations

from cityhub.connectors.sources.kafka import Gap, gaps


def test_a_stored_offset_below_the_earliest_is_a_gap_of_the_messages_between():
    found = gaps({"t:0": 120, "t:1": 40, "t:2": 7}, {"t:0": 100, "t:1": 55, "t:2": 7})
    assert found == [Gap("t:1", 40, 55)]
    assert found[0].lost == 15
    assert found[0].reason() == "retention_gap: t:1 offsets 40-54 were deleted by the broker before they were read"


def test_a_partition_never_read_is_not_a_gap():
    assert gaps({"t:0": 3}, {"t:0": 0, "t:1": 500}) == []
