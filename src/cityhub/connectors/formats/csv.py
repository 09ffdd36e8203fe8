"""CSV files, strictly in their declared encoding: a file that does not decode is
refused whole; a line with the wrong number of fields is refused alone."""
from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pyarrow.csv as pcsv

from cityhub.core.payloads import Payload, Reject
from cityhub.connectors.formats.decoded import Decoded
from cityhub.declarations.connectors import CsvFormat


def decode(fmt: CsvFormat, payloads: list[Payload]) -> Decoded:
    enc = fmt.encoding
    tables, sources, rejects, header, spans, start = [], [], [], None, [], 0
    for p in payloads:
        try:
            text = p.data.decode(enc)
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
        names = [h.strip() for h in next(iter(csv.reader([first])), [])]
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
    # files may differ in columns (drift): the union, missing values null
    records = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    return Decoded(records=records, sources=sources,
                   raw=lambda i: json.dumps(records.slice(i, 1).to_pylist()[0], ensure_ascii=False),
                   rejects=rejects, header=header, spans=spans)
