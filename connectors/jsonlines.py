"""JSON lines (Kafka messages, ``.jsonl`` drops) decoded a batch at a time with
Arrow's JSON reader — not a dict per message. Only a batch that holds a bad line
is decoded line by line, to refuse exactly the bad lines with their raw text."""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.json as pjson

from pipelines.landing import Reject


def decode_lines(lines: list[bytes], sources: list[str], fields: list[str]
                 ) -> tuple[pa.Table, list[str], list[bytes], list[Reject]]:
    """``fields`` as text columns. Returns the table, and the sources and lines of
    its rows (bad lines removed), and the rejects."""
    schema = pa.schema([(f, pa.string()) for f in fields])
    lines = [v.strip() if v else b"" for v in lines]
    try:
        if any(not v for v in lines):
            raise ValueError("empty message")
        table = pjson.read_json(io.BytesIO(b"\n".join(lines)), parse_options=pjson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"))
        if table.num_rows != len(lines):
            raise ValueError("row count mismatch")
        return table, sources, lines, []
    except (pa.ArrowInvalid, ValueError):
        pass
    objs, kept_sources, kept_lines, rejects = [], [], [], []
    for v, s in zip(lines, sources):
        try:
            obj = json.loads(v)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            rejects.append(Reject(source=s, reason=f"malformed_json: not a JSON object ({e})",
                                  raw=v.decode("utf-8", errors="replace")))
            continue
        objs.append(obj)
        kept_sources.append(s)
        kept_lines.append(v)
    from connectors.mapping import text

    table = pa.table({f: pa.array([text(o.get(f)) for o in objs], pa.string()) for f in fields})
    return table, kept_sources, kept_lines, rejects

