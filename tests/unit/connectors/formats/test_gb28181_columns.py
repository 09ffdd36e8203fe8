"""xml2arrow reads a catalogue page only where it reads it exactly as lxml does: on every
page, generated or real, the parse equals lxml's alone, item for item, error for error."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityhub.connectors.formats import gb28181, gb28181_columns

DATA = Path(__file__).resolve().parents[3] / "data" / "gb28181"


def _both(pages: list[bytes], monkeypatch, kind: str = "response"):
    """The parse as it runs, and with lxml alone; and which pages xml2arrow read."""
    numbered = [(i, f"p{i}", p, None) for i, p in enumerate(pages)]
    read, real = [], gb28181_columns.read
    monkeypatch.setattr(gb28181_columns, "read", lambda text, body: read.append(r := real(text, body)) or r)
    fast = gb28181._parse_pages(numbered, kind)
    monkeypatch.setattr(gb28181_columns, "read", lambda text, body: None)
    slow = gb28181._parse_pages(numbered, kind)
    monkeypatch.setattr(gb28181_columns, "read", real)
    return fast, slow, [r is not None for r in read]


def _same(fast, slow):
    assert fast[0].schema == slow[0].schema
    assert fast[0].to_pylist() == slow[0].to_pylist()
    assert fast[1:] == slow[1:]


# -- pages in the standard's plain shape are read by xml2arrow, with the same result ---------

ITEM = ("<Item><DeviceID>37142500001310000001</DeviceID><Name>齐河县人民医院东门 03</Name>"
        "<Manufacturer>Hikvision</Manufacturer><Owner>齐河县公安局</Owner><CivilCode>371425</CivilCode>"
        "<Address>齐河县齐晏大街 1 号</Address><Parental>0</Parental><ParentID>37142500002000000001</ParentID>"
        "<Status>ON</Status><Longitude>116.75</Longitude><Latitude> 36.79 </Latitude>"
        "<Info><PTZType>1</PTZType><Resolution>6/5/4</Resolution></Info></Item>\n")


def plain(items: str = ITEM * 3, root: str = "Response", num: str = ' Num="3"', head: str | None = None) -> bytes:
    head = head if head is not None else ("<CmdType>Catalog</CmdType><SN>7</SN>"
                                          "<DeviceID>37140000002000000001</DeviceID><SumNum>3</SumNum>")
    return (f'<?xml version="1.0" encoding="GB18030"?>\n<{root}>\n{head}\n<DeviceList{num}>\n{items}'
            f"</DeviceList>\n</{root}>\n").encode("gb18030")


def test_a_page_in_the_standard_shape_is_read_by_xml2arrow_as_lxml_reads_it(monkeypatch):
    pages = [plain(), plain(num=" Num='3'"), plain(num=""), plain(items=""), plain(head="<CmdType>Catalog</CmdType>"),
             plain() + b"\n \t\n", plain().replace(b"\n<Item>", b"\n  \t<Item>"),  # blanks around and between tags
             plain(items=ITEM.replace("<Info><PTZType>1</PTZType><Resolution>6/5/4</Resolution></Info>", ""))]
    fast, slow, read = _both(pages, monkeypatch)
    assert read == [True] * len(pages)
    _same(fast, slow)
    assert fast[0]["name"][0].as_py() == "齐河县人民医院东门 03" and fast[0]["latitude"][0].as_py() == " 36.79 "
    assert fast[2] == [(0, 3, 3), (1, 3, 3), (2, 3, 3), (3, 3, 0), (4, None, 3), (5, 3, 3), (6, 3, 3), (7, 3, 1)]


def test_notifications_are_read_by_xml2arrow_too(monkeypatch):
    items = ITEM.replace("<Status>ON</Status>", "<Event>ADD</Event>") + ITEM.replace("<Status>ON</Status>",
                                                                                   "<Event>OFF</Event>")
    fast, slow, read = _both([plain(items=items, root="Notify")], monkeypatch, kind="notify")
    assert read == [True]
    _same(fast, slow)
    assert fast[0]["event"].to_pylist() == ["ADD", "OFF"] and fast[0]["__status_event"].to_pylist() == [False, True]


# -- anything else is left to lxml -------------------------------------------------------------

OTHER = {
    "an empty element": ITEM.replace("<Manufacturer>Hikvision</Manufacturer>", "<Manufacturer></Manufacturer>"),
    "an empty-element tag": ITEM.replace("<Manufacturer>Hikvision</Manufacturer>", "<Manufacturer/>"),
    "an element twice": ITEM.replace("<Status>ON</Status>", "<Status>ON</Status><Status>OFF</Status>"),
    "a lower-case item": ITEM.replace("<Item>", "<item>").replace("</Item>", "</item>"),
    "a lower-case field": ITEM.replace("<Name>", "<name>").replace("</Name>", "</name>"),
    "an unknown element": ITEM.replace("<Status>", "<Vendor>x</Vendor><Status>"),
    "an attribute": ITEM.replace("<Name>", '<Name lang="zh">'),
    "an attribute without a value": ITEM.replace("<Name>", "<Name lang>"),
    "an attribute holding '>'": ITEM.replace("<Name>", '<Name a=">" lang>'),
    "'>' in text": ITEM.replace("东门", "东->门"),
    "a blank in an end tag": ITEM.replace("</Name>", "</Name >"),
    "an entity": ITEM.replace("东门", "东门 &amp; 西门"),
    "a character reference": ITEM.replace("东门", "&#x4e1c;门"),
    "CDATA": ITEM.replace("东门", "<![CDATA[东<门]]>"),
    "a comment": ITEM.replace("东门", "东<!-- x -->门"),
    "a carriage return": ITEM.replace("东门", "东\r\n门"),
    "a control character": ITEM.replace("东门", "东\x01门"),
    "]]> in text": ITEM.replace("东门", "东]]>门"),
    "text split by an element": ITEM.replace("东门", "东<Owner>x</Owner>门"),
    "a field out of place": ITEM.replace("<Info>", "<Info><Name>x</Name>"),
    "an item out of place": ITEM.replace("<Status>ON</Status>", "<Status>ON</Status><Item><DeviceID>1</DeviceID></Item>"),
    "two Infos": ITEM.replace("</Info>", "</Info><Info><Resolution>4</Resolution></Info>"),
    "a mismatched end tag": ITEM.replace("</Name>", "</Nme>"),
    "an invalid name": ITEM.replace("<Status>", "<1a>x</1a><Status>"),
}


@pytest.mark.parametrize("what", sorted(OTHER))
def test_a_page_in_another_shape_is_read_by_lxml(what, monkeypatch):
    fast, slow, read = _both([plain(items=ITEM + OTHER[what] + ITEM)], monkeypatch)
    assert read == [False]
    _same(fast, slow)


@pytest.mark.parametrize("page", [
    plain()[:-30],                                                    # truncated
    plain() + b"<Response></Response>",                               # a second root
    plain() + b"junk",                                                # text after the root
    plain(num=" num=\"3\""),                                          # Num spelled otherwise
    plain(num=" Num=3"),                                              # an unquoted attribute
    plain(num=" Num='3' Num='4'"),                                    # an attribute twice
    plain(num=" Num='<'"),                                            # '<' in an attribute
    plain(root="response"),                                           # the root in lower case
    plain().replace(b"<DeviceList", b"<DeviceList><DeviceList").replace(b"</DeviceList>", b"</DeviceList></DeviceList>"),
    plain().replace(b"<?xml", b"<!DOCTYPE Response>\n<?xml"),         # a DOCTYPE
])
def test_an_odd_or_broken_page_is_read_by_lxml(page, monkeypatch):
    fast, slow, read = _both([page], monkeypatch)
    assert read == [False] or read == []  # (a page refused before reading never reaches xml2arrow)
    _same(fast, slow)


def test_a_message_that_is_not_a_catalogue_is_refused_as_lxml_refuses_it(monkeypatch):
    fast, slow, _ = _both([plain(head="<CmdType>Keepalive</CmdType>")], monkeypatch)
    _same(fast, slow)
    assert fast[1][0][1].startswith("not_catalog:")


def test_real_platforms_pages_parse_as_with_lxml_alone(monkeypatch):
    """The public samples (tests/data/gb28181/README.md): each one's parse is lxml's."""
    for path in sorted(DATA.glob("*.xml")):
        data = path.read_bytes()
        kind = "notify" if b"<Notify>" in data else "response"
        fast, slow, _ = _both([data], monkeypatch, kind)
        _same(fast, slow)


# -- and on generated pages of every shape ---------------------------------------------------------

_PLAIN_TEXTS = st.sampled_from(["ON", "OFF", "371425", "37142500001310000001", "德州市 1 号", " x ", "   ", "\n", "ＡＢ"])
_ODD_TEXTS = st.sampled_from(["", "a&amp;b", "a & b", "<![CDATA[x]]>", "a\r\nb", "a]]>b", "\x01", "&#20013;",
                              "x<!--c-->y", "&foo;", "a<b", "a>b", "\ufffe"])
_TEXTS = st.one_of(*[_PLAIN_TEXTS] * 8, _ODD_TEXTS,
                   st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6))
_NAMES = st.one_of(*[st.sampled_from(gb28181_columns.ITEM)] * 5,
                   st.sampled_from(["Info", "name", "STATUS", "Vendor", "Item", "DeviceList"]))


@st.composite
def _element(draw, depth: int = 0):
    name = draw(_NAMES)
    attr = draw(st.sampled_from([""] * 8 + [' a="1"', " a", " "]))
    if name == "Info" and depth == 0:
        children = draw(st.lists(st.sampled_from(list(gb28181_columns.INFO) + ["resolution"]), max_size=3))
        inner = "".join(f"<{c}>{draw(_TEXTS)}</{c}>" for c in children)
        return f"<Info{attr}>{inner}</Info>"
    if draw(st.integers(0, 19)) == 0:
        return f"<{name}{attr}/>"
    inner = draw(_TEXTS)
    if depth == 0 and draw(st.integers(0, 19)) == 0:
        inner += draw(_element(depth + 1)) + draw(_TEXTS)
    return f"<{name}{attr}>{inner}</{name}>"


@st.composite
def _page(draw):
    items = "".join("<Item>" + "".join(draw(st.lists(_element(), max_size=6, unique_by=lambda e: e.split(">")[0].split()[0])))
                    + "</Item>\n"
                    for _ in range(draw(st.integers(0, 3))))
    head = "".join(draw(st.permutations(["<CmdType>Catalog</CmdType>", "<SN>1</SN>", f"<SumNum>{draw(_TEXTS)}</SumNum>",
                                         "<DeviceID>37140000002000000001</DeviceID>"])))
    num = draw(st.sampled_from(["", ' Num="2"', " Num='x'", ' Num="2"', ' num="2"']))
    root = draw(st.sampled_from(["Response", "Response", "Notify"]))
    text = f"<{root}>{head}<DeviceList{num}>{items}</DeviceList></{root}>"
    cut = draw(st.sampled_from([None] * 6 + [-5, -40]))
    return text.encode("utf-8", "surrogatepass")[:cut]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(pages=st.lists(_page(), min_size=1, max_size=3))
def test_any_page_parses_as_with_lxml_alone(pages, monkeypatch):
    for kind in ("response", "notify"):
        fast, slow, _ = _both(pages, monkeypatch, kind)
        _same(fast, slow)


def test_the_generated_pages_do_reach_xml2arrow():
    """(the property above is not vacuous: plain generated pages are read by xml2arrow)"""
    body = "<Response><CmdType>Catalog</CmdType><DeviceList><Item><Name>x</Name></Item></DeviceList></Response>"
    page = gb28181_columns.read(body, body.encode())
    assert page is not None and page.items.num_rows == 1 and page.items["Name"].to_pylist() == ["x"]
    assert isinstance(page.items["Name"], pa.ChunkedArray)
