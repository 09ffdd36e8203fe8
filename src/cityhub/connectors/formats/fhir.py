"""FHIR R4 Bundles: the resources of each entry (of the declared resource type)."""
from __future__ import annotations

from cityhub.core.payloads import Payload
from cityhub.connectors.formats.decoded import Decoded
from cityhub.connectors.formats.json import records_from
from cityhub.declarations.connectors import FhirFormat


def decode(fmt: FhirFormat, payloads: list[Payload]) -> Decoded:
    want = fmt.resource_type

    def pick(doc):
        if doc.get("resourceType") != "Bundle":
            raise ValueError(f"expected a FHIR Bundle, got {doc.get('resourceType')!r}")
        return [e.get("resource") for e in doc.get("entry", [])
                if not want or (e.get("resource") or {}).get("resourceType") == want]

    return records_from(fmt.encoding, payloads, pick)
