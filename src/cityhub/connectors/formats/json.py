"""JSON documents holding a list of records (at a declared path), decoded to dicts
whose value types are kept for schema-drift checks.

A file drop's delivery is streamed instead (:func:`stream`): a 200 MB export parsed
whole was a dict per record, 5 GB. Its records are parsed one at a time, out of the
file's bytes, and turned into the mapped fields' text a few thousand at a time, so what
stays is the bytes, an Arrow table of text and where each record lies: the drift check
parses them again a chunk at a time, and a refused row's raw text is parsed again when
it is asked for. What
lands, what is refused and why are the dict path's: the same parser on the same bytes,
the same drift check, the same text; a document the record splitter cannot read
exactly is read by the dict path.
"""
from __future__ import annotations

import codecs
import json
import re
import uuid
from array import array
from collections.abc import Callable, Iterator
from functools import partial

import orjson
import pyarrow as pa

from cityhub.connectors.formats.decoded import Decoded, Parts, text
from cityhub.core.payloads import Payload, Reject
from cityhub.declarations.connectors import ConnectorSpec


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


def _picker(fmt) -> Callable[[object], list]:
    def pick(doc):
        found = at_path(doc, fmt.items)
        if not isinstance(found, list):
            raise ValueError(f"expected a list at '{fmt.items or '$'}'")
        return found
    return pick


def decode(fmt, payloads: list[Payload], spec: ConnectorSpec | None = None) -> Decoded:
    """Dicts; with the connector's ``spec``, streamed where :func:`streams` says it may be."""
    if spec is not None and streams(spec):
        return stream(fmt, payloads, spec)
    return records_from(fmt.encoding, payloads, _picker(fmt))


# ------------------------------------------------------------------ streamed


def streams(spec: ConnectorSpec) -> bool:
    """A file drop mapped by its declared ``columns``: nothing after the decoding needs the
    records as dicts (a mapping ``function`` takes dicts; an HTTP cursor reads values with
    their JSON types)."""
    return spec.source.kind == "file_drop" and not spec.function


CHUNK = 4096
"""Records turned into text, or judged for drift, at a time (their dicts live only that long)."""
MAX_TRIES = 64
"""Candidate ends tried for one record before the document goes the dict path instead (a
record full of ``}, {`` inside its strings or nested lists would cost a parse per try)."""
_WS = b" \t\r\n"
_END = re.compile(rb"\}[ \t\r\n]*(?:,[ \t\r\n]*(?=\{)|\])")
"""Where a record of the list may end: a ``}`` then a ``,`` before the next ``{``, or the ``]``."""
_TEXT_TYPES = (pa.types.is_string, pa.types.is_null, pa.types.is_boolean, pa.types.is_int64, pa.types.is_uint64)
"""Arrow types whose cast to text is :func:`text` of the value (a float's is not: ``1.0`` is ``1``)."""


class _NotExact(Exception):
    """The splitter cannot read this document exactly: the dict path reads it."""


def _utf8(encoding: str) -> bool:
    return encoding.lower().replace("-", "") == "utf8"  # as records_from decides it


def _list_starts(data: bytes, skip: int, path: str) -> Iterator[int]:
    """Candidate positions of the ``[`` of the list at ``path`` in the document that starts
    at ``skip`` (checked afterwards)."""
    if not path:
        i = re.compile(rb"[ \t\r\n]*").match(data, skip).end()  # (not lstrip: a copy of the file)
        if data[i:i + 1] == b"[":
            yield i
        return
    key = json.dumps(path.split(".")[-1], ensure_ascii=False).encode("utf-8")
    for n, m in enumerate(re.compile(re.escape(key) + rb"[ \t\r\n]*:[ \t\r\n]*\[").finditer(data, skip)):
        if n == 2:
            return
        yield m.end() - 1


def _records(data: bytes, start: int, spans: tuple[array, array]) -> Iterator[dict]:
    """The records of the list whose ``[`` is at ``start``, parsed one at a time; their
    (start, end) appended to ``spans``. A candidate that parses is the record: a prefix of
    an object that is a whole object ends where the object does. Raises ``_NotExact``
    where a record is not an object or no end parses; returns the list's end."""
    view = memoryview(data)
    pos = start + 1
    while pos < len(data) and data[pos] in _WS:
        pos += 1
    if data[pos:pos + 1] == b"]":
        return pos + 1
    if data[pos:pos + 1] != b"{":
        raise _NotExact("an item is not an object")
    tries = 0
    for m in _END.finditer(data, pos):
        end = m.start() + 1
        try:
            record = orjson.loads(view[pos:end])
        except orjson.JSONDecodeError:
            tries += 1
            if tries > MAX_TRIES:
                raise _NotExact("no end of a record parses") from None
            continue
        spans[0].append(pos)
        spans[1].append(end)
        yield record
        tries = 0
        if data[m.end() - 1] == 0x5D:  # "]": the list's end
            return m.end()
        pos = m.end()
    raise _NotExact("the list does not end")


def _skeleton_holds(data: bytes, skip: int, start: int, end: int, path: str) -> bool:
    """Whether the document (from ``skip``) with the list between ``start`` and ``end``
    replaced by a marker parses, and holds the marker at ``path``: the list found is the
    one the path names."""
    marker = uuid.uuid4().hex
    try:
        doc = orjson.loads(b"".join((data[skip:start], b'["', marker.encode(), b'"]', data[end:])))
        return at_path(doc, path) == [marker]
    except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
        return False


class _Columns:
    """The mapped fields' text of records taken a chunk at a time."""

    def __init__(self, spec: ConnectorSpec):
        self.fields = list(dict.fromkeys(spec.columns.values()))
        self.arrays: dict[str, list[pa.Array]] = {f: [] for f in self.fields}
        self.rows = 0

    def take(self, chunk: list[dict]) -> None:
        for f in self.fields:
            values = [r.get(f) for r in chunk]
            try:
                col = pa.array(values)
                col = col.cast(pa.string()) if any(ok(col.type) for ok in _TEXT_TYPES) else None
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                col = None
            self.arrays[f].append(col if col is not None else pa.array([text(v) for v in values], pa.string()))
        self.rows += len(chunk)

    def add(self, other: _Columns) -> None:
        for f in self.fields:
            self.arrays[f].extend(other.arrays[f])
        self.rows += other.rows

    def table(self) -> pa.Table:
        return pa.table({f: pa.chunked_array(a, pa.string()) for f, a in self.arrays.items()})


def _streamed(fmt, p: Payload, spec: ConnectorSpec) -> tuple[_Columns, tuple[array, array], bytes]:
    """One payload's records taken by :class:`_Columns` as they are parsed; raises
    ``_NotExact`` where only the dict path reads it exactly."""
    if not _utf8(fmt.encoding):
        raise _NotExact("not UTF-8")
    data = p.data
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0  # (not a copy without it)
    for start in _list_starts(data, skip, fmt.items):
        cols, spans, chunk = _Columns(spec), (array("q"), array("q")), []
        try:
            it = _records(data, start, spans)
            while True:
                try:
                    chunk.append(next(it))
                except StopIteration as stop:
                    end = stop.value
                    break
                if len(chunk) == CHUNK:
                    cols.take(chunk)
                    chunk = []
        except _NotExact:
            continue
        if chunk:
            cols.take(chunk)
        if _skeleton_holds(data, skip, start, end, fmt.items):
            return cols, spans, data
    raise _NotExact("no list at the path")


def _span_raw(spans: tuple[array, array], data: bytes, j: int) -> str:
    """Record ``j`` of a streamed payload, parsed again from its bytes."""
    starts, ends = spans
    return json.dumps(orjson.loads(memoryview(data)[starts[j]:ends[j]]), ensure_ascii=False)


def stream(fmt, payloads: list[Payload], spec: ConnectorSpec) -> Decoded:
    """The delivery as the text of the fields ``spec`` maps (an Arrow table), its records
    as dicts again a chunk at a time for the drift check (``Decoded.chunks``), sources and
    raw text made when asked. A payload the splitter cannot read exactly (another
    encoding, a record that is not an object, a document that is not JSON) goes the dict
    path alone, so its records and refusals are the dict path's."""
    out, rejects, rows = _Columns(spec), [], Parts("#")
    parts: list[object] = []  # per payload with records: its spans + bytes, or the dict path's Decoded
    for p in payloads:
        try:
            cols, spans, data = _streamed(fmt, p, spec)
            part: object = (spans, data)
        except _NotExact:
            d = records_from(fmt.encoding, [p], _picker(fmt))
            rejects.extend(d.rejects)
            cols = _Columns(spec)
            for i in range(0, len(d.records), CHUNK):
                cols.take(d.records[i:i + CHUNK])
            part = d
        if cols.rows:
            parts.append(part)
            if isinstance(part, Decoded):
                rows.add_decoded(part)
            else:
                rows.add(cols.rows, p.name, raw=partial(_span_raw, spans, data))
        out.add(cols)

    def chunks() -> Iterator[list[dict]]:
        for part in parts:
            if isinstance(part, Decoded):
                for i in range(0, len(part.records), CHUNK):
                    yield part.records[i:i + CHUNK]
                continue
            (starts, ends), data = part
            view = memoryview(data)
            for i in range(0, len(starts), CHUNK):
                yield [orjson.loads(view[s:e]) for s, e in zip(starts[i:i + CHUNK], ends[i:i + CHUNK])]

    return Decoded(records=out.table(), sources=rows.sources, raw=rows.raw, rejects=rejects, chunks=chunks)
