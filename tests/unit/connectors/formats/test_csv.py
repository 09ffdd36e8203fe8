"""CSV files, strictly in their declared encoding."""
from __future__ import annotations

from cityhub.connectors.formats import csv
from cityhub.core.payloads import Payload
from cityhub.declarations.connectors import CsvFormat

GB18030 = CsvFormat(kind="csv", encoding="gb18030")
UTF8 = CsvFormat(kind="csv", encoding="utf-8")


def test_a_file_in_its_declared_encoding_decodes_to_text_columns():
    d = csv.decode(GB18030, [Payload("a.csv", "编号,姓名\n1,张三\n2,李四\n".encode("gb18030"))])
    assert d.header == ["编号", "姓名"]
    assert d.records.to_pylist() == [{"编号": "1", "姓名": "张三"}, {"编号": "2", "姓名": "李四"}]
    assert list(d.sources) == ["a.csv:2", "a.csv:3"] and not d.rejects


def test_a_file_in_the_wrong_encoding_is_refused_whole_with_its_reason():
    wrong = "编号,姓名\n1,张三\n".encode("gb18030")  # declared UTF-8
    good = "编号,姓名\n2,李四\n".encode("utf-8")
    d = csv.decode(UTF8, [Payload("wrong.csv", wrong), Payload("good.csv", good)])
    [r] = d.rejects
    assert r.source == "wrong.csv"
    assert r.reason.startswith("wrong_encoding: file is declared utf-8 but byte ")
    assert r.raw == wrong.decode("latin-1")  # the whole file, as received
    assert d.records.to_pylist() == [{"编号": "2", "姓名": "李四"}]  # the other file lands


def test_a_short_line_is_refused_alone():
    d = csv.decode(UTF8, [Payload("a.csv", b"id,name,region\n1,a,371402\n2,b\n3,c,371425\n")])
    assert d.records["id"].to_pylist() == ["1", "3"]
    [r] = d.rejects
    assert r.reason == "malformed_csv: expected 3 fields, got 2"
    assert r.raw == "2,b" and r.source.startswith("a.csv:")


def test_a_byte_order_mark_is_not_part_of_the_first_header():
    d = csv.decode(UTF8, [Payload("a.csv", "\ufeffid,name\n1,a\n".encode("utf-8"))])
    assert d.header == ["id", "name"]
    assert d.records.column_names == ["id", "name"]
    assert d.records.to_pylist() == [{"id": "1", "name": "a"}]


def test_only_an_empty_field_is_null():
    d = csv.decode(UTF8, [Payload("a.csv", b"id,name\n1,\n2,NULL\n")])
    assert d.records["name"].to_pylist() == [None, "NULL"]
