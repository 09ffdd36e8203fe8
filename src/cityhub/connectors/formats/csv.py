"""CSV files as spreadsheets save them: the encoding found from the bytes (the declared
one is a hint, ``formats.encoding``), comma- or tab-separated (Excel's "Unicode text"),
CRLF, quoted fields with line breaks. A file no encoding reads is refused whole; a line
with the wrong number of fields is refused alone; a row with nothing in it (the
``,,,,`` lines Excel leaves below a table) is no record and is skipped."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from cityhub.core.payloads import Payload, Reject
from cityhub.connectors.formats.decoded import Decoded
from cityhub.connectors.formats.encoding import Undecodable, decode_text
from cityhub.declarations.connectors import CsvFormat


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


def decode(fmt: CsvFormat, payloads: list[Payload]) -> Decoded:
    tables, sources, rejects, header, spans, start = [], [], [], None, [], 0
    for p in payloads:
        try:
            text, _ = decode_text(p.data, fmt.encoding)
        except Undecodable as e:
            rejects.append(Reject(source=p.name, raw=p.data.decode("latin-1"), reason=f"wrong_encoding: {e.reason}"))
            continue
        bad: list[Reject] = []
        first = text.split("\n", 1)[0].strip("\r\ufeff")
        sep = _delimiter(first)

        def on_bad(row, p=p, bad=bad, sep=sep) -> str:
            if not _blank(row.text, sep):
                bad.append(Reject(source=f"{p.name}:{row.number or '?'}", raw=row.text,
                                  reason=f"malformed_csv: expected {row.expected_columns} fields, got {row.actual_columns}"))
            return "skip"

        names = [h.strip() for h in next(iter(csv.reader([first], delimiter=sep)), [])]
        header = names if header is None else header
        table = pcsv.read_csv(
            io.BytesIO(text.lstrip("\ufeff").encode("utf-8")),
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=on_bad),
            # only an empty field is null: "n/a" or "NULL" are values, to be judged
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                strings_can_be_null=True, null_values=[""]),
        )
        keep = _with_content(table)
        numbers = (np.flatnonzero(keep.to_numpy(zero_copy_only=False)) + 2).tolist()
        table = table.filter(keep) if len(numbers) < table.num_rows else table
        rejects.extend(bad)
        tables.append(table)
        spans.append((names, start, table.num_rows))
        start += table.num_rows
        sources.extend(f"{p.name}:{n}" for n in numbers)
    # files may differ in columns (drift): the union, missing values null
    records = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    return Decoded(records=records, sources=sources,
                   raw=lambda i: json.dumps(records.slice(i, 1).to_pylist()[0], ensure_ascii=False),
                   rejects=rejects, header=header, spans=spans)
