"""Rows of several parts laid end to end: which part holds a row, and its source and raw text."""
from __future__ import annotations

import numpy as np

from cityhub.connectors.formats.decoded import Decoded, Parts


def test_a_row_is_found_in_its_part_past_empty_parts():
    parts = Parts(":")
    parts.add(0, "empty.csv")
    parts.add(3, "a.csv", np.array([2, 4, 5]))  # line numbers, a blank line skipped
    parts.add(0, "empty-too.csv")
    parts.add(2, "b.jsonl", range(10, 12), offset=1)  # 0-based line indices
    parts.add(1, "c.json")  # no numbers: row j is number j + 1
    assert len(parts) == 6
    assert [parts.where(i) for i in range(6)] == [(1, 0), (1, 1), (1, 2), (3, 0), (3, 1), (4, 0)]
    assert list(parts.sources) == ["a.csv:2", "a.csv:4", "a.csv:5", "b.jsonl:11", "b.jsonl:12", "c.json:1"]
    assert parts.sources[-1] == "c.json:1"


def test_a_part_decoded_on_its_own_keeps_its_sources_and_raw_text():
    page = Parts("#")
    page.add(2, "page1", raw=lambda j: f"item {j}")
    page.add_decoded(Decoded(records=[{"a": 1}], sources=["page2#7"], raw=lambda j: f"kept {j}"))
    assert list(page.sources) == ["page1#1", "page1#2", "page2#7"]
    assert [page.raw(i) for i in range(3)] == ["item 0", "item 1", "kept 0"]
