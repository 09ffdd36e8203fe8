"""Big text files decoded a part at a time (CSV transcoded a step at a time, JSON lines
a chunk of lines at a time) decode exactly as if read whole: rows, where each came
from, raw text of refused rows and the reasons."""
from __future__ import annotations

import codecs

import pytest

from cityhub.connectors.formats import csv, jsonl
from cityhub.core.payloads import Payload
from cityhub.declarations.connectors import CsvFormat


def same(a, b) -> None:
    assert b.records.equals(a.records)
    assert list(b.sources) == list(a.sources)
    assert [b.raw(i) for i in range(len(b))] == [a.raw(i) for i in range(len(a))]
    assert [(r.source, r.reason, r.raw) for r in b.rejects] == [(r.source, r.reason, r.raw) for r in a.rejects]
    assert (b.header, b.spans) == (a.header, a.spans)


TABLE = "业务流水号,姓名,办理渠道\r\nS1,张三,网上\r\n,,\r\nS2,\"李\r\n四\",窗口\r\nS3,王五\r\nS4,赵六,柜台\r\n"


@pytest.mark.parametrize("data, declared", [
    (TABLE.encode("gb18030"), "gb18030"),                       # transcoded: characters cut between steps
    (TABLE.encode("gb18030"), "utf-8"),                         # not UTF-8: GB18030 all the same
    (codecs.BOM_UTF8 * 2 + TABLE.encode(), "gb18030"),          # UTF-8 as it is, past its marks
    (TABLE.encode("utf-16"), "utf-8"),                          # Excel's "Unicode text"
    (TABLE.encode() + b"\xff\xfe\x80", "gb18030"),              # nothing reads it: refused whole
])
def test_a_csv_read_a_step_at_a_time_is_the_csv_read_whole(monkeypatch, data, declared):
    fmt = CsvFormat(kind="csv", encoding=declared)
    whole = csv.decode(fmt, [Payload("a.csv", data), Payload("b.csv", data)])
    monkeypatch.setattr(csv, "_STEP", 5)
    same(whole, csv.decode(fmt, [Payload("a.csv", data), Payload("b.csv", data)]))
    assert len(whole) in (0, 6)


def test_a_csv_row_is_named_by_its_row_when_asked():
    d = csv.decode(CsvFormat(kind="csv", encoding="gb18030"), [Payload("a.csv", TABLE.encode("gb18030"))])
    assert list(d.sources) == ["a.csv:2", "a.csv:4", "a.csv:5"]  # the blank row skipped, the short one refused
    assert [r.reason for r in d.rejects] == ["malformed_csv: expected 3 fields, got 2"]


LINES = [b'{"event_id": "e1", "status": "ON"}', b"", b'{"event_id": "e2", "sta', b"   ",
         b'{"event_id": "e3", "status": true}', b'["e4"]', b'{"event_id": "\xe9\xbd\x90", "status": "OFF"}',
         b'{"event_id": "e5", "status": "ON"}\t', b'{"event_id": "e6"} {"event_id": "e7"}', b'{"event_id": "\xff"}']


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_json_lines_read_a_chunk_at_a_time_are_the_file_read_whole(monkeypatch, eol):
    data = eol.join(LINES * 3) + eol
    payloads = [Payload("a.jsonl", data), Payload("blank.jsonl", eol * 3), Payload("b.jsonl", data[:-1])]
    whole = jsonl.decode(["event_id", "status"], payloads)
    for chunk in (1, 2, 3, 7):
        monkeypatch.setattr(jsonl, "FILE_CHUNK", chunk)
        same(whole, jsonl.decode(["event_id", "status"], payloads))
    assert whole.records["event_id"].to_pylist() == ["e1", "e3", "齐", "e5"] * 6
    assert list(whole.sources)[:4] == ["a.jsonl:1", "a.jsonl:5", "a.jsonl:7", "a.jsonl:8"]
    assert whole.raw(3) == '{"event_id": "e5", "status": "ON"}'
    assert [r.source for r in whole.rejects][:4] == ["a.jsonl:3", "a.jsonl:6", "a.jsonl:9", "a.jsonl:10"]


def test_a_file_without_lines_decodes_to_no_rows():
    d = jsonl.decode(["event_id"], [Payload("a.jsonl", b"\n \n")])
    assert len(d) == 0 and d.records.num_rows == 0 and not d.rejects
