"""Response formats for tabular data: JSON (default), CSV, Arrow IPC stream and,
for bulk export, Parquet. Chosen by ``format=`` or the ``Accept`` header.

Masking happens in the query, before any of these, so every format is masked alike.
"""
from __future__ import annotations

import io
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi.responses import Response, StreamingResponse

from cityhub.api.problems import Problem

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8", "arrow": ARROW, "parquet": PARQUET}
_ACCEPT = {"application/json": "json", "text/csv": "csv", ARROW: "arrow", PARQUET: "parquet",
           "application/x-parquet": "parquet"}


def negotiate(fmt: str | None, accept: str | None, allowed: tuple[str, ...]) -> str:
    """``format=`` wins; else the first acceptable media type we have; else the default."""
    if fmt:
        return fmt
    if accept:
        wanted = [part.split(";")[0].strip().lower() for part in accept.split(",")]
        for media in wanted:
            if _ACCEPT.get(media) in allowed:
                return _ACCEPT[media]
        if not any(m in ("*/*", "application/*", "text/*", "") for m in wanted):
            raise Problem(406, f"cannot answer in {accept}; available: {', '.join(MEDIA[a] for a in allowed)}")
    return allowed[0]


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _csv(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()


def rows(table: pa.Table) -> list[dict]:
    """The table as a list of row dicts: a column at a time, then zipped (faster than
    ``Table.to_pylist``, which builds each row from every column in turn). Dates and
    naive times become their ISO 8601 text in Arrow, as orjson would write the Python
    objects (no fraction when it is zero), without building those objects."""
    names = table.column_names
    return [dict(zip(names, r)) for r in zip(*(_json_ready(c).to_pylist() for c in table.columns))]


def _json_ready(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type) and column.type.tz is None:
        micros = column.cast(pa.timestamp("us"), safe=False)  # the fraction orjson writes: 6 digits, or none
        text = pc.replace_substring(micros.cast(pa.string()), " ", "T", max_replacements=1)  # not strftime: 10x slower
        return pc.replace_substring(text, ".000000", "")
    if pa.types.is_date(column.type):
        return column.cast(pa.string())
    return column


def table_response(table: pa.Table, fmt: str, headers: dict) -> Response:
    if fmt == "arrow":
        return Response(_ipc(table), media_type=ARROW, headers=headers)
    if fmt == "csv":
        return Response(_csv(table), media_type=MEDIA["csv"], headers=headers)
    raise ValueError(fmt)


def export_response(export, fmt: str, stem: str, done: Callable[[int, bool], None]) -> Response:
    """Stream an export batch by batch (Parquet row groups too: no temporary file);
    ``done(rows, complete)`` runs when the stream ends, also when it is cut off."""
    ext = {"arrow": "arrows", "parquet": "parquet", "csv": "csv"}[fmt]
    headers = {"X-Snapshot-Id": str(export.snapshot_id),
               "Content-Disposition": f'attachment; filename="{stem}.{ext}"'}

    def stream():
        rows, complete = 0, False
        try:
            sink = _Chunks()
            if fmt == "arrow":
                with pa.ipc.new_stream(sink, export.schema) as w:
                    for b in export.batches():
                        rows += b.num_rows
                        w.write_batch(b)
                        yield from sink.drain()
            elif fmt == "parquet":
                with pq.ParquetWriter(sink, export.schema, compression="zstd") as w:
                    for b in export.batches():
                        rows += b.num_rows
                        w.write_batch(b)
                        yield from sink.drain()
            else:
                opts = pacsv.WriteOptions(include_header=True)
                with pacsv.CSVWriter(sink, export.schema, write_options=opts) as w:
                    for b in export.batches():
                        rows += b.num_rows
                        w.write_batch(b)
                        yield from sink.drain()
            yield from sink.drain()
            complete = True
        finally:
            export.close()
            done(rows, complete)
    return StreamingResponse(stream(), media_type=MEDIA[fmt], headers=headers)


class _Chunks(io.RawIOBase):
    """A file-like sink the IPC writer writes to; the stream drains it per batch."""

    def __init__(self):
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.parts.append(bytes(b))
        return len(b)

    def drain(self):
        parts, self.parts = self.parts, []
        return parts
