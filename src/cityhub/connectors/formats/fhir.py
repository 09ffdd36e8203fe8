"""FHIR R4 resources as health platforms hand them over: a Bundle (a search page or a
document), a bare resource, or NDJSON as FHIR Bulk Data ``$export`` writes it (one
resource per line, ``<Type>.ndjson``: how regional platforms hand over whole
registries). Only resources of the declared type are kept; a UTF-8 byte-order mark is
ignored (Windows tools write one).

Connectors read a delivery columnar (:func:`decode_columnar`): pyarrow's JSON reader
builds the resources as an Arrow table (structs and lists, no dict per resource), and
drift and mapping run on it with Arrow compute. What the reader cannot represent exactly
(a null, a number with a fraction, a value whose type differs between resources, a bare
resource, a payload only Python's parser reads) takes the dict path (:func:`decode`) for
the whole delivery, so what lands, what is refused and why never depends on the path."""
from __future__ import annotations

import codecs
import io
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache

import ijson
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from cityhub.connectors.formats.decoded import Decoded, Parts
from cityhub.connectors.formats.json import records_from
from cityhub.connectors.parsing import acyclic
from cityhub.core.payloads import Ahead, Payload, Reject, ahead_of
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


# ------------------------------------------------------------------ columnar

_LINKS = pa.schema([("link", pa.list_(pa.struct([("relation", pa.string()), ("url", pa.string())])))])


def next_links(data: bytes) -> list[str] | None:
    """A searchset page's ``next`` links, reading only its ``link``: paging need not build
    the page's resources. Servers write ``link`` before ``entry``: then only the page's
    head is read (streamed, ~0.1 ms a page against ~5 ms for a whole parse); else pyarrow
    reads the page for its ``link`` alone. None where neither can tell (a byte-order mark,
    odd types): parse the page fully then."""
    head = _links_in_head(data)
    if head is not None:
        return head
    try:
        t = pj.read_json(pa.BufferReader(data), read_options=pj.ReadOptions(block_size=len(data) + 1, use_threads=False),
                         parse_options=pj.ParseOptions(explicit_schema=_LINKS, unexpected_field_behavior="ignore",
                                                       newlines_in_values=True))
    except pa.ArrowInvalid:
        return None
    if t.num_rows != 1:
        return None
    return [link["url"] for link in t["link"][0].as_py() or () if link["relation"] == "next"]


_READ_AHEAD = "fhir:bundle"


def read_ahead(pages: Iterator[Payload], workers: int) -> Iterator[Payload]:
    """The fetched pages, passed on as they arrive, each begun being read as a Bundle by a
    thread meanwhile (pyarrow lets go of the GIL): reading a feed overlaps fetching it, as
    next links must be followed one by one. :func:`decode_columnar` collects the reads."""
    pool = ThreadPoolExecutor(max(1, workers))
    try:
        for p in pages:
            p.parsed = Ahead(_READ_AHEAD, pool.submit(_read_ahead, p))
            yield p
    finally:
        pool.shutdown(wait=False)  # reads under way finish; their pages hold them


def _read_ahead(p: Payload) -> _Read:
    p.sha256()  # the fetch's fingerprint, taken here while the next page is awaited
    return _read_page(p.data.removeprefix(codecs.BOM_UTF8))


def _links_in_head(data: bytes) -> list[str] | None:
    """The ``next`` links of a page whose ``link`` comes before its ``entry`` (a streaming
    parse, stopped once ``link`` ends); None: ``entry`` comes first, or the page is odd."""
    found, link = [], None
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(data), buf_size=4096):
            if prefix == "link.item" and event == "start_map":
                link = {}
            elif prefix in ("link.item.relation", "link.item.url") and link is not None:
                link[prefix[10:]] = value
            elif prefix == "link.item" and event == "end_map":
                found.append(link)
            elif prefix == "link.item" and event != "map_key":
                return None  # a link that is no object: the whole page says what it is
            elif prefix == "link" and event == "end_array":
                break
            elif prefix == "entry" or (prefix == "link" and event not in ("start_array", "end_array")):
                return None  # entries first, or a link that is no list: read the whole page
        else:
            return None  # no link before the end: the whole page says what it is
    except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError):
        return None
    urls = [lk.get("url") for lk in found if lk.get("relation") == "next"]
    return urls if all(isinstance(u, str) for u in urls) else None


class _Slow(Exception):
    """The delivery cannot be read columnar exactly: the dict path reads it."""


def decode_columnar(fmt: FhirFormat, payloads: list[Payload]) -> Decoded:
    """The delivery as an Arrow table of resources (``Decoded.typed``), or, where that
    cannot be exact, as :func:`decode` gives it. A payload neither path can read is
    refused whole, with the dict path's reason."""
    try:
        return _columnar(fmt, payloads)
    except (_Slow, pa.ArrowException, UnicodeDecodeError):
        return decode(fmt, payloads)


_LINE_BREAKS_JSON_KEEPS = (b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\xc2\x85", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
"""Line breaks of ``str.splitlines`` (the dict path's NDJSON lines) that are not pyarrow's."""


def _columnar(fmt: FhirFormat, payloads: list[Payload]) -> Decoded:
    if fmt.encoding.lower().replace("-", "").replace("_", "") != "utf8" or not payloads:
        raise _Slow
    bulk = [_is_ndjson(p) for p in payloads]
    if any(bulk) and not all(bulk):
        raise _Slow
    want = fmt.resource_type
    parts: list[tuple[int, pa.Table, list[int] | None]] = []  # (payload, resources, numbers if not 1, 2, ...)
    rejects: list[Reject] = []
    datas = [p.data.removeprefix(codecs.BOM_UTF8) for p in payloads]
    if bulk[0]:
        if any(b"null" in data for data in datas):
            raise _Slow
    else:  # a Bundle per payload: read side by side (pyarrow lets go of the GIL)
        ahead = [ahead_of(p, _READ_AHEAD) for p in payloads]
        todo = [k for k, f in enumerate(ahead) if f is None]
        with ThreadPoolExecutor(max(1, min(len(todo), os.cpu_count() or 1))) as pool:
            now = dict(zip(todo, pool.map(_read_page, [datas[k] for k in todo])))
        reads = [now[k] if f is None else f.result() for k, f in enumerate(ahead)]
        if any(r.nulls for r in reads):
            raise _Slow
    for k, p in enumerate(payloads):
        got = _ndjson_part(p, datas[k], want) if bulk[0] else _bundle_part(fmt, p, reads[k].table, want)
        if isinstance(got, list):
            rejects.extend(got)
        elif got is not None:
            parts.append((k, *got))
    if not parts:
        raise _Slow  # nothing to read columnar: the dict path is as quick
    table = pa.concat_tables([t for _, t, _ in parts], promote_options="permissive") if len(parts) > 1 else parts[0][1]
    _exact(table.schema)
    if table.num_rows == 0:
        raise _Slow  # nothing to map: the dict path is as quick and shapes an empty batch its way
    rows = Parts("#")
    for k, t, lines in parts:
        rows.add(t.num_rows, payloads[k].name, lines)
    where = rows.where

    if _has(table.schema, pa.types.is_timestamp):  # a date-like string came back as a time: not its text
        @lru_cache(maxsize=4)
        def parsed(j: int) -> list:
            k, t, lines = parts[j]
            data = payloads[k].data.removeprefix(codecs.BOM_UTF8)
            if bulk[0]:
                text = data.decode("utf-8").splitlines()
                return [orjson.loads(text[n - 1]) for n in lines or range(1, t.num_rows + 1)]
            return _resources(orjson.loads(data), want)

        def raw(i: int) -> str:
            j, local = where(i)
            return json.dumps(parsed(j)[local], ensure_ascii=False)
        raws = None
    else:
        @cache
        def resources(j: int) -> pa.StructArray:
            batches = parts[j][1].to_batches()  # one, but after a filter: no copy
            return (batches[0] if len(batches) == 1 else parts[j][1].combine_chunks().to_batches()[0]).to_struct_array()

        def raw(i: int) -> str:
            j, local = where(i)
            return _raw_text(resources(j)[local].as_py())

        def raws(positions: Sequence[int]) -> list[str]:
            """Each part's refused resources converted in one take, not one scalar at a time."""
            at: dict[int, list[tuple[int, int]]] = {}
            for n, i in enumerate(positions):
                j, local = where(i)
                at.setdefault(j, []).append((n, local))
            out = [""] * len(positions)
            for j, pairs in at.items():
                got = resources(j).take(pa.array([local for _, local in pairs], pa.int64())).to_pylist()
                for (n, _), resource in zip(pairs, got):
                    out[n] = _raw_text(resource)
            return out

    return Decoded(records=table, sources=rows.sources, raw=raw, raws=raws, rejects=rejects,
                   redecode=lambda: decode(fmt, payloads))


def _raw_text(resource: dict) -> str:
    """A resource read columnar as the JSON text it was sent as (its absent fields left out)."""
    return json.dumps(_present(resource), ensure_ascii=False)


def _read(data: bytes, newlines_in_values: bool, block_size: int, threads: bool) -> pa.Table:
    t = pj.read_json(pa.BufferReader(data), read_options=pj.ReadOptions(block_size=block_size, use_threads=threads),
                     parse_options=pj.ParseOptions(newlines_in_values=newlines_in_values))
    t.validate(full=True)  # the reader does not check UTF-8; the dict path refuses what is not
    _exact(t.schema)
    return t


@dataclass(frozen=True)
class _Read:
    table: pa.Table | None
    """The payload read as one JSON document (None: pyarrow cannot)."""
    nulls: bool
    """``null`` occurs in it. FHIR has none, and Arrow could not tell one from an absent
    key: the dict path reads the delivery. (Looked for where the page is read, in a
    thread: not once more over the whole delivery after it is fetched.)"""


def _read_page(data: bytes) -> _Read:
    return _Read(_read_bundle(data), b"null" in data)


def _read_bundle(data: bytes) -> pa.Table | None:
    """The payload as one row, or None: pyarrow cannot read it as one JSON document."""
    try:
        one_line = data.find(b"\n", 0, len(data.rstrip())) < 0  # as servers write it: read quicker
        t = _read(data, not one_line, len(data) + 1, False)  # one block: payloads run side by side instead
    except pa.ArrowInvalid:
        return None
    return t if t.num_rows == 1 else None


def _bundle_part(fmt: FhirFormat, p: Payload, t: pa.Table | None, want: str | None):
    """A Bundle's resources of the declared type as a table; a payload the dict path
    refuses too gives its rejects; None: no resources."""
    if t is None:
        d = records_from(fmt.encoding, [p], lambda doc: _resources(doc, want))
        if d.records or not d.rejects:
            raise _Slow from None  # the dict path reads what pyarrow could not
        return d.rejects
    kind = t["resourceType"] if "resourceType" in t.column_names else None
    if kind is None or kind.type != pa.string() or kind[0].as_py() != "Bundle":
        raise _Slow  # a bare resource, or no FHIR at all: the dict path says which
    if "entry" not in t.column_names or t["entry"].null_count:
        return None  # an empty searchset page
    entries = t["entry"].combine_chunks()
    if not (pa.types.is_list(entries.type) and pa.types.is_struct(entries.type.value_type)
            and entries.type.value_type.get_field_index("resource") >= 0):
        raise _Slow
    resources = pc.struct_field(pc.list_flatten(entries), "resource")
    if not pa.types.is_struct(resources.type) or resources.null_count:
        raise _Slow  # an entry without a resource is refused by the dict path
    return _of_type(pa.Table.from_struct_array(resources), want), None


def _ndjson_part(p: Payload, data: bytes, want: str | None):
    """A Bulk Data file's resources of the declared type, with their line numbers
    (None: line n is row n)."""
    if any(b in data for b in _LINE_BREAKS_JSON_KEEPS):
        raise _Slow
    if not data.strip():
        return None
    try:
        t = _read(data, False, 1 << 22, True)
    except pa.ArrowInvalid:  # perhaps a resource longer than a block
        t = _read(data, False, len(data) + 1, True)  # anything else: the dict path refuses the bad lines alone
    numbers = None
    if t.num_rows != data.count(b"\n") + (not data.endswith(b"\n")):  # blank lines: count them as the dict path does
        numbers = [n for n, line in enumerate(data.decode("utf-8").splitlines(), 1) if line.strip()]
        if t.num_rows != len(numbers):
            raise _Slow
    kind = t["resourceType"] if "resourceType" in t.column_names else None
    if kind is None or kind.type != pa.string() or kind.null_count:
        raise _Slow  # a line that is no FHIR resource is refused alone by the dict path
    kept = _of_type(t, want)
    if kept.num_rows != t.num_rows:
        mask = pc.equal(kind, want).fill_null(False).to_numpy()
        numbers = (np.arange(1, t.num_rows + 1) if numbers is None else np.asarray(numbers))[mask].tolist()
    return kept, numbers


def _of_type(t: pa.Table, want: str | None) -> pa.Table:
    if not want:
        return t
    if "resourceType" not in t.column_names:
        return t.slice(0, 0)
    if t["resourceType"].type != pa.string():
        raise _Slow
    keep = pc.equal(t["resourceType"], want).fill_null(False)
    return t if pc.all(keep).as_py() else t.filter(keep)  # (a filter copies every nested value)


_EXACT = (pa.types.is_string, pa.types.is_boolean, pa.types.is_int64, pa.types.is_null, pa.types.is_timestamp)


def _exact(schema: pa.Schema) -> None:
    """Only types that hold a JSON value exactly: a number with a fraction (and NaN,
    which only pyarrow reads) takes the dict path."""
    def check(t: pa.DataType) -> None:
        if pa.types.is_struct(t):
            for f in t:
                check(f.type)
        elif pa.types.is_list(t):
            check(t.value_type)
        elif not any(ok(t) for ok in _EXACT):
            raise _Slow
    for f in schema:
        check(f.type)


def _has(schema: pa.Schema, pred) -> bool:
    def walk(t: pa.DataType) -> bool:
        if pa.types.is_struct(t):
            return any(walk(f.type) for f in t)
        if pa.types.is_list(t):
            return walk(t.value_type)
        return pred(t)
    return any(walk(f.type) for f in schema)


def _present(v):
    """A resource as it was sent: Arrow gives absent keys as None (FHIR has no nulls)."""
    if isinstance(v, dict):
        return {k: _present(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_present(x) for x in v]
    return v
