"""FHIR R4 resources as health platforms hand them over: a Bundle (a search page or a
document), a bare resource, or NDJSON as FHIR Bulk Data ``$export`` writes it (one
resource per line, ``<Type>.ndjson``: how regional platforms hand over whole
registries). Only resources of the declared type are kept; a UTF-8 byte-order mark is
ignored (Windows tools write one)."""
from __future__ import annotations

import codecs
import json

import orjson

from cityhub.connectors.formats.decoded import Decoded
from cityhub.connectors.formats.json import records_from
from cityhub.connectors.parsing import acyclic
from cityhub.core.payloads import Payload, Reject
from cityhub.declarations.connectors import FhirFormat

NDJSON_SUFFIXES = (".ndjson", ".ndjson.txt")


def decode(fmt: FhirFormat, payloads: list[Payload]) -> Decoded:
    with acyclic():  # resources are trees: see connectors.parsing
        return _decode(fmt, payloads)


def _decode(fmt: FhirFormat, payloads: list[Payload]) -> Decoded:
    want = fmt.resource_type
    bulk = [p for p in payloads if _is_ndjson(p)]
    docs = records_from(fmt.encoding, [p for p in payloads if not _is_ndjson(p)], lambda doc: _resources(doc, want))
    if not bulk:
        return docs
    lines = _ndjson(fmt.encoding, bulk, want)
    records = docs.records + lines.records
    return Decoded(records=records, sources=docs.sources + lines.sources,
                   raw=lambda i: json.dumps(records[i], ensure_ascii=False), rejects=docs.rejects + lines.rejects)


def _resources(doc, want: str | None) -> list:
    kind = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
    if kind == "Bundle":
        entries = doc.get("entry", [])
        if not isinstance(entries, list):
            raise ValueError("expected a list of entries")
        # an entry or resource that is not an object is kept, to be refused as such
        resources = [e.get("resource") if isinstance(e, dict) else e for e in entries]
        return [r for r in resources if not _other_type(r, want)]
    if isinstance(doc, dict) and isinstance(kind, str) and kind and kind != "OperationOutcome" and (
            not want or kind == want):
        return [doc]  # a bare resource (a read, or a file per resource)
    expected = f"a FHIR Bundle or a bare {want} resource" if want else "a FHIR Bundle or a resource"
    raise ValueError(f"expected {expected}, got {kind!r}")


def _other_type(resource, want: str | None) -> bool:
    return bool(want) and isinstance(resource, dict) and resource.get("resourceType") != want


def _is_ndjson(p: Payload) -> bool:
    return p.name.lower().endswith(NDJSON_SUFFIXES)


def _ndjson(encoding: str, payloads: list[Payload], want: str | None) -> Decoded:
    """Each line a resource; a bad line is refused alone (``name#line``), the rest kept."""
    records, sources, rejects = [], [], []
    for p in payloads:
        data = p.data.removeprefix(codecs.BOM_UTF8)
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as e:
            rejects.append(Reject(source=p.name, raw=p.data.decode("latin-1"),
                                  reason=f"wrong_encoding: not valid {encoding} at byte {e.start}"))
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                rejects.append(Reject(source=f"{p.name}#{n}", raw=line, reason=f"malformed_json: {e}"))
                continue
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                rejects.append(Reject(source=f"{p.name}#{n}", raw=line,
                                      reason="malformed_json: an NDJSON line is not a FHIR resource"))
            elif not _other_type(resource, want):
                records.append(resource)
                sources.append(f"{p.name}#{n}")
    return Decoded(records=records, sources=sources,
                   raw=lambda i: json.dumps(records[i], ensure_ascii=False), rejects=rejects)
