"""What spreadsheets do to a department's values, seen where the hub maps a file to its
contract: labels for codes, a lower-case ID check character, and numbers Excel spoiled."""
from __future__ import annotations

import re

import pyarrow as pa
import pytest

from cityhub.connectors.formats import csv
from cityhub.connectors.mapping import to_text
from cityhub.connectors.spreadsheet import spoiled
from cityhub.core.payloads import Payload

HEADER = "业务流水号,业务类型代码,业务类型名称,办理渠道,行政区划代码,异地办理标志,办理状态,受理时间,办结时间,公民身份号码,姓名,联系电话"


def mapped(decl, *rows: str):
    spec = decl.connector("social_security_records_drop")
    data = "\r\n".join([HEADER, *rows]).encode("gb18030") + b"\r\n"
    decoded = csv.decode(spec.format, [Payload("records.csv", data)])
    text, reasons, _ = to_text(spec, decl.contract(spec.dataset), decoded, None)
    return text, reasons


def row(serial="SB1", channel="网上", accepted="2026-11-20 09:00:00", id_number="11010519491231002X",
        phone="13800001111") -> str:
    return f"{serial},SI_TRANSFER,社会保险关系转移接续,{channel},371425,是,已办结,{accepted},,{id_number},张三,{phone}"


def test_a_lower_case_check_character_becomes_the_standards_X(decl):
    text, reasons = mapped(decl, row(id_number="11010519491231002x"), row(serial="SB2", id_number="110105194912310021"))
    assert text["id_number"].to_pylist() == ["11010519491231002X", "110105194912310021"]
    assert not reasons


@pytest.mark.parametrize("label, code", [("网上", "web"), ("网上办理", "web"), (" 窗口 ", "counter"),
                                         ("自助服务一体机", "self_service"), ("手机APP", "app"), ("web", "web")])
def test_the_labels_staff_type_become_the_contracts_codes(decl, label, code):
    text, _ = mapped(decl, row(channel=label))
    assert text["channel"].to_pylist() == [code]


def test_an_id_or_phone_number_excel_turned_into_scientific_notation_is_refused_saying_so(decl):
    _, reasons = mapped(decl, row(), row(serial="SB2", id_number="3.71403E+17"), row(serial="SB3", phone="1.7602E+10"))
    assert set(reasons) == {1, 2}
    [why] = reasons[1]
    assert why.startswith("excel_scientific_notation: id_number '3.71403E+17' looks like a number Excel converted "
                          "to scientific notation: the original digits are lost")
    assert reasons[2][0].startswith("excel_scientific_notation: phone '1.7602E+10'")


def test_a_time_excel_saved_as_its_serial_day_number_is_refused_saying_so(decl):
    _, reasons = mapped(decl, row(accepted="46355.3755"), row(serial="SB2", accepted="2026-11-20 09:00:00"))
    assert list(reasons) == [0]
    assert reasons[0][0].startswith("excel_serial_date: accepted_at '46355.3755' looks like a date Excel saved as "
                                    "its serial day number")


PHONES = {"13800001111": True, "19912345678": True, "0534-2345678": True, "05342345678": True,
          "010-12345678": True, "0534-2345678-801": True, "0534-2345678转801": True,
          "12800001111": False, "1380000111": False, "2345678": False, "534-2345678": False, "1.7602E+10": False}


def test_every_phone_field_declares_the_phone_rule_and_it_tells_phones_apart(decl):
    phones = [f for c in decl.contracts.values() for f in c.fields if f.mask == "phone"]
    assert phones
    for f in phones:
        [rule] = [r for r in f.rules if r.code == "bad_phone"]
        assert {v: bool(re.match(rule.regex, v)) for v in PHONES} == PHONES


def test_scientific_notation_is_found_in_any_chunk_of_a_column_and_only_where_it_is(decl):
    """(Text columns are first glanced over for a ``+``, which scientific notation holds:
    every chunk, sliced or not, is looked at.)"""
    c = decl.contract("social_security_records")
    plain = pa.array(["13800001111"] * 3)
    spoilt = pa.array(["13800001111", "1.7602E+10", "+8613800001111"])
    text = pa.table({"phone": pa.chunked_array([plain, spoilt.slice(1, 2), spoilt.slice(0, 1)])})
    assert {i: [r.split(":")[0] for r in rs] for i, rs in spoiled(c, text).items()} == {
        3: ["excel_scientific_notation"]}
    assert spoiled(c, pa.table({"phone": pa.chunked_array([plain, spoilt.slice(0, 1)])})) == {}
