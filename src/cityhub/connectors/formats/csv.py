"""CSV files as spreadsheets save them: the encoding found from the bytes (the declared
one is a hint, ``formats.encoding``), comma- or tab-separated (Excel's "Unicode text"),
CRLF, quoted fields with line breaks. A file no encoding reads is refused whole; a line
with the wrong number of fields is refused alone; a row with nothing in it (the
``,,,,`` lines Excel leaves below a table) is no record and is skipped."""
from __future__ import annotations

import codecs
import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from cityhub.connectors.formats.decoded import Decoded, Parts
from cityhub.connectors.formats.encoding import BOMS, Undecodable, decode_text
from cityhub.core.payloads import Payload, Reject
from cityhub.declarations.connectors import CsvFormat

_STEP = 1 << 20
"""Bytes decoded at a time when a file is checked or transcoded: a text copy of a big
file, and another in UTF-8, cost several times its size at once."""


def _delimiter(first_line: str) -> str:
    return "\t" if "\t" in first_line and "," not in first_line else ","


def _blank(text: str, delimiter: str) -> bool:
    return not text.replace(delimiter, "").replace('"', "").strip()


def _with_content(table: pa.Table) -> pa.Array:
    """True for rows with a non-blank value somewhere."""
    keep = pa.array(np.zeros(table.num_rows, dtype=bool))
    for col in table.columns:
        keep = pc.or_(keep, pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(col), ""), False))
    return keep


def _decodes(data: bytes | memoryview, encoding: str, into: bytearray | None = None) -> bool:
    """Whether ``data`` is valid ``encoding`` (strictly, as ``bytes.decode``), read a step at
    a time; its text goes into ``into`` as UTF-8 when given."""
    dec, view = codecs.getincrementaldecoder(encoding)("strict"), memoryview(data)
    try:
        for i in range(0, len(view), _STEP):
            part = dec.decode(view[i:i + _STEP])
            if into is not None:
                into += part.encode("utf-8")
        part = dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    if into is not None:
        into += part.encode("utf-8")
    return True


def readable(data: bytes, declared: str) -> tuple[bytes | bytearray, int, str, str]:
    """(bytes, where their text starts past byte-order marks, their encoding, the first
    line) as Arrow's reader takes the file, in the encoding ``encoding.decode_text`` finds
    (raises its ``Undecodable``), without a text copy of the whole file: a UTF-8 file is
    its own bytes; another, checked a step at a time, is transcoded by the reader as it
    reads (a copy in UTF-8 of a 50 MB GB18030 file was 55 MB more at the peak)."""
    body = None
    if not any(data.startswith(bom) for bom, enc in BOMS if enc != "utf-8-sig") and _decodes(data, "utf-8"):
        body = data  # with a UTF-8 byte-order mark too ("utf-8-sig" reads what "utf-8" reads)
    elif not any(data.startswith(bom) for bom, _ in BOMS):
        for enc in dict.fromkeys(codecs.lookup(e).name for e in (declared, "gb18030")):
            if enc == "utf-8" or not _decodes(data, enc):
                continue
            head = codecs.getincrementaldecoder(enc)("strict").decode(data[:_STEP])
            if not head.startswith("\ufeff") and ("\n" in head or len(data) <= _STEP):
                return data, 0, enc, head.split("\n", 1)[0]
            body = bytearray()  # a mark to strip, or a first line longer than a step: in UTF-8 first
            _decodes(data, enc, body)
            break
    if body is None:  # a UTF-16 file, or one no candidate reads (then the reason why)
        body = decode_text(data, declared)[0].encode("utf-8")
    skip = 0
    while body.startswith(codecs.BOM_UTF8, skip):  # as str.lstrip("\ufeff") of the text
        skip += len(codecs.BOM_UTF8)
    nl = body.find(b"\n", skip)
    return body, skip, "utf8", bytes(body[skip:nl if nl >= 0 else len(body)]).decode("utf-8")


def decode(fmt: CsvFormat, payloads: list[Payload]) -> Decoded:
    tables, rejects, header, spans, start = [], [], None, [], 0
    parts = Parts(":")  # a row's source is "<file>:<line>", made when asked: only refused rows need one
    for p in payloads:
        try:
            body, skip, encoding, first = readable(p.data, fmt.encoding)
        except Undecodable as e:
            rejects.append(Reject(source=p.name, raw=p.data.decode("latin-1"), reason=f"wrong_encoding: {e.reason}"))
            continue
        bad: list[Reject] = []
        first = first.strip("\r\ufeff")
        sep = _delimiter(first)

        def on_bad(row, p=p, bad=bad, sep=sep) -> str:
            if not _blank(row.text, sep):
                bad.append(Reject(source=f"{p.name}:{row.number or '?'}", raw=row.text,
                                  reason=f"malformed_csv: expected {row.expected_columns} fields, got {row.actual_columns}"))
            return "skip"

        names = [h.strip() for h in next(iter(csv.reader([first], delimiter=sep)), [])]
        header = names if header is None else header
        table = pcsv.read_csv(
            pa.BufferReader(pa.py_buffer(body).slice(skip)),
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, encoding=encoding),
            parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=on_bad),
            # only an empty field is null: "n/a" or "NULL" are values, to be judged
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                strings_can_be_null=True, null_values=[""]),
        )
        del body
        keep = _with_content(table)
        numbers = np.flatnonzero(keep.to_numpy(zero_copy_only=False)) + 2
        table = table.filter(keep) if len(numbers) < table.num_rows else table
        rejects.extend(bad)
        tables.append(table)
        spans.append((names, start, table.num_rows))
        parts.add(table.num_rows, p.name, numbers)
        start += table.num_rows
    # files may differ in columns (drift): the union, missing values null
    records = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    return Decoded(records=records, sources=parts.sources,
                   raw=lambda i: json.dumps(records.slice(i, 1).to_pylist()[0], ensure_ascii=False),
                   rejects=rejects, header=header, spans=spans)
