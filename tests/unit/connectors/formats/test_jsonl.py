"""JSON lines (drops, Kafka messages), decoded a batch at a time."""
from __future__ import annotations

import base64

from cityhub.connectors.formats.jsonl import decode, decode_lines
from cityhub.core.payloads import Payload

FIELDS = ["event_id", "status"]


def test_a_clean_batch_decodes_to_the_declared_fields_as_text():
    d = decode_lines([b'{"event_id": "e1", "status": "ON", "extra": 1}', b'{"event_id": "e2", "status": true}'],
                     ["t/0/0", "t/0/1"], FIELDS)
    assert d.records.column_names == FIELDS
    assert d.records.to_pylist() == [{"event_id": "e1", "status": "ON"}, {"event_id": "e2", "status": "true"}]
    assert list(d.sources) == ["t/0/0", "t/0/1"] and not d.rejects


def test_one_bad_line_refuses_exactly_that_line_with_its_raw_text():
    lines = [b'{"event_id": "e1", "status": "ON"}', b'{"event_id": "e2", "sta', b'{"event_id": "e3", "status": "OFF"}']
    d = decode_lines(lines, ["t/0/0", "t/0/1", "t/0/2"], FIELDS)
    assert d.records["event_id"].to_pylist() == ["e1", "e3"]
    assert list(d.sources) == ["t/0/0", "t/0/2"]
    assert d.raw(1) == '{"event_id": "e3", "status": "OFF"}'
    [r] = d.rejects
    assert r.source == "t/0/1" and r.raw == '{"event_id": "e2", "sta'
    assert r.reason.startswith("malformed_json: ")


def test_a_line_that_is_json_but_not_an_object_is_refused():
    d = decode_lines([b'{"event_id": "e1", "status": "ON"}', b'["e2", "ON"]', b'  '], ["a", "b", "c"], FIELDS)
    assert d.records["event_id"].to_pylist() == ["e1"]
    assert [(r.source, r.raw) for r in d.rejects] == [("b", '["e2", "ON"]'), ("c", "")]
    assert all(r.reason.startswith("malformed_json: not a JSON object") for r in d.rejects)


def test_a_file_of_lines_names_each_line_and_skips_blank_ones():
    data = b'{"event_id": "e1", "status": "ON"}\n\n{"event_id": "e2", "status": "OFF"}\n'
    d = decode(FIELDS, [Payload("status_20261122.jsonl", data)])
    assert d.records["event_id"].to_pylist() == ["e1", "e2"]
    assert list(d.sources) == ["status_20261122.jsonl:1", "status_20261122.jsonl:3"]


def test_bytes_that_are_not_utf8_are_refused_with_the_exact_bytes():
    bad = b'{"event_id": "e2", "status": "\xff\xfe"}'
    d = decode_lines([b'{"event_id": "e1", "status": "ON"}', bad], ["t/0/0", "t/0/1"], FIELDS)
    assert d.records["event_id"].to_pylist() == ["e1"]
    [r] = d.rejects
    assert r.source == "t/0/1" and r.reason.startswith("malformed_json: not UTF-8")
    assert base64.b64decode(r.raw) == bad


def test_an_escaped_lone_surrogate_is_refused_not_a_crash():
    d = decode_lines([b'{"event_id": "e1", "status": "ON"}', b'{"event_id": "\\ud800", "status": "ON"}', b'[1]'],
                     ["t/0/0", "t/0/1", "t/0/2"], FIELDS)
    assert d.records["event_id"].to_pylist() == ["e1"]
    assert [r.source for r in d.rejects] == ["t/0/1", "t/0/2"]
