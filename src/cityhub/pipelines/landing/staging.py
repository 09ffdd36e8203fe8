"""Typing of raw text values against a contract, without losing a row.

Parsers hand over every value as text (what the source said). ``stage`` casts
each column to the contract's type with DuckDB's TRY_CAST; a value that does not
convert becomes a reason on its row (and the row goes to quarantine), instead of
failing the whole batch or being silently nulled.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cityhub.declarations.contracts import Contract
from cityhub.declarations.fieldtypes import FIELD_TYPES


@dataclass(frozen=True)
class Staged:
    table: pa.Table
    """Contract columns, typed (contract staging schema: all nullable)."""
    reasons: dict[int, list[str]]
    """Row position -> type errors."""


def _expr(col: str, typ: str) -> str:
    q = f'NULLIF(TRIM("{col}"), \'\')'
    if typ == "string":
        return q
    if typ == "timestamp":
        # ISO-8601 with an offset, or naive text taken as China Standard Time:
        # offsets are honoured and converted to CST; naive text is already CST
        return (f"CASE WHEN regexp_matches({q}, '([+-][0-9]{{2}}:?[0-9]{{2}}|Z)$') "
                f"THEN timezone('Asia/Shanghai', TRY_CAST({q} AS TIMESTAMPTZ)) "
                f"ELSE TRY_CAST({q} AS TIMESTAMP) END")
    return f"TRY_CAST({q} AS {FIELD_TYPES[typ].sql})"


def _clean_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Trimmed text, with empty values as null (what the source meant by them)."""
    trimmed = pc.utf8_trim_whitespace(col.cast(pa.string()))
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def stage(contract: Contract, text: pa.Table) -> Staged:
    """Cast ``text`` (string columns named as the contract's fields; missing
    columns are null) to the contract's types, collecting conversion errors.
    Text fields stay in Arrow; only typed fields go through DuckDB."""
    n = text.num_rows
    present = set(text.column_names)
    typed_fields = [f for f in contract.fields if f.name in present and f.type != "string"]
    columns: dict[str, pa.ChunkedArray | pa.Array] = {}
    reasons: dict[int, list[str]] = {}
    if typed_fields:
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'Asia/Shanghai'")
            con.execute("SET preserve_insertion_order = true")  # row i stays row i (the default, relied on)
            src = text.select([f.name for f in typed_fields])
            con.register("t", src)
            # one pass: each value cast, beside whether text was there (a value that was
            # there and did not cast is a reason on its row)
            inner = ", ".join(f'{_expr(f.name, f.type)} AS "{f.name}", NULLIF(TRIM("{f.name}"), \'\') IS NOT NULL '
                              f'AS "__had_{f.name}"' for f in typed_fields)
            outer = ", ".join(f'"{f.name}", "__had_{f.name}" AND "{f.name}" IS NULL AS "__bad_{f.name}"'
                              for f in typed_fields)
            casted = con.sql(f"SELECT {outer} FROM (SELECT {inner} FROM t)").to_arrow_table()
            for f in typed_fields:
                columns[f.name] = casted[f.name]
                bad = np.flatnonzero(casted[f"__bad_{f.name}"].to_numpy(zero_copy_only=False))
                if len(bad):
                    values = src[f.name].take(pa.array(bad, pa.int64())).to_pylist()
                    for pos, value in zip(bad.tolist(), values):
                        reasons.setdefault(pos, []).append(
                            f"bad_{f.name}: {f.name} is not a valid {f.type}: {value!r}")
        finally:
            con.close()
    arrays = []
    for f in contract.fields:
        if f.name in columns:
            arrays.append(columns[f.name])
        elif f.name in present:
            arrays.append(_clean_text(text[f.name]))
        else:
            arrays.append(pa.nulls(n, f.arrow_type))
    table = pa.Table.from_arrays(arrays, schema=contract.staging_schema()) if n else \
        contract.staging_schema().empty_table()
    return Staged(table=table.cast(contract.staging_schema()), reasons=reasons)
