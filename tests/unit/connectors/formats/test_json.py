"""JSON documents holding a list of records at a declared path."""
from __future__ import annotations

import json as stdjson

from cityhub.connectors.formats import json
from cityhub.core.payloads import Payload
from cityhub.declarations.connectors import JsonFormat

ITEMS = JsonFormat(kind="json", items="data.items")


def doc(items) -> bytes:
    return stdjson.dumps({"total": len(items), "data": {"items": items}}, ensure_ascii=False).encode()


def test_records_at_the_declared_path_keep_their_json_types():
    d = json.decode(ITEMS, [Payload("p1", doc([{"id": "A1", "online": True, "lanes": 4}]))])
    assert d.records == [{"id": "A1", "online": True, "lanes": 4}]
    assert list(d.sources) == ["p1#1"] and not d.rejects


def test_truncated_json_is_refused_whole_and_the_other_documents_land():
    good, cut = doc([{"id": "A1"}, {"id": "A2"}]), doc([{"id": "B1"}, {"id": "B2"}])
    cut = cut[: len(cut) // 2]
    d = json.decode(ITEMS, [Payload("cut", cut), Payload("good", good)])
    [r] = d.rejects
    assert r.source == "cut" and r.reason.startswith("malformed_json: ")
    assert r.raw == cut.decode()  # the document as received
    assert [x["id"] for x in d.records] == ["A1", "A2"]


def test_an_item_that_is_not_an_object_is_refused_alone():
    d = json.decode(ITEMS, [Payload("p1", doc([{"id": "A1"}, ["A2"], "A3", {"id": "A4"}]))])
    assert [x["id"] for x in d.records] == ["A1", "A4"]
    assert list(d.sources) == ["p1#1", "p1#4"]
    assert [(r.source, r.raw, r.reason) for r in d.rejects] == [
        ("p1#2", '["A2"]', "malformed_json: item is not an object"),
        ("p1#3", '"A3"', "malformed_json: item is not an object"),
    ]


def test_a_document_without_a_list_at_the_path_is_refused_whole():
    d = json.decode(ITEMS, [Payload("p1", b'{"data": {"items": {"id": "A1"}}}')])
    assert d.records == []
    [r] = d.rejects
    assert r.source == "p1" and r.reason == "malformed_json: expected a list at 'data.items'"


def test_a_document_is_read_in_its_declared_encoding():
    fmt = JsonFormat(kind="json", encoding="gb18030", items="items")
    d = json.decode(fmt, [Payload("p1", '{"items": [{"name": "齐河"}]}'.encode("gb18030"))])
    assert d.records == [{"name": "齐河"}] and not d.rejects


def test_a_document_in_the_wrong_encoding_is_refused_whole():
    fmt = JsonFormat(kind="json", encoding="ascii", items="items")
    d = json.decode(fmt, [Payload("p1", '{"items": [{"name": "齐河"}]}'.encode("utf-8"))])
    assert d.records == []
    [r] = d.rejects
    assert r.source == "p1" and r.reason.startswith("wrong_encoding: not valid ascii at byte ")
