"""FHIR R4 as platforms send it: Bundles, bare resources and Bulk Data NDJSON, with or
without a byte-order mark; only resources of the declared type. Public samples (HL7's
example Organization, a Bulk Data export) are in tests/data/fhir (sources in its README)."""
from __future__ import annotations

import codecs
import json as stdjson
from pathlib import Path

import pytest

from cityhub.connectors.formats import fhir
from cityhub.core.payloads import Payload
from cityhub.declarations.connectors import FhirFormat

ORGS = FhirFormat(kind="fhir", resource_type="Organization")


def bundle(*resources) -> bytes:
    return stdjson.dumps({"resourceType": "Bundle", "type": "searchset",
                          "entry": [{"resource": r} for r in resources]}).encode()


def test_only_resources_of_the_declared_type_are_taken():
    data = bundle({"resourceType": "Organization", "id": "o1"}, {"resourceType": "Location", "id": "l1"},
                  {"resourceType": "Organization", "id": "o2"})
    d = fhir.decode(ORGS, [Payload("b1", data)])
    assert [r["id"] for r in d.records] == ["o1", "o2"] and not d.rejects
    everything = fhir.decode(FhirFormat(kind="fhir"), [Payload("b1", data)])
    assert [r["id"] for r in everything.records] == ["o1", "l1", "o2"]


def test_a_document_that_is_not_a_bundle_is_refused_whole():
    outcome = b'{"resourceType": "OperationOutcome", "issue": []}'
    d = fhir.decode(ORGS, [Payload("b1", outcome), Payload("b2", bundle({"resourceType": "Organization", "id": "o1"}))])
    [r] = d.rejects
    assert r.source == "b1" and r.raw == outcome.decode()
    assert r.reason == "malformed_json: expected a FHIR Bundle or a bare Organization resource, got 'OperationOutcome'"
    assert [x["id"] for x in d.records] == ["o1"]


def test_a_truncated_bundle_is_refused_whole():
    data = bundle({"resourceType": "Organization", "id": "o1"}, {"resourceType": "Organization", "id": "o2"})
    cut = data[:-20]
    d = fhir.decode(ORGS, [Payload("b1", cut)])
    assert d.records == []
    [r] = d.rejects
    assert r.source == "b1" and r.reason.startswith("malformed_json: ") and r.raw == cut.decode()


@pytest.mark.parametrize("fmt", [FhirFormat(kind="fhir"), ORGS], ids=["any type", "Organization"])
def test_an_entry_whose_resource_is_not_an_object_is_refused_alone(fmt):
    d = fhir.decode(fmt, [Payload("b1", bundle({"resourceType": "Organization", "id": "o1"}, "o2"))])
    assert [x["id"] for x in d.records] == ["o1"]
    [r] = d.rejects
    assert (r.source, r.raw, r.reason) == ("b1#2", '"o2"', "malformed_json: item is not an object")


def test_a_document_that_is_not_an_object_is_refused_whole():
    d = fhir.decode(ORGS, [Payload("b1", b'[{"resourceType": "Organization", "id": "o1"}]')])
    assert d.records == []
    [r] = d.rejects
    assert r.source == "b1" and r.reason == "malformed_json: expected a FHIR Bundle or a bare Organization resource, got 'list'"


SAMPLES = Path(__file__).parents[3] / "data" / "fhir"


def test_a_bare_resource_is_taken_as_one_record_hl7s_example_organization():
    data = (SAMPLES / "organization-example.json").read_bytes()
    d = fhir.decode(ORGS, [Payload("organization-example.json", data)])
    [r] = d.records
    assert (r["id"], r["name"]) == ("hl7", "Health Level Seven International") and not d.rejects
    other = fhir.decode(FhirFormat(kind="fhir", resource_type="Location"), [Payload("o.json", data)])
    assert other.records == [] and other.rejects[0].reason == (
        "malformed_json: expected a FHIR Bundle or a bare Location resource, got 'Organization'")


def test_a_utf8_byte_order_mark_is_ignored_in_bundles_resources_and_ndjson():
    b = bundle({"resourceType": "Organization", "id": "o1", "name": "德州市人民医院"})
    line = stdjson.dumps({"resourceType": "Organization", "id": "o2"}).encode()
    d = fhir.decode(ORGS, [Payload("b1.json", codecs.BOM_UTF8 + b), Payload("Organization.ndjson", codecs.BOM_UTF8 + line),
                           Payload("r.json", codecs.BOM_UTF8 + (SAMPLES / "organization-example.json").read_bytes())])
    assert [r["id"] for r in d.records] == ["o1", "hl7", "o2"] and not d.rejects
    assert d.records[0]["name"] == "德州市人民医院"


def test_a_bulk_data_export_is_read_line_by_line_a_bad_line_refused_alone():
    sample = (SAMPLES / "Organization.000.ndjson").read_bytes()  # smart-on-fhir/sample-bulk-fhir-datasets
    lines = sample.splitlines()
    data = b"\r\n".join([lines[0], b"", b'{"resourceType": "Organization", "id": "cut', lines[1],
                           b'{"resourceType": "Location", "id": "l1"}', b'["not", "a resource"]', lines[2]]) + b"\r\n"
    d = fhir.decode(ORGS, [Payload("Organization.000.ndjson", data)])
    assert [r["name"] for r in d.records] == ["MIAMI COUNTY MEDICAL CENTER INC", "HILLTOP MANOR NURSING CENTER",
                                               "LIFE CARE CENTER OF OSAWATOMIE"]
    assert d.sources == ["Organization.000.ndjson#1", "Organization.000.ndjson#4", "Organization.000.ndjson#7"]
    assert [(r.source, r.reason.split(":")[0]) for r in d.rejects] == [
        ("Organization.000.ndjson#3", "malformed_json"), ("Organization.000.ndjson#6", "malformed_json")]
    assert d.rejects[1].raw == '["not", "a resource"]'
    assert d.records[0]["identifier"][0]["system"] == "https://github.com/synthetichealth/synthea"
