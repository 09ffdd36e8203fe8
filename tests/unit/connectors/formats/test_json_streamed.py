"""A file drop's JSON document streamed record by record (no dict per record kept):
what lands, what is refused and why are exactly what the dict path gives, and a
document the record splitter cannot read exactly takes the dict path."""
from __future__ import annotations

import codecs
import json as stdjson

import pytest

from cityhub.connectors.formats import json
from cityhub.connectors.mapping import to_text
from cityhub.core.payloads import Payload

NAME = "traffic_intersections_drop"
DICT_PATH = json.records_from  # the reference (tests spy on the module's name)
GOOD = {"id": "TS1", "name": "新河大道与新兴路交叉口", "region": "371402", "township_code": "371402001",
        "major_road": "新河大道", "minor_road": "新兴路", "road_class": "major", "signalised": True, "epolice": False,
        "control_mode": "off", "online": True, "updated_at": "2026-10-23T02:58:14+08:00"}
VARIANTS = [
    {},
    {"signalised": "是"},                                    # a changed type: refused with the reason
    {"minor_road": None},                                    # null: not missing
    {"region": 371402, "online": 1},                         # numbers where text and a boolean are declared
    {"name": 'a "}, {" b ]} \\ c', "lanes": 2.50},           # record ends inside a string; a new field
    {"extra": {"list": [{"a": 1}, {"b": [{"c": "}]"}]}]}},  # nested objects in lists: candidate ends inside
    {"name": ["x", {"y": None}], "epolice": 1e400 if False else 1.0},
]


def records(n: int) -> list[dict]:
    out = []
    for i in range(n):
        r = {**GOOD, "id": f"TS{i}", **VARIANTS[i % len(VARIANTS)]}
        if i % 11 == 3:
            del r["minor_road"]  # missing
        out.append(r)
    return out


def same_as_dict_path(spec, contract, payloads, streamed: bool | None = True):
    """The streamed decoding and the dict path's, mapped: equal in every respect."""
    dicts = DICT_PATH(spec.format.encoding, payloads, json._picker(spec.format))
    got = json.decode(spec.format, payloads, spec)
    assert isinstance(got.records, list) is (streamed is False)
    text_a, reasons_a, drift_a = to_text(spec, contract, dicts, None)
    text_b, reasons_b, drift_b = to_text(spec, contract, got, None)
    assert text_b.equals(text_a)
    assert reasons_b == reasons_a and drift_b.as_dict() == drift_a.as_dict()
    assert list(got.sources) == list(dicts.sources)
    assert [got.raw(i) for i in range(len(got))] == [dicts.raw(i) for i in range(len(dicts))]
    assert [(r.source, r.reason, r.raw) for r in got.rejects] == [(r.source, r.reason, r.raw) for r in dicts.rejects]
    return got, reasons_b, drift_b


@pytest.fixture
def traffic(decl):
    return decl.connector(NAME), decl.contract("traffic_intersections")


@pytest.fixture
def spy(monkeypatch):
    """The payload names the dict path read."""
    read, real = [], json.records_from

    def records_from(encoding, payloads, pick):
        read.extend(p.name for p in payloads)
        return real(encoding, payloads, pick)
    monkeypatch.setattr(json, "records_from", records_from)
    return read


@pytest.mark.parametrize("dump", [
    lambda d: stdjson.dumps(d, ensure_ascii=False).encode(),
    lambda d: stdjson.dumps(d, indent=2).encode(),                       # pretty, \\u escapes
    lambda d: codecs.BOM_UTF8 + stdjson.dumps(d, separators=(",", ":"), ensure_ascii=False).encode(),
])
def test_streamed_records_land_and_are_refused_as_the_dict_path_says(traffic, spy, dump):
    spec, contract = traffic
    doc = {"meta": {"items": 3, "note": '"items": ['}, "exported_at": "x", "items": records(700)}
    _, reasons, drift = same_as_dict_path(spec, contract, [Payload("a.json", dump(doc))])
    assert spy == []  # streamed: no dict path
    assert drift.type_changes and drift.new_fields and drift.missing_fields and reasons


def test_each_payload_of_a_delivery_keeps_its_rows_sources_and_refusals(traffic, spy):
    spec, contract = traffic
    good = stdjson.dumps({"items": records(30)}).encode()
    payloads = [Payload("one.json", good), Payload("cut.json", good[:-40]), Payload("empty.json", b'{"items": []}'),
                Payload("odd.json", stdjson.dumps({"items": [GOOD, "x", 3, GOOD]}).encode()),
                Payload("two.json", good)]
    got, _, _ = same_as_dict_path(spec, contract, payloads)
    assert spy == ["cut.json", "odd.json"]  # only what the splitter cannot read exactly
    assert list(got.sources)[-1] == "two.json#30"


def test_the_list_streamed_is_the_one_at_the_path(traffic, spy):
    spec, contract = traffic
    got, _, _ = same_as_dict_path(spec, contract, [Payload("p.json", b'{"items": [{"id": "A"}], "items": [{"id": "B"}]}')])
    assert got.records["id"].to_pylist() == ["B"] and spy == []  # a repeated key: the last list counts, as parsed


@pytest.mark.parametrize("data", [
    b'{"a": {"items": [{"id": "decoy"}]}}',                      # no list at the path, one deeper
    b'{"items": [{"id": "A"},, {"id": "B"}]}',                   # not JSON
    b'{"items": [{"id": "A", "online": NaN}]}',                  # orjson refuses what json reads
    b'{"items": [{"id": "A\xff"}]}',                             # not UTF-8
    b'{"items": [{"id": "A"}]} trailing',
    b'{"items": {"id": "A"}}',
])
def test_documents_the_splitter_cannot_read_exactly_take_the_dict_path(traffic, spy, data):
    spec, contract = traffic
    same_as_dict_path(spec, contract, [Payload("p.json", data)])
    assert spy == ["p.json"]


def test_a_record_whose_end_does_not_parse_within_the_tries_takes_the_dict_path(traffic, spy, monkeypatch):
    spec, contract = traffic
    monkeypatch.setattr(json, "MAX_TRIES", 2)
    deep = {**GOOD, "extra": [{"a": i} for i in range(5)]}
    same_as_dict_path(spec, contract, [Payload("deep.json", stdjson.dumps({"items": [GOOD, deep]}).encode())])
    assert spy == ["deep.json"]


def test_the_list_at_the_top_or_deeper_is_streamed(traffic, spy):
    spec, contract = traffic
    top = spec.model_copy(update={"format": spec.format.model_copy(update={"items": ""})})
    same_as_dict_path(top, contract, [Payload("top.json", b"  " + stdjson.dumps(records(40)).encode() + b"\n")])
    deeper = spec.model_copy(update={"format": spec.format.model_copy(update={"items": "data.list"})})
    same_as_dict_path(deeper, contract, [Payload("deep.json", stdjson.dumps(
        {"data": {"total": 40, "list": records(40)}, "list": [1]}).encode())])
    assert spy == []


def test_records_beyond_a_chunk_keep_their_row_numbers(traffic, monkeypatch):
    spec, contract = traffic
    monkeypatch.setattr(json, "CHUNK", 16)
    same_as_dict_path(spec, contract, [Payload("a.json", stdjson.dumps({"items": records(100)}).encode())])


def test_another_encoding_a_mapping_function_or_an_http_cursor_gets_dicts(traffic, decl, spy):
    spec, contract = traffic
    gb = spec.model_copy(update={"format": spec.format.model_copy(update={"encoding": "gb18030"})})
    same_as_dict_path(gb, contract, [Payload("gb.json", stdjson.dumps({"items": records(5)}, ensure_ascii=False)
                                             .encode("gb18030"))])
    assert spy == ["gb.json"]
    assert not json.streams(decl.connector("traffic_intersections_http"))  # its cursor reads JSON types
    with_function = spec.model_copy(update={"function": "cityhub.connectors.mappings.cameras:registry"})
    assert not json.streams(with_function)
    data = [Payload("x.json", b'{"items": [{"id": "A"}]}')]
    assert json.decode(spec.format, data, decl.connector("traffic_intersections_http")).records == [{"id": "A"}]


def test_drift_judged_a_chunk_at_a_time_is_drift_judged_at_once(traffic):
    from cityhub.connectors.drift import check_record_chunks, check_records
    spec, _ = traffic
    recs = records(50)
    found, reasons = check_record_chunks(spec, (recs[i:i + 7] for i in range(0, 50, 7)))
    whole_found, whole_reasons = check_records(spec, recs)
    assert (found.as_dict(), reasons) == (whole_found.as_dict(), whole_reasons) and reasons
