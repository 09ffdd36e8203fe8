"""GB/T 28181 catalogue parsing: encodings, paging over HTTP, unreadable pages."""
from __future__ import annotations

import pytest

from connectors.gb28181 import PageError, item_values, parse_page

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


def test_http_paging_follows_sumnum():
    from hub.simulator.cameras import SimConfig, generate, serve_catalog

    world = generate(SimConfig(cameras_per_county=30, key_areas_per_county=5, fault_rate=0, page_size=50))
    assert len(world.catalog_pages) > 3
    from connectors import formats, sources
    from connectors.spec import connector
    from hub.config import settings

    spec = connector("camera_catalog_http")
    server, url = serve_catalog(world.catalog_pages)
    try:
        import os
        os.environ["CITYHUB_CAMERA_CATALOG_HTTP_URL"] = url
        [unit] = list(sources.http_units(spec, settings(), {}, formats.count_items(spec)))
    finally:
        os.environ.pop("CITYHUB_CAMERA_CATALOG_HTTP_URL", None)
        server.shutdown()
    pages = [p.data for p in unit.payloads]
    assert pages == world.catalog_pages
    total = sum(len(parse_page(d).items) for d in pages)
    assert total == parse_page(pages[0]).sum_num == len(world.catalog_items)
