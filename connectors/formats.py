"""Decoding a unit's payloads into records, per the declared format and encoding.

Text formats (CSV, JSON lines, GB/T 28181 XML) decode to an Arrow table of text
columns named as the source names them; JSON and FHIR decode to a list of
records (dicts), whose value types are kept for schema-drift checks. What cannot
be decoded at all (a file in the wrong encoding, truncated JSON) becomes a
``Reject`` carrying the raw payload.
"""
from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv

from connectors.sources import Payload
from connectors.spec import ConnectorSpec
from pipelines.landing import Reject


@dataclass
class Decoded:
    records: pa.Table | list[dict]
    sources: Sequence[str]
    raw: Callable[[int], str]
    rejects: list[Reject] = field(default_factory=list)
    header: list[str] | None = None
    """Field names a tabular payload declared (for drift)."""
    spans: list[tuple[list[str], int, int]] = field(default_factory=list)
    """(header, first row, rows) per tabular payload: files of one unit may differ."""

    def __len__(self) -> int:
        return self.records.num_rows if isinstance(self.records, pa.Table) else len(self.records)


class Lazy(Sequence):
    """A sequence computed on access: sources and raw text are needed only for refused rows."""

    def __init__(self, fn, n: int):
        self.fn, self.n = fn, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.fn(j) for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return self.fn(i % self.n)


def _text(p: Payload, encoding: str) -> str:
    """Strict decoding: a payload not in its declared encoding is refused whole."""
    return p.data.decode(encoding)


def decode_csv(spec: ConnectorSpec, payloads: list[Payload]) -> Decoded:
    enc = spec.format.encoding
    tables, sources, rejects, header, spans, start = [], [], [], None, [], 0
    for p in payloads:
        try:
            text = _text(p, enc)
        except UnicodeDecodeError as e:
            rejects.append(Reject(source=p.name, raw=p.data.decode("latin-1"),
                                  reason=f"wrong_encoding: file is declared {enc} but byte {e.start} is not valid {enc}"))
            continue
        bad: list[Reject] = []

        def on_bad(row, p=p, bad=bad) -> str:
            bad.append(Reject(source=f"{p.name}:{row.number or '?'}", raw=row.text,
                              reason=f"malformed_csv: expected {row.expected_columns} fields, got {row.actual_columns}"))
            return "skip"

        first = text.split("\n", 1)[0].strip("\r\ufeff")
        names = [h.strip() for h in next(iter(__import__("csv").reader([first])), [])]
        header = names if header is None else header
        table = pcsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_bad),
            # only an empty field is null: "n/a" or "NULL" are values, to be judged
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                strings_can_be_null=True, null_values=[""]),
        )
        rejects.extend(bad)
        tables.append(table)
        spans.append((names, start, table.num_rows))
        start += table.num_rows
        sources.extend(f"{p.name}:{i + 2}" for i in range(table.num_rows))
    if tables:
        # files may differ in columns (drift): the union, missing values null
        records = pa.concat_tables(tables, promote_options="permissive")
    else:
        records = pa.table({})
    return Decoded(records=records, sources=sources,
                   raw=lambda i: json.dumps(records.slice(i, 1).to_pylist()[0], ensure_ascii=False),
                   rejects=rejects, header=header, spans=spans)


def _records_from_json(spec: ConnectorSpec, payloads: list[Payload], pick: Callable[[object], list]) -> Decoded:
    records, sources, rejects = [], [], []
    for p in payloads:
        try:
            enc = spec.format.encoding.lower().replace("-", "")
            doc = orjson.loads(p.data) if enc == "utf8" else json.loads(_text(p, spec.format.encoding))
            items = pick(doc)
        except UnicodeDecodeError as e:
            rejects.append(Reject(source=p.name, raw=p.data.decode("latin-1"),
                                  reason=f"wrong_encoding: not valid {spec.format.encoding} at byte {e.start}"))
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


def decode_json(spec: ConnectorSpec, payloads: list[Payload]) -> Decoded:
    path = [p for p in str(spec.format.options.get("items", "")).split(".") if p]

    def pick(doc):
        for part in path:
            doc = doc[part]
        if not isinstance(doc, list):
            raise ValueError(f"expected a list at '{'.'.join(path) or '$'}'")
        return doc

    return _records_from_json(spec, payloads, pick)


def decode_fhir(spec: ConnectorSpec, payloads: list[Payload]) -> Decoded:
    want = spec.format.options.get("resource_type")

    def pick(doc):
        if doc.get("resourceType") != "Bundle":
            raise ValueError(f"expected a FHIR Bundle, got {doc.get('resourceType')!r}")
        return [e.get("resource") for e in doc.get("entry", [])
                if not want or (e.get("resource") or {}).get("resourceType") == want]

    return _records_from_json(spec, payloads, pick)


def decode_jsonl(spec: ConnectorSpec, payloads: list[Payload]) -> Decoded:
    """JSON lines: every line of every payload, decoded a batch at a time."""
    from connectors.jsonlines import decode_lines

    lines, sources = [], []
    for p in payloads:
        for i, line in enumerate(p.data.splitlines()):
            if line.strip():
                lines.append(line)
                sources.append(f"{p.name}:{i + 1}")
    fields = list(spec.fields) or list(spec.columns.values())
    table, kept_sources, kept_lines, rejects = decode_lines(lines, sources, fields)
    return Decoded(records=table, sources=kept_sources,
                   raw=lambda i: kept_lines[i].decode("utf-8", "replace"), rejects=rejects, header=None)


def decode_gb28181(spec: ConnectorSpec, payloads: list[Payload]) -> Decoded:
    from connectors.gb28181 import catalogue_table

    return catalogue_table(payloads, workers=int(spec.format.options.get("workers", 0)) or None)


DECODERS = {"csv": decode_csv, "json": decode_json, "fhir": decode_fhir, "jsonl": decode_jsonl,
            "gb28181": decode_gb28181}


def decode(spec: ConnectorSpec, payloads: list[Payload]) -> Decoded:
    return DECODERS[spec.format.kind](spec, payloads)


def count_items(spec: ConnectorSpec) -> Callable[[bytes], int | None]:
    """How many records a fetched page holds (to know when paging is done) —
    cheaply: the page is decoded properly later, once."""
    kind = spec.format.kind
    if kind == "gb28181":
        # "<Item" cannot occur inside a multibyte character in GB18030/GB2312/UTF-8
        return lambda data: data.count(b"<Item>") + data.count(b"<Item ")
    path = [p for p in str(spec.format.options.get("items", "")).split(".") if p]

    def n_json(data: bytes):
        try:
            doc = orjson.loads(data)
            if kind == "fhir":
                return len(doc.get("entry", []))
            for part in path:
                doc = doc[part]
            return len(doc)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None
    return n_json
