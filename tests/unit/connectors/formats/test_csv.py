"""CSV files as spreadsheets save them (see also test_spreadsheet_csv.py)."""
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


def test_a_file_no_encoding_reads_is_refused_whole_with_its_reason():
    damaged = "编号,姓名\n1,张三\n".encode("gb18030") + b"\xff\xfe\x80\n"  # neither UTF-8 nor GB18030
    good = "编号,姓名\n2,李四\n".encode("utf-8")
    d = csv.decode(UTF8, [Payload("damaged.csv", damaged), Payload("good.csv", good)])
    [r] = d.rejects
    assert r.source == "damaged.csv"
    assert r.reason.startswith("wrong_encoding: file is declared utf-8 but is not valid utf-8 at byte 0, nor gb18030 at byte ")
    assert r.raw == damaged.decode("latin-1")  # the whole file, as received
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


# -- as Excel and WPS save them ---------------------------------------------------------------

HEADER = "业务流水号,办理渠道,备注"
# Excel ends a row with CRLF, quotes a cell with a line break in it (Alt+Enter: a bare LF),
# and saves the rows below the table someone once touched as separators only
ROWS = 'SB1,网上,"第一行\n第二行"\r\nSB2,窗口,无\r\n,,\r\n,,\r\n'


def test_excel_csv_utf8_with_its_byte_order_mark_is_read_whatever_the_declaration():
    data = b"\xef\xbb\xbf" + (HEADER + "\r\n" + ROWS).encode("utf-8")  # Excel: "CSV UTF-8 (逗号分隔)"
    d = csv.decode(GB18030, [Payload("a.csv", data)])
    assert not d.rejects and d.header == ["业务流水号", "办理渠道", "备注"]
    assert d.records.to_pylist() == [{"业务流水号": "SB1", "办理渠道": "网上", "备注": "第一行\n第二行"},
                                     {"业务流水号": "SB2", "办理渠道": "窗口", "备注": "无"}]


def test_excel_unicode_text_is_utf16_with_a_byte_order_mark_and_tab_separated():
    text = HEADER.replace(",", "\t") + "\r\n" + ROWS.replace(",", "\t")
    data = b"\xff\xfe" + text.encode("utf-16-le")  # Excel: "Unicode 文本 (*.txt)"
    d = csv.decode(UTF8, [Payload("a.txt", data)])
    assert not d.rejects and d.header == ["业务流水号", "办理渠道", "备注"]
    assert d.records["备注"].to_pylist() == ["第一行\n第二行", "无"]


def test_gb18030_from_chinese_windows_is_read_though_declared_utf8():
    data = (HEADER + "\r\n" + ROWS + "SB3,自助终端,𠀀\r\n").encode("gb18030")  # 𠀀: four GB18030 bytes, not in GBK
    d = csv.decode(UTF8, [Payload("wps.csv", data)])
    assert not d.rejects
    assert d.records["办理渠道"].to_pylist() == ["网上", "窗口", "自助终端"]
    assert d.records["备注"].to_pylist()[-1] == "𠀀"


def test_utf8_without_a_mark_is_read_though_declared_gb18030():
    # the same bytes would decode as GB18030 too, into nonsense: UTF-8 is tried first
    d = csv.decode(GB18030, [Payload("a.csv", "编号,渠道\r\n1,网上\r\n".encode("utf-8"))])
    assert d.records.to_pylist() == [{"编号": "1", "渠道": "网上"}]


def test_rows_of_separators_or_nothing_are_skipped_not_quarantined():
    data = b"id,name,region\r\n1,a,371402\r\n,,\r\n\r\n , ,\r\n,\r\n2,b,371425\r\n,,,\r\n"
    d = csv.decode(UTF8, [Payload("a.csv", data)])
    assert d.records["id"].to_pylist() == ["1", "2"]
    assert not d.rejects  # ",," and ",,," lines are not malformed rows either
    assert len(d.sources) == 2 and d.sources[0] == "a.csv:2"  # one source per kept row


def test_a_row_with_one_value_among_separators_is_a_record():
    d = csv.decode(UTF8, [Payload("a.csv", b"id,name,region\r\n,,371402\r\n")])
    assert d.records.to_pylist() == [{"id": None, "name": None, "region": "371402"}]
