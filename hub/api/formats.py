"""Response formats for tabular data: JSON (default), CSV, Arrow IPC stream and,
for bulk export, Parquet. Chosen by ``format=`` or the ``Accept`` header.

Masking happens in the query, before any of these, so every format is masked alike.
"""
from __future__ import annotations

import io
import os
import tempfile
from typing import Callable

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from hub.api.problems import Problem

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


def table_response(table: pa.Table, fmt: str, headers: dict) -> Response:
    if fmt == "arrow":
        return Response(_ipc(table), media_type=ARROW, headers=headers)
    if fmt == "csv":
        return Response(_csv(table), media_type=MEDIA["csv"], headers=headers)
    raise ValueError(fmt)


def export_response(export, fmt: str, stem: str, done: Callable[[int], None]) -> Response:
    """Stream an export; ``done(rows)`` runs once it is sent (the audit entry)."""
    headers = {"X-Snapshot-Id": str(export.snapshot_id),
               "Content-Disposition": f'attachment; filename="{stem}.{ "arrows" if fmt == "arrow" else fmt}"'}
    count = [0]

    if fmt == "parquet":  # Parquet needs its footer: write a temporary file, then send it
        fd, path = tempfile.mkstemp(suffix=".parquet")
        os.close(fd)
        try:
            with pq.ParquetWriter(path, export.schema, compression="zstd") as w:
                for b in export.batches():
                    count[0] += b.num_rows
                    w.write_batch(b)
        except BaseException:
            os.unlink(path)
            raise

        def cleanup():
            os.unlink(path)
            done(count[0])

        def chunks():
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk
        return StreamingResponse(chunks(), media_type=PARQUET, headers=headers, background=BackgroundTask(cleanup))

    def stream():
        if fmt == "arrow":
            sink = _Chunks()
            with pa.ipc.new_stream(sink, export.schema) as w:
                for b in export.batches():
                    count[0] += b.num_rows
                    w.write_batch(b)
                    yield from sink.drain()
            yield from sink.drain()
        else:
            first = True
            for b in export.batches():
                count[0] += b.num_rows
                buf = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([b], export.schema), buf,
                                pacsv.WriteOptions(include_header=first))
                first = False
                yield buf.getvalue()
            if first:
                buf = io.BytesIO()
                pacsv.write_csv(export.schema.empty_table(), buf)
                yield buf.getvalue()
    return StreamingResponse(stream(), media_type=MEDIA[fmt], headers=headers,
                             background=BackgroundTask(lambda: done(count[0])))


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
