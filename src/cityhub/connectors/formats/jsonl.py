"""JSON lines (``.jsonl`` drops, Kafka messages) decoded a batch at a time with
Arrow's JSON reader, not a dict per message. Only a batch that holds a bad line is
decoded line by line, to refuse exactly the bad lines with their raw text."""
from __future__ import annotations

import base64
import io
import json

import pyarrow as pa
import pyarrow.json as pjson

from cityhub.core.payloads import Payload, Reject
from cityhub.connectors.formats.decoded import Decoded, text


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


def decode(fields: list[str], payloads: list[Payload]) -> Decoded:
    """Every non-blank line of every payload."""
    lines, sources = [], []
    for p in payloads:
        for i, line in enumerate(p.data.splitlines()):
            if line.strip():
                lines.append(line)
                sources.append(f"{p.name}:{i + 1}")
    return decode_lines(lines, sources, fields)
