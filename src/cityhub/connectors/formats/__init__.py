"""Decoding a unit's payloads into records, per the declared format and encoding.

Text formats (CSV, JSON lines, GB/T 28181 XML) decode to an Arrow table of text
columns named as the source names them; JSON and FHIR decode to a list of records
(dicts), whose value types are kept for schema-drift checks; FHIR, where it can be
exact, to an Arrow table of the resources' typed values (``Decoded.typed``). What cannot be decoded
at all (a file in the wrong encoding, truncated JSON) becomes a ``Reject`` carrying
the raw payload.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import orjson

from cityhub.core.payloads import Payload
from cityhub.connectors.formats import csv, fhir, gb28181, json, jsonl
from cityhub.connectors.formats.decoded import Decoded
from cityhub.connectors.parsing import acyclic
from cityhub.declarations.connectors import ConnectorSpec


def source_fields(spec: ConnectorSpec) -> list[str]:
    """The source fields a record of a line format is read as."""
    return list(spec.fields) or list(spec.columns.values())


def decode(spec: ConnectorSpec, payloads: list[Payload], workers: int | None = None) -> Decoded:
    """``workers``: processes that may parse a large GB/T 28181 fetch (the declaration's
    own ``workers`` wins; default one per core)."""
    fmt = spec.format
    match fmt.kind:
        case "csv":
            return csv.decode(fmt, payloads)
        case "json":
            return json.decode(fmt, payloads, spec)  # a file drop's streamed: see formats.json
        case "fhir":
            return fhir.decode_columnar(fmt, payloads)  # the dict path where columnar cannot be exact
        case "jsonl":
            return jsonl.decode(source_fields(spec), payloads)
        case "gb28181":
            return gb28181.decode(payloads, workers=fmt.workers or workers, items=fmt.take)
    raise AssertionError(f"format {fmt.kind} has no decoder")  # the declaration's Literal allows no other


class PageCounter:
    """How many records a fetched page holds, and the total the first page announces
    (to know when paging is done), cheaply: the page is decoded properly later, once."""

    def __init__(self, spec: ConnectorSpec):
        self.kind = spec.format.kind
        self.items_path = getattr(spec.format, "items", "")
        paging = getattr(spec.source, "paging", None)
        self.total_path = paging.total if paging is not None else None
        self.workers = getattr(spec.format, "workers", None)
        self.take = getattr(spec.format, "take", "")

    def ahead(self, pages: Iterator[Payload], workers: int | None = None) -> Iterator[Payload]:
        """The fetched pages, passed on as they arrive; meanwhile a large GB/T 28181 fetch
        is parsed by the parser pool, FHIR pages read by threads (``workers`` of them, as
        :func:`decode` would use)."""
        n = self.workers or workers or os.cpu_count() or 1
        if self.kind == "fhir":
            return fhir.read_ahead(pages, n)
        if self.kind == "gb28181":
            return gb28181.parse_ahead(pages, gb28181.message_kind(self.take), n)
        return pages

    def next_links(self, data: bytes) -> list[str]:
        """A searchset page's ``next`` links (FHIR: read from its ``link`` alone where
        pyarrow can); ValueError: the page is no JSON Bundle with links."""
        links = fhir.next_links(data) if self.kind == "fhir" else None
        if links is not None:
            return links
        try:
            with acyclic():  # a page of resources is a tree: see connectors.parsing
                doc = orjson.loads(data)
            return [link.get("url") for link in doc.get("link", []) if link.get("relation") == "next"]
        except (orjson.JSONDecodeError, AttributeError, TypeError) as e:
            raise ValueError(f"not a JSON Bundle with links: {e}") from None

    def items(self, data: bytes) -> int | None:
        if self.kind == "gb28181":
            return gb28181.item_count(data)
        try:
            with acyclic():  # a page of records is a tree: see connectors.parsing
                doc = orjson.loads(data)
            if self.kind == "fhir":
                return len(doc.get("entry", []))
            return len(json.at_path(doc, self.items_path))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None

    def total(self, data: bytes) -> int | None:
        if self.kind == "gb28181":
            first = gb28181.head(data)  # read once: ``ahead`` has read it already on a large fetch
            return first.sum_num if first is not None else None
        if not self.total_path:
            return None
        try:
            with acyclic():
                return int(json.at_path(orjson.loads(data), self.total_path))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None


__all__ = ["Decoded", "PageCounter", "decode", "source_fields"]
