"""FHIR R4 Bundles: the resources of each entry, of the declared resource type."""
from __future__ import annotations

import json as stdjson

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
    assert r.reason == "malformed_json: expected a FHIR Bundle, got 'OperationOutcome'"
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
    assert r.source == "b1" and r.reason == "malformed_json: expected a FHIR Bundle, got 'list'"
