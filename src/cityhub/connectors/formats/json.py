"""JSON documents holding a list of records (at a declared path), decoded to dicts
whose value types are kept for schema-drift checks."""
from __future__ import annotations

import codecs
import json
from collections.abc import Callable

import orjson

from cityhub.core.payloads import Payload, Reject
from cityhub.connectors.formats.decoded import Decoded


def records_from(encoding: str, payloads: list[Payload], pick: Callable[[object], list]) -> Decoded:
    """Each payload parsed, ``pick`` finding its records; an unreadable one refused whole."""
    records, sources, rejects = [], [], []
    utf8 = encoding.lower().replace("-", "") == "utf8"
    for p in payloads:
        try:
            data = p.data[len(codecs.BOM_UTF8):] if utf8 and p.data.startswith(codecs.BOM_UTF8) else p.data
            doc = orjson.loads(data) if utf8 else json.loads(data.decode(encoding))  # a BOM is no JSON
            items = pick(doc)
        except UnicodeDecodeError as e:
            rejects.append(Reject(source=p.name, raw=p.data.decode("latin-1"),
                                  reason=f"wrong_encoding: not valid {encoding} at byte {e.start}"))
            continue
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError) as e:
            rejects.append(Reject(source=p.name, raw=p.data.decode("utf-8", "replace"),
                                  reason=f"malformed_json: {e}"))
            continue
        for i, item in enumerate(items):
            if isinstance(item, dict):
                records.append(item)
                sources.append(f"{p.name}#{i + 1}")
            else:
                rejects.append(Reject(source=f"{p.name}#{i + 1}", raw=json.dumps(item, ensure_ascii=False),
                                      reason="malformed_json: item is not an object"))
    return Decoded(records=records, sources=sources,
                   raw=lambda i: json.dumps(records[i], ensure_ascii=False), rejects=rejects)


def at_path(doc, path: str):
    """The value at a dotted path (``items``, ``data.list``; empty: the document)."""
    for part in [p for p in path.split(".") if p]:
        doc = doc[part]
    return doc


def decode(fmt, payloads: list[Payload]) -> Decoded:
    def pick(doc):
        found = at_path(doc, fmt.items)
        if not isinstance(found, list):
            raise ValueError(f"expected a list at '{fmt.items or '$'}'")
        return found

    return records_from(fmt.encoding, payloads, pick)
