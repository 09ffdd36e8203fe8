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

from cityhub.declarations.contracts import Contract, ContractField
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


_SAMPLE, _FEW = 1024, 64


def _few_values(col: pa.ChunkedArray) -> bool:
    """Whether a column holds few distinct values, judged on its first rows: the hub's
    own (as-of day, delivery time) are one value per delivery, and casting each of 100k
    copies of a timestamp cost a third of staging a catalogue."""
    return (len(col) > _SAMPLE and pa.types.is_string(col.type)
            and pc.count_distinct(col.slice(0, _SAMPLE)).as_py() <= _FEW)


def _cast(con: duckdb.DuckDBPyConnection, src: pa.Table, fields: list[ContractField]) -> dict[str, pa.ChunkedArray]:
    """Each of ``fields`` cast (``<name>``), and whether text was there that did not cast
    (``__bad_<name>``), in one pass of DuckDB over ``src``, row for row."""
    con.register("t", src)
    try:
        inner = ", ".join(f'{_expr(f.name, f.type)} AS "{f.name}", NULLIF(TRIM("{f.name}"), \'\') IS NOT NULL '
                          f'AS "__had_{f.name}"' for f in fields)
        outer = ", ".join(f'"{f.name}", "__had_{f.name}" AND "{f.name}" IS NULL AS "__bad_{f.name}"' for f in fields)
        out = con.sql(f"SELECT {outer} FROM (SELECT {inner} FROM t)").to_arrow_table()
    finally:
        con.unregister("t")
    return {name: out[name] for name in out.column_names}


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
            few = [f for f in typed_fields if _few_values(text[f.name])]
            many = [f for f in typed_fields if f not in few]
            casted = {}
            if many:
                casted.update(_cast(con, text.select([f.name for f in many]), many))
            for f in few:  # each distinct value cast once (a delivery's day and time, a code)
                encoded = text[f.name].combine_chunks().dictionary_encode()
                once = _cast(con, pa.table({f.name: encoded.dictionary}), [f])
                casted.update({k: v.take(encoded.indices) for k, v in once.items()})
            for f in typed_fields:
                columns[f.name] = casted[f.name]
                bad = np.flatnonzero(casted[f"__bad_{f.name}"].fill_null(False).to_numpy(zero_copy_only=False))
                if len(bad):
                    values = text[f.name].take(pa.array(bad, pa.int64())).to_pylist()
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
