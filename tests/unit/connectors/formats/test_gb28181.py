"""GB/T 28181 catalogue parsing: encodings, unreadable pages, pages refused whole."""
from __future__ import annotations

import pytest

from cityhub.connectors.formats.gb28181 import PageError, decode, item_values, page_text, parse_page
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
