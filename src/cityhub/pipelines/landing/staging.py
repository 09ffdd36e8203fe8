"""Typing of raw text values against a contract, without losing a row.

Parsers hand over every value as text (what the source said). ``stage`` casts
each column to the contract's type with DuckDB's TRY_CAST; a value that does not
convert becomes a reason on its row (and the row goes to quarantine), instead of
failing the whole batch or being silently nulled.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
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
            src = text.select([f.name for f in typed_fields]).append_column(
                "__pos", pa.array(range(n), pa.int64()))
            con.register("t", src)
            selects = ", ".join(f'{_expr(f.name, f.type)} AS "{f.name}"' for f in typed_fields)
            casted = con.sql(f"SELECT {selects} FROM t ORDER BY __pos").to_arrow_table()
            for f in typed_fields:
                columns[f.name] = casted[f.name]
                bad = f'NULLIF(TRIM("{f.name}"), \'\') IS NOT NULL AND ({_expr(f.name, f.type)}) IS NULL'
                for pos, value in con.execute(f'SELECT __pos, "{f.name}" FROM t WHERE {bad}').fetchall():
                    reasons.setdefault(int(pos), []).append(
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
