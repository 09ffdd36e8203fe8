"""GB/T 28181 catalogue parsing: encodings, unreadable pages, pages refused whole."""
from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from cityhub.connectors.formats.gb28181 import (
    _PARSER,
    PARALLEL_MIN_PAGES,
    PageError,
    _item_starts,
    decode,
    directory_column,
    is_directory,
    item_values,
    page_text,
    parse_ahead,
    parse_page,
)
from cityhub.core.payloads import Payload

ITEM = ("<Item><DeviceID>37142500001310000001</DeviceID><Name>齐河县人民医院东门</Name>"
        "<CivilCode>371425</CivilCode><Status>ON</Status><Longitude>116.75</Longitude>"
        "<Latitude>36.79</Latitude><Info><PTZType>1</PTZType><Resolution>6/5/4</Resolution></Info></Item>")


def page(encoding: str, declared: str | None = None, items: int = 1, sum_num: int = 1) -> bytes:
    decl = f'<?xml version="1.0" encoding="{declared or encoding}"?>\n'
    body = (f"<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>37140000002000000001</DeviceID>"
            f"<SumNum>{sum_num}</SumNum><DeviceList Num=\"{items}\">{ITEM * items}</DeviceList></Response>")
    return (decl + body).encode(encoding)


@pytest.mark.parametrize("encoding", ["GB18030", "GB2312", "UTF-8"])
def test_each_declared_encoding_is_honoured(encoding):
    p = parse_page(page(encoding))
    assert p.sum_num == 1 and p.num == 1 and p.platform_id == "37140000002000000001"
    v = item_values(p.items[0])
    assert v["name"] == "齐河县人民医院东门"
    assert v["civil_code"] == "371425" and v["status"] == "ON" and v["resolution_codes"] == "6/5/4"


def test_page_text_is_the_page_in_its_declared_encoding():
    assert "齐河县人民医院东门" in page_text(page("GB18030"))


def test_gb18030_bytes_declared_utf8_is_a_wrong_encoding():
    with pytest.raises(PageError) as e:
        parse_page(page("GB18030", declared="UTF-8"))
    assert e.value.code == "wrong_encoding"
    assert "declares UTF-8" in e.value.message


def test_truncated_page_is_malformed():
    data = page("GB18030")
    with pytest.raises(PageError) as e:
        parse_page(data[: len(data) // 2])
    assert e.value.code == "malformed_xml"


def test_a_response_that_is_not_a_catalog_is_refused():
    with pytest.raises(PageError) as e:
        parse_page('<?xml version="1.0" encoding="UTF-8"?><Response><CmdType>Keepalive</CmdType></Response>'.encode())
    assert e.value.code == "not_catalog"


def test_decode_refuses_an_unreadable_page_whole_and_keeps_the_others():
    good, bad = page("GB18030", items=2, sum_num=3), page("GB18030", declared="UTF-8")
    d = decode([Payload("catalog_p0001.xml", good), Payload("catalog_p0002.xml", bad)], workers=1)
    assert len(d) == 2 and d.records["device_id"].to_pylist() == ["37142500001310000001"] * 2
    assert list(d.sources) == ["catalog_p0001.xml#item1", "catalog_p0001.xml#item2"]
    assert d.raw(1) == ITEM
    [r] = d.rejects
    assert r.source == "catalog_p0002.xml" and r.reason.startswith("wrong_encoding:")
    assert r.raw == bad.decode("latin-1")  # the page as received


# -- variants real platforms send (samples and their sources: tests/data/gb28181/README.md) --

SAMPLES = Path(__file__).parents[3] / "data" / "gb28181"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_element_names_in_any_case_are_read():
    p = parse_page(sample("lowercase_elements.xml"))
    assert p.sum_num == 2 and p.num == 2 and p.platform_id == "37140000002000000001"
    assert [item_values(i)["device_id"] for i in p.items] == ["37140200001320000201", "37140200001320000202"]
    assert item_values(p.items[1])["status"] == "OFFLINE"


def test_lowercase_items_are_decoded_with_their_raw_text():
    d = decode([Payload("catalog_p0001.xml", sample("lowercase_elements.xml"))], workers=1)
    assert len(d) == 2 and not d.rejects
    assert d.raw(1).startswith("<item>") and "37140200001320000202" in d.raw(1)


def test_gb2312_page_with_the_2011_item_set():
    p = parse_page(sample("emulator_gb2312_zero_coords.xml"))
    values = [item_values(i) for i in p.items]
    assert values[0]["name"] == "齐河县城南门" and values[0]["longitude"] == "0.0"
    assert [v["civil_code"] for v in values] == ["371425", "3714", "371425001000", "37142500"]


@pytest.mark.parametrize("device_id, directory", [
    ("37", True), ("3714", True), ("371425", True), ("37142510", True),
    ("37140000002000000001", True), ("37140000002150000001", True), ("37140000002160000001", True),
    ("37142500001310000301", False), ("37142500001320000302", False), ("37142500001110000001", False),
    ("371425001000", False), (None, False),
])
def test_directory_items_are_told_from_devices_by_their_id(device_id, directory):
    assert is_directory(device_id) is directory


def test_a_fetch_is_split_into_devices_and_directory_items():
    payloads = [Payload("catalog_p0001.xml", sample("directory_tree.xml"))]
    devices = decode(payloads, workers=1, items="devices")
    tree = decode(payloads, workers=1, items="directory")
    assert devices.records["device_id"].to_pylist() == ["37142500001310000301", "37142500001320000302"]
    assert len(tree) == 7 and "37140000002160000001" in tree.records["device_id"].to_pylist()
    # sources and raw text still point at the item's place in the page
    assert list(devices.sources) == ["catalog_p0001.xml#item8", "catalog_p0001.xml#item9"]
    assert "37142500001320000302" in devices.raw(1)


def test_catalog_notify_items_carry_their_event():
    p = parse_page(sample("notify_catalog_events.xml"))
    assert p.kind == "notify"
    assert [item_values(i)["event"] for i in p.items] == ["ADD", "DEL", "UPDATE", "ON", "OFF", "VLOST", "DEFECT"]
    assert parse_page(page("UTF-8")).kind == "response"


def test_a_delivery_short_of_its_sumnum_is_refused_whole_with_the_shortfall():
    data = sample("short_delivery.xml")
    d = decode([Payload("catalog_p0001.xml", data)], workers=1)
    assert len(d) == 0
    [r] = d.rejects
    assert r.source == "catalog_p0001.xml"
    assert r.reason == "incomplete_delivery: 1 of the 180 items its SumNum announces"
    assert r.raw == data.decode("latin-1")


def test_a_delivery_whose_pages_add_up_to_its_sumnum_is_complete():
    pages = [Payload(f"catalog_p000{n}.xml", page("UTF-8", items=2, sum_num=4)) for n in (1, 2)]
    d = decode(pages, workers=1)
    assert len(d) == 4 and not d.rejects
    # one page of the two: short
    short = decode(pages[:1], workers=1)
    assert len(short) == 0 and short.rejects[0].reason.startswith("incomplete_delivery: 2 of the 4")


def test_a_large_fetch_parsed_in_worker_processes_is_judged_whole_against_its_sumnum():
    n = 40  # PARALLEL_MIN_PAGES: parsed by the pool
    whole = [Payload(f"catalog_p{i:04d}.xml", page("UTF-8", items=1, sum_num=n)) for i in range(n)]
    d = decode(whole, workers=2)
    assert len(d) == n and not d.rejects
    short = [Payload(f"catalog_p{i:04d}.xml", page("UTF-8", items=1, sum_num=n + 1)) for i in range(n)]
    d = decode(short, workers=2)
    assert len(d) == 0 and len(d.rejects) == n
    assert {r.reason for r in d.rejects} == {f"incomplete_delivery: {n} of the {n + 1} items its SumNum announces"}


# -- a large HTTP fetch is parsed while it is fetched (parse_ahead) --------------------

def varied_fetch(n: int) -> list[bytes]:
    """``n`` pages announcing ``n`` items each of one (a large fetch), with variants that
    take the slow paths: a lower-case item, an empty and a missing field, a page that is
    not well-formed, a directory item."""
    pages = [page("UTF-8", items=1, sum_num=n) for _ in range(n)]
    pages[3] = pages[3].replace(b"<Item>", b"<item>").replace(b"</Item>", b"</item>")
    pages[5] = pages[5].replace(b"<Status>ON</Status>", b"<Status></Status>").replace(b"<Longitude>116.75</Longitude>", b"")
    pages[7] = pages[7][:-30]
    pages[9] = pages[9].replace(b"37142500001310000001", b"371425")
    return pages


def same_decoding(a, b) -> None:
    assert a.records.equals(b.records)
    assert list(a.sources) == list(b.sources)
    assert [a.raw(i) for i in range(len(a))] == [b.raw(i) for i in range(len(b))]
    assert a.rejects == b.rejects


@pytest.mark.parametrize("items", ["devices", "directory"])
def test_pages_parsed_as_they_arrive_decode_as_a_fetch_parsed_at_once(items):
    n = PARALLEL_MIN_PAGES
    data = varied_fetch(n)
    at_once = decode([Payload(f"p{i}", d) for i, d in enumerate(data)], workers=1, items=items)
    fetched = list(parse_ahead((Payload(f"p{i}", d) for i, d in enumerate(data)), "response", workers=2))
    assert all(p.parsed is not None for p in fetched)  # every page went to the pool as it arrived
    same_decoding(decode(fetched, workers=2, items=items), at_once)
    # some pages parsed ahead, the others by decode itself: still in page order
    mixed = [Payload(f"p{i}", d) for i, d in enumerate(data)]
    list(parse_ahead(mixed[::3], "response", workers=2))
    assert [p.parsed is not None for p in mixed[:4]] == [True, False, False, True]
    same_decoding(decode(mixed, workers=2, items=items), at_once)


def test_a_small_fetch_or_one_process_is_not_parsed_ahead():
    small = list(parse_ahead([Payload("p0", page("UTF-8", items=1, sum_num=3))], "response", workers=2))
    assert small[0].parsed is None  # decode parses it, in this process
    single = list(parse_ahead([Payload(f"p{i}", d) for i, d in enumerate(varied_fetch(PARALLEL_MIN_PAGES))],
                              "response", workers=1))
    assert all(p.parsed is None for p in single)
    # a notification delivery is parsed ahead as notifications, never mistaken for a response
    notify = list(parse_ahead([Payload("p0", page("UTF-8", items=1, sum_num=PARALLEL_MIN_PAGES))], "notify", 2))
    assert decode(notify, workers=2, items="changes").rejects[0].reason.startswith("wrong_message:")


def test_a_page_that_is_not_well_formed_is_reported_as_lxml_reads_its_text():
    data = page("GB18030")[:-12]
    body = page_text(data).split("?>", 1)[1]
    with pytest.raises(etree.XMLSyntaxError) as direct:
        etree.fromstring(body, _PARSER)
    with pytest.raises(PageError) as e:
        parse_page(data)
    assert e.value.message == f"not well-formed XML: {direct.value}"


def test_the_first_page_is_parsed_once_for_the_read_ahead_and_the_paginator(monkeypatch, decl):
    """On an HTTP fetch the read-ahead asks whether the fetch is large, the paginator how
    many pages there are: one parse of the first page answers both."""
    from cityhub.connectors.formats import PageCounter, gb28181

    gb28181._head.cache_clear()
    parsed, real = [], gb28181._page_columns
    monkeypatch.setattr(gb28181, "_page_columns", lambda data, hint=None: parsed.append(data) or real(data, hint))
    first = page("GB18030", items=2, sum_num=2 * PARALLEL_MIN_PAGES)
    [p] = parse_ahead([Payload("p1", first)], "response", workers=2)
    assert p.parsed is not None and p.parsed.kind == "gb28181:response"  # large: handed to the pool
    counter = PageCounter(decl.connector("camera_catalog_http"))
    assert counter.total(first) == 2 * PARALLEL_MIN_PAGES and counter.items(first) == 2
    assert gb28181.head(first) == gb28181.Head(sum_num=2 * PARALLEL_MIN_PAGES, items=2)
    assert parsed == [first]  # in this process, once
    # a page the parse refuses announces nothing, as before
    assert counter.total(first[:-30]) is None and gb28181.head(first[:-30]) is None
    # with no declaration the transport's charset reads the page: a page read with another is read again
    bare = first.split(b"?>", 1)[1]
    assert gb28181.head(bare, "GB18030") is not None and gb28181.head(bare) is None  # not UTF-8


@given(st.binary(max_size=40) | st.lists(st.sampled_from([b"<Item>", b"<item ", b"<ITEM\x0b", b"<Items>", b"<Ite",
                                                        b"</Item>", b"x", b"\xff<", b"<iTeM\n"])).map(b"".join))
def test_item_starts_are_where_the_item_pattern_matches(data):
    """(the raw text of a refused item is cut from its page there)"""
    want = [m.start() for m in re.finditer(rb"<[Ii][Tt][Ee][Mm][\s>]", data)]
    assert list(_item_starts(data)) == want


@given(st.lists(st.one_of(st.none(), st.sampled_from(["37", "3714", "371402", "37140200", "37140000002000000001",
                                                       "37140000002150000001", "37140000002160000001", " 371402\t",
                                                       "37140200001310000034", "3714020", "", "٣٧", "3７"]),
                          st.text(alphabet="0123456789 \t\n\x1c٣x", max_size=22))))
def test_directory_items_are_told_in_arrow_as_one_by_one(ids):
    """(Arrow's test on ASCII IDs, Python's on any other, give is_directory's answer)"""
    assert directory_column(pa.array(ids, pa.string())).to_pylist() == [is_directory(i) for i in ids]
