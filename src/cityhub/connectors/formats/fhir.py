"""FHIR R4 Bundles: the resources of each entry (of the declared resource type)."""
from __future__ import annotations

from cityhub.core.payloads import Payload
from cityhub.connectors.formats.decoded import Decoded
from cityhub.connectors.formats.json import records_from
from cityhub.declarations.connectors import FhirFormat


def decode(fmt: FhirFormat, payloads: list[Payload]) -> Decoded:
    want = fmt.resource_type

    def pick(doc):
        kind = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
        if kind != "Bundle":
            raise ValueError(f"expected a FHIR Bundle, got {kind!r}")
        entries = doc.get("entry", [])
        if not isinstance(entries, list):
            raise ValueError("expected a list of entries")
        # an entry or resource that is not an object is kept, to be refused as such
        resources = [e.get("resource") if isinstance(e, dict) else e for e in entries]
        return [r for r in resources if not want or not isinstance(r, dict) or r.get("resourceType") == want]

    return records_from(fmt.encoding, payloads, pick)
