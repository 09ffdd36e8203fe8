"""JSON lines (``.jsonl`` drops, Kafka messages) decoded a batch at a time with
Arrow's JSON reader, not a dict per message. Only a batch that holds a bad line is
decoded line by line, to refuse exactly the bad lines with their raw text."""
from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.json as pjson

from cityhub.connectors.formats.decoded import Decoded, Lazy, Parts, text
from cityhub.core.payloads import Payload, Reject


def decode_lines(lines: list[bytes], sources: list[str], fields: list[str]) -> Decoded:
    """``fields`` as text columns; bad lines refused with their raw text."""
    schema = pa.schema([(f, pa.string()) for f in fields])
    lines = [v.strip() if v else b"" for v in lines]
    try:
        if any(not v for v in lines):
            raise ValueError("empty message")
        data = b"\n".join(lines)
        data.decode("utf-8")  # Arrow's reader would take bytes that are not UTF-8 into text columns
        table = pjson.read_json(io.BytesIO(data), parse_options=pjson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"))
        if table.num_rows != len(lines):
            raise ValueError("row count mismatch")
        kept_sources, kept_lines, rejects = sources, lines, []
    except (pa.ArrowInvalid, ValueError):
        objs, kept_sources, kept_lines, rejects = [], [], [], []
        for v, s in zip(lines, sources):
            try:
                obj = json.loads(v)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                json.dumps(obj, ensure_ascii=False).encode("utf-8")  # a lone surrogate (\ud800) is no text
            except UnicodeDecodeError as e:
                rejects.append(Reject(source=s, reason=f"malformed_json: not UTF-8 ({e}); raw is the bytes in base64",
                                      raw=base64.b64encode(v).decode("ascii")))
                continue
            except ValueError as e:
                rejects.append(Reject(source=s, reason=f"malformed_json: not a JSON object ({e})",
                                      raw=v.decode("utf-8", errors="replace")))
                continue
            objs.append(obj)
            kept_sources.append(s)
            kept_lines.append(v)
        table = pa.table({f: pa.array([text(o.get(f)) for o in objs], pa.string()) for f in fields})
    return Decoded(records=table, sources=kept_sources,
                   raw=lambda i: kept_lines[i].decode("utf-8", "replace"), rejects=rejects)


FILE_CHUNK = 8192
"""Lines of a file decoded at a time: a bad line sends only its chunk line by line (a
dict per line), and only the chunk's lines are copies at once."""


def _lines(data: bytes) -> tuple[int, Callable[[int], bytes]]:
    """(how many lines, line k) as ``bytes.splitlines`` cuts them (up to white space at
    their ends, which ``decode_lines`` strips), without a copy of each line: where lines end
    in LF or CRLF, by where each starts (8 bytes a line)."""
    if data.count(b"\r") != data.count(b"\r\n"):  # a lone CR ends a line too: splitlines itself
        lines = data.splitlines()
        return len(lines), lines.__getitem__
    octets, found = np.frombuffer(data, np.uint8), [np.zeros(1, np.int64)]
    for i in range(0, len(octets), 1 << 24):
        found.append(np.flatnonzero(octets[i:i + (1 << 24)] == 0x0A) + (i + 1))
    starts = np.concatenate(found)
    if starts[-1] == len(data):  # after a final line break there is no line
        starts = starts[:-1]
    ends = np.append(starts[1:] - 1, len(data))

    def line(k: int) -> bytes:
        return data[int(starts[k]):int(ends[k])]
    return len(starts), line


def decode(fields: list[str], payloads: list[Payload]) -> Decoded:
    """Every non-blank line of every payload, ``FILE_CHUNK`` lines at a time (as one
    ``decode_lines`` would: a line is decoded alone when it is bad, with Arrow's reader
    when not). A row's source and raw text are made when asked, from the payload."""
    tables, rejects, parts = [], [], Parts(":")
    for p in payloads:
        count, line = _lines(p.data)
        for a in range(0, count, FILE_CHUNK):
            b, lines, kept = min(a + FILE_CHUNK, count), [], []
            for k in range(a, b):
                if (v := line(k)).strip():
                    lines.append(v)
                    kept.append(k)
            numbers = range(a, b) if len(kept) == b - a else np.array(kept, np.int64)  # (no list of ints kept)
            d = decode_lines(lines, Lazy(lambda i, name=p.name, numbers=numbers: f"{name}:{numbers[i] + 1}",
                                         len(numbers)), fields)
            del lines
            rejects.extend(d.rejects)
            tables.append(d.records)
            if d.rejects:  # the rows are the lines not refused (a refusal names its line)
                refused = {r.source for r in d.rejects}
                numbers = np.array([k for k in kept if f"{p.name}:{k + 1}" not in refused], np.int64)
            del kept
            if len(d) == len(numbers):  # row j is line numbers[j]: its source and raw text rebuilt when asked
                parts.add(len(d), p.name, numbers, offset=1, raw=lambda j, numbers=numbers, line=line:
                          line(numbers[j]).strip().decode("utf-8", "replace"))
            elif len(d):
                parts.add_decoded(d)
    if not tables:  # no line at all: as decode_lines gives it
        return decode_lines([], [], fields)
    records = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return Decoded(records=records, sources=parts.sources, raw=parts.raw, rejects=rejects)
