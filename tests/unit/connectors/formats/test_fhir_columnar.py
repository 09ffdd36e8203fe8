"""FHIR read columnar (``fhir.decode_columnar``: pyarrow builds the resources as an Arrow
table; drift and the Organization mapping run with Arrow compute) gives what the dict path
(``fhir.decode``, then dicts through drift and mapping) gives: the same text table, the
same refused rows with the same reasons, drift findings, sources and raw text. Whatever the
columnar path cannot hold exactly (a value whose type differs between resources, a null, a
bare resource, two values in one extension) is read the dict path, and still lands right."""
from __future__ import annotations

import codecs
import json
from datetime import date
from pathlib import Path

import pytest

from cityhub.connectors.formats import fhir
from cityhub.connectors.mapping import to_text
from cityhub.core.payloads import Payload

DAY = date(2026, 11, 22)
SAMPLES = Path(__file__).parents[3] / "data" / "fhir"
LEVEL, NETWORKED = "https://cityhub.example/fhir/hospital-level", "https://cityhub.example/fhir/platform-networked"
REGION = "https://cityhub.example/fhir/region-code"


@pytest.fixture(scope="module")
def world():
    from cityhub_sim.medical import MedicalConfig, generate

    return generate(MedicalConfig(institutions_per_county=12, fault_rate=0.05, bundle_size=25))


def both(decl, payloads, spec=None):
    """(columnar decoding, its text), (dict decoding, its text); text = (table, reasons, drift)."""
    spec = spec or decl.connector("medical_institutions_drop")
    contract = decl.contract(spec.dataset)
    fast, slow = fhir.decode_columnar(spec.format, payloads), fhir.decode(spec.format, payloads)
    fast_text, slow_text = to_text(spec, contract, fast, DAY), to_text(spec, contract, slow, DAY)
    return (fast, fast_text), (slow, slow_text)


def assert_same(fast, fast_text, slow, slow_text):
    (ft, fr, fd), (st, sr, sd) = fast_text, slow_text
    assert ft.equals(st), (ft.to_pylist()[:3], st.to_pylist()[:3])
    assert fr == sr
    assert fd.as_dict() == sd.as_dict()
    assert list(fast.sources) == list(slow.sources)
    assert [(r.source, r.reason, r.raw) for r in fast.rejects] == [(r.source, r.reason, r.raw) for r in slow.rejects]
    assert [json.loads(fast.raw(i)) for i in range(len(fast))] == [json.loads(slow.raw(i)) for i in range(len(slow))]
    if fast.raws is not None:  # the refused rows' raw text at once: the same text as row by row, in the order asked
        asked = list(range(len(fast)))[::-3]  # across parts, backwards
        assert fast.raws(asked) == [fast.raw(i) for i in asked]


def org(i: int = 1, **over) -> dict:
    return {"resourceType": "Organization", "id": f"o{i}", "name": f"医院{i}", "active": True,
            "identifier": [{"system": "urn:cn:uscc", "value": f"91371400MA3C4K8X{i:02d}"}],
            "type": [{"coding": [{"system": "k", "code": "general_hospital"}]}],
            "address": [{"extension": [{"url": REGION, "valueCode": "371402"}]}],
            "extension": [{"url": LEVEL, "valueCode": "3"}, {"url": NETWORKED, "valueBoolean": True}], **over}


def bundle(*resources) -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": "searchset",
                       "entry": [{"resource": r} for r in resources]}, ensure_ascii=False).encode()


def test_the_simulated_registry_with_its_faults_reads_the_same_both_ways(decl, world):
    payloads = [Payload(f"organizations_371400_20261122_b{n:04d}.json", b) for n, b in enumerate(world.bundles, 1)]
    (fast, fast_text), (slow, slow_text) = both(decl, payloads)
    assert fast.typed and not slow.typed  # the columnar path was taken
    assert len(fast.rejects) == 1 and fast.rejects[0].reason.startswith("malformed_json")  # the truncated bundle
    assert fast_text[2].missing_fields["identifier"] > 0  # the missing-identifier fault, as drift
    assert_same(fast, fast_text, slow, slow_text)
    assert fast.raw(0) == slow.raw(0)  # the same JSON text, key order included
    assert fast.raws is not None  # ... and offered for many rows at once


def test_the_simulated_http_pages_read_the_same_both_ways(decl, world):
    from cityhub_sim.medical import render_bundle

    spec = decl.connector("medical_institutions_http")
    pages = [render_bundle(world.organizations, off, 40, "http://x/fhir") for off in range(0, len(world.organizations), 40)]
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload(f"p{n}", p) for n, p in enumerate(pages)], spec)
    assert fast.typed
    assert_same(fast, fast_text, slow, slow_text)


def test_a_bulk_data_export_reads_the_same_both_ways_with_its_line_numbers(decl, world):
    lines = [json.dumps(r, ensure_ascii=False) for r in world.organizations[:60]]
    lines[7:7] = ["", "  ", json.dumps({"resourceType": "Location", "id": "l1"})]
    data = codecs.BOM_UTF8 + "\r\n".join(lines).encode() + b"\r\n"
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload("Organization.000.ndjson", data)])
    assert fast.typed
    assert fast.sources[7] == "Organization.000.ndjson#11"  # blank lines and the Location are counted, not kept
    assert_same(fast, fast_text, slow, slow_text)


def test_the_public_samples_read_the_same_both_ways(decl):
    ndjson = (SAMPLES / "Organization.000.ndjson").read_bytes()  # smart-on-fhir/sample-bulk-fhir-datasets
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload("Organization.000.ndjson", ndjson)])
    assert fast.typed  # extensions with valueInteger, a profile list, telecom: all columnar
    assert_same(fast, fast_text, slow, slow_text)
    hl7 = (SAMPLES / "organization-example.json").read_bytes()  # a bare resource: the dict path reads it
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload("organization-example.json", hl7)])
    assert not fast.typed
    assert_same(fast, fast_text, slow, slow_text)
    wrapped = bundle(json.loads(hl7), json.loads(ndjson.splitlines()[0]))  # the same resources in a Bundle
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload("b.json", wrapped)])
    assert_same(fast, fast_text, slow, slow_text)


def test_coded_extension_values_map_the_same_both_ways(decl):
    resources = [
        org(1),
        org(2, extension=[{"url": LEVEL, "valueCodeableConcept": {"coding": [{"system": "s", "display": "三级"},
                                                                            {"code": "3"}], "text": "三级甲等"}},
                          {"url": NETWORKED, "valueBoolean": False}]),
        org(3, extension=[{"url": "x/hospital-level", "valueCodeableConcept": {"text": "二级"}}]),
        org(4, extension=[{"url": "x/hospital-level", "valueCoding": {"system": "s", "code": "2"}},
                          {"url": NETWORKED, "valueString": "yes"}]),
        org(5, extension=[{"url": "x/hospital-level"}, {"url": "y/hospital-level", "valueInteger": 1}]),
        org(6, identifier=[{"system": "other", "value": "x"}, {"system": "urn:cn:uscc", "value": "91371400MA3C4K8X06"}],
            type=[{"text": "no coding"}, {"coding": [{"code": "clinic"}]}], address=[],
            extension=[{"url": LEVEL, "valueCode": "1"}], active=False),
        org(7, address=[{"city": "德州"}, {"extension": [{"url": REGION, "valueCode": "371403"}]}]),
    ]
    del resources[2]["active"], resources[2]["identifier"]
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload("b.json", bundle(*resources))])
    assert fast.typed
    assert_same(fast, fast_text, slow, slow_text)
    rows = {r["org_id"]: r for r in fast_text[0].to_pylist()}
    assert [rows[f"o{i}"]["level"] for i in range(1, 8)] == ["3", "3", "二级", "2", "1", "1", "3"]
    assert (rows["o4"]["networked"], rows["o6"]["active"], rows["o3"]["active"]) == ("yes", "false", "true")
    assert (rows["o6"]["uscc"], rows["o6"]["kind"], rows["o6"]["region"], rows["o7"]["region"]) == (
        "91371400MA3C4K8X06", "clinic", None, None)  # region: the first address's, not another's


def test_missing_fields_refused_by_policy_the_same_both_ways(decl, world):
    spec = decl.connector("medical_institutions_drop")
    spec = spec.model_copy(update={"drift": spec.drift.model_copy(update={"missing_field": "quarantine"})})
    resources = [org(1), {k: v for k, v in org(2).items() if k not in ("identifier", "type")}, org(3)]
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload("b.json", bundle(*resources))], spec)
    assert fast.typed
    assert fast_text[1] == {1: ["schema_drift: field 'identifier' is missing", "schema_drift: field 'type' is missing"]}
    assert_same(fast, fast_text, slow, slow_text)


@pytest.mark.parametrize("case", ["within a payload", "between payloads", "the whole delivery", "a null",
                                  "two values in an extension", "new field refused"])
def test_what_columnar_cannot_hold_exactly_goes_the_dict_path(decl, case):
    spec = decl.connector("medical_institutions_drop")
    changed = org(2, active="是")  # a type change the declaration quarantines
    payloads = {
        "within a payload": [Payload("b1.json", bundle(org(1), changed, org(3)))],
        "between payloads": [Payload("b1.json", bundle(org(1))), Payload("b2.json", bundle(changed))],
        "the whole delivery": [Payload("b1.json", bundle(changed))],
        "a null": [Payload("b1.json", bundle(org(1), org(2, name=None)))],
        "two values in an extension": [Payload("b1.json", bundle(
            org(1, extension=[{"url": LEVEL, "valueString": "3", "valueCode": "2"}])))],
        "new field refused": [Payload("b1.json", bundle(org(1, partOf={"reference": "Organization/x"})))],
    }[case]
    if case == "new field refused":
        spec = spec.model_copy(update={"drift": spec.drift.model_copy(update={"new_field": "quarantine"})})
    (fast, fast_text), (slow, slow_text) = both(decl, payloads, spec)
    assert not fast.typed  # read as dicts, in the end
    assert_same(fast, fast_text, slow, slow_text)
    if case != "a null" and case != "two values in an extension":
        assert any("schema_drift" in why for whys in fast_text[1].values() for why in whys)


def test_payloads_neither_path_reads_are_refused_whole_beside_columnar_ones(decl):
    good = bundle(org(1), org(2))
    bad = [Payload("cut.json", good[:-30]), Payload("empty.json", b"  "), Payload("latin.json", good.replace(b"\xe5", b"\xff"))]
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload("good.json", good), *bad])
    assert fast.typed and [r.source for r in fast.rejects] == ["cut.json", "empty.json", "latin.json"]
    assert_same(fast, fast_text, slow, slow_text)


def test_a_pages_next_link_is_read_without_parsing_its_resources(world):
    from cityhub_sim.medical import render_bundle

    first, last = (render_bundle(world.organizations, off, 40, "http://x/fhir") for off in (0, len(world.organizations) - 5))
    assert fhir.next_links(first) == ["http://x/fhir/Organization?_count=40&_offset=40"]
    assert fhir.next_links(last) == []
    assert fhir.next_links(b'{"resourceType": "Bundle"}') == []
    assert fhir.next_links(b'{"link": [{"relation": "next", "url": 7}]}') is None  # not text: the caller parses it
    assert fhir.next_links(b'{"link": ["next"]}') is None
    assert fhir.next_links(b'{"link": {"relation": "next", "url": "u"}}') is None
    # a page cut after its links still leads on (its entries are refused when decoded);
    # cut before them, it cannot: the caller's whole parse fails and says so
    assert fhir.next_links(first[:-10]) == ["http://x/fhir/Organization?_count=40&_offset=40"]
    assert fhir.next_links(first[:30]) is None
    # links after the entries (FHIR does not fix the order): read from the whole page
    doc = json.loads(first)
    late = json.dumps({"resourceType": "Bundle", "entry": doc["entry"], "link": doc["link"]}).encode()
    assert fhir.next_links(late) == ["http://x/fhir/Organization?_count=40&_offset=40"]
    assert fhir._links_in_head(late) is None and fhir._links_in_head(first) is not None


def test_date_like_text_pyarrow_reads_as_a_time_keeps_its_text(decl):
    """pyarrow reads ``"2026-11-20T08:00:00+08:00"`` as a timestamp: the raw text of a
    refused row is then the resource as sent, and a mapped value that reads as a time
    (a name) is mapped the dict path."""
    stamped = [org(i, meta={"lastUpdated": "2026-11-20T08:00:00+08:00"}) for i in (1, 2)]
    stamped[1]["identifier"][0]["value"] = "bad"
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload("b.json", bundle(*stamped))])
    assert fast.typed
    assert fast.raw(1) == slow.raw(1) and '"lastUpdated": "2026-11-20T08:00:00+08:00"' in fast.raw(1)
    assert_same(fast, fast_text, slow, slow_text)
    dated = [org(1, name="2026-11-20"), org(2, name="2026-11-21")]
    (fast, fast_text), (slow, slow_text) = both(decl, [Payload("b.json", bundle(*dated))])
    assert not fast.typed and fast_text[0]["name"].to_pylist() == ["2026-11-20", "2026-11-21"]
    assert_same(fast, fast_text, slow, slow_text)


def test_pages_read_ahead_as_fetched_decode_as_pages_read_at_once(decl, world):
    """HTTP pages are begun being read as they arrive (``fhir.read_ahead``, as the
    paginator yields them); decoding then collects those reads, a page that cannot be
    read included, and gives what reading every page at once gives."""
    from cityhub_sim.medical import render_bundle

    spec = decl.connector("medical_institutions_http")
    pages = [render_bundle(world.organizations, off, 40, "http://x/fhir") for off in range(0, len(world.organizations), 40)]
    pages[2] = pages[2][:-50]  # a page cut short: refused whole either way

    def fresh():
        return [Payload(f"p{n}", p) for n, p in enumerate(pages)]

    ahead = list(fhir.read_ahead(iter(fresh()), 2))
    assert all(p.parsed is not None for p in ahead)  # each read begun as it passed
    contract = decl.contract(spec.dataset)
    early, late = fhir.decode_columnar(spec.format, ahead), fhir.decode_columnar(spec.format, fresh())
    assert early.typed and [r.source for r in early.rejects] == ["p2"]
    assert_same(early, to_text(spec, contract, early, DAY), late, to_text(spec, contract, late, DAY))


def test_a_null_on_a_page_read_ahead_sends_the_delivery_the_dict_path(decl):
    """Whether a page holds a ``null`` is found where the page is read (for a fetch, in the
    read-ahead thread): one such page, among pages read ahead, sends the whole delivery the
    dict path, as when every page is read at once."""
    spec = decl.connector("medical_institutions_http")
    pages = [bundle(org(1), org(2)), bundle(org(3), org(4, name=None)), bundle(org(5))]

    def fresh():
        return [Payload(f"p{n}", p) for n, p in enumerate(pages)]

    ahead = list(fhir.read_ahead(iter(fresh()), 2))
    early, late = fhir.decode_columnar(spec.format, ahead), fhir.decode_columnar(spec.format, fresh())
    assert not early.typed and not late.typed
    contract = decl.contract(spec.dataset)
    assert_same(early, to_text(spec, contract, early, DAY), late, to_text(spec, contract, late, DAY))
