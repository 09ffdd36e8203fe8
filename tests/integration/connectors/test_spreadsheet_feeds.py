"""Feeds as departments' spreadsheets save them, through the declared connectors (a dry
run: what would land, what would be quarantined and why): Excel's "CSV UTF-8" with its
byte-order mark, its "Unicode text" (UTF-16, tabs), and WPS/Excel on Chinese Windows
(GB18030), each with CRLF, a cell with a line break, and the separator rows Excel leaves
below a table. Excel's habits with long numbers (shown, and saved, in scientific notation)
are the ones json2csv documents for its users (juanjoDiaz/json2csv,
docs/others/known-gotchas.md, "Avoiding excel auto-formatting")."""
from __future__ import annotations

import pytest

from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import dry_run

HEADER = ["业务流水号", "业务类型代码", "业务类型名称", "办理渠道", "行政区划代码", "异地办理标志", "办理状态",
          "受理时间", "办结时间", "公民身份号码", "姓名", "联系电话"]


def record(serial, id_number="11010519491231002X", phone="13800001111", accepted="2026-11-20 09:00:00",
           channel="网上办理") -> list[str]:
    return [serial, "SI_TRANSFER", '"社会保险关系\n转移接续"', channel, "371425", "是", "已办结", accepted,
            "2026-11-20 09:30:00", id_number, "张三", phone]


ROWS = [
    record("SB1", id_number="11010519491231002x", phone="0534-2345678转801"),  # lands, as ...X and web
    record("SB2", id_number="3.71403E+17"),      # the ID cell was not formatted as text
    record("SB3", phone="1.7602E+10"),           # nor was the phone cell
    record("SB4", accepted="46355.3755"),        # the time cell lost its date format
    record("SB5", phone="2345678", channel="窗口"),  # a landline without its area code
]


def excel(encoding: str, bom: bytes, sep: str) -> bytes:
    lines = [sep.join(HEADER)] + [sep.join(r) for r in ROWS] + [sep * (len(HEADER) - 1)] * 3
    return bom + "".join(line + "\r\n" for line in lines).encode(encoding)


SAVED_AS = {
    "excel_csv_utf8": excel("utf-8", b"\xef\xbb\xbf", ","),
    "excel_unicode_text": excel("utf-16-le", b"\xff\xfe", "\t"),
    "wps_gb18030": excel("gb18030", b"", ","),
}


@pytest.mark.parametrize("saved_as", SAVED_AS)
def test_a_spreadsheet_export_lands_its_good_rows_and_says_what_excel_spoiled(cfg, decl, tmp_path, saved_as):
    sample = tmp_path / f"{saved_as}.csv"
    sample.write_bytes(SAVED_AS[saved_as])
    a, _ = dry_run(Lake(cfg, decl), "social_security_records_drop", sample)
    [landed] = a.rows.to_pylist()
    assert (landed["serial"], landed["id_number"], landed["channel"], landed["business_name"]) == \
        ("SB1", "11010519491231002X", "web", "社会保险关系\n转移接续")
    why = {q["record_key"]: q["reason"] for q in a.quarantine}
    assert set(why) == {"SB2", "SB3", "SB4", "SB5"}  # the separator rows are no records, not faults
    assert "excel_scientific_notation: id_number '3.71403E+17' looks like a number Excel converted" in why["SB2"]
    assert "the original digits are lost" in why["SB2"]
    assert "excel_scientific_notation: phone '1.7602E+10'" in why["SB3"] and "bad_phone" in why["SB3"]
    assert "excel_serial_date: accepted_at '46355.3755'" in why["SB4"]
    assert why["SB5"].startswith("bad_phone: not a phone number")


def test_key_areas_listed_with_chinese_kinds_land_as_the_contracts_codes(cfg, decl, tmp_path):
    sample = tmp_path / "key_areas_20261122.csv"
    rows = ["area_id,name,kind,region,township_code,longitude,latitude",
            "KA1,德州东站,机场车站,371402,371402001,116.4,37.4", "KA2,人民公园,公园广场,371402,,116.3,37.4",
            "KA3,市立医院,医院,371402,,116.3,37.5", "KA4,苏宁广场,商圈,371402,,116.3,37.4",
            "KA5,董子读书台,旅游景点,371402,,116.3,37.4", "KA6,市民中心,政务服务中心,371402,,116.3,37.4",
            "KA7,市图书馆,图书馆,371402,,116.3,37.4"]
    sample.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8") + b"\r\n,,,,,,\r\n")
    a, _ = dry_run(Lake(cfg, decl), "camera_key_areas", sample)
    assert {r["area_id"]: r["kind"] for r in a.rows.to_pylist()} == {
        "KA1": "station", "KA2": "square", "KA3": "hospital", "KA4": "commercial", "KA5": "scenic",
        "KA6": "government"}
    [q] = a.quarantine  # a library is a public place the contract has no kind for
    assert q["record_key"].startswith("KA7|") and q["reason"].startswith("bad_kind")
