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

from hub.contracts import Contract

_SQL_TYPES = {
    "string": None,
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    # ISO-8601 with an offset, or naive text taken as China Standard Time
    "timestamp": "TIMESTAMP",
}


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
        # offsets are honoured and converted to CST; naive text is already CST
        return (f"CASE WHEN regexp_matches({q}, '([+-][0-9]{{2}}:?[0-9]{{2}}|Z)$') "
                f"THEN timezone('Asia/Shanghai', TRY_CAST({q} AS TIMESTAMPTZ)) "
                f"ELSE TRY_CAST({q} AS TIMESTAMP) END")
    return f"TRY_CAST({q} AS {_SQL_TYPES[typ]})"


def stage(contract: Contract, text: pa.Table) -> Staged:
    """Cast ``text`` (string columns named as the contract's fields; missing
    columns are null) to the contract's types, collecting conversion errors."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        con.register("t", text.append_column("__pos", pa.array(range(text.num_rows), pa.int64())))
        present = set(text.column_names)
        selects, checks = [], []
        for f in contract.fields:
            if f.name in present:
                e = _expr(f.name, f.type)
                selects.append(f'{e} AS "{f.name}"')
                if f.type != "string":
                    checks.append((f, f'NULLIF(TRIM("{f.name}"), \'\') IS NOT NULL AND ({e}) IS NULL'))
            else:
                selects.append(f'NULL AS "{f.name}"')
        typed = con.sql(f"SELECT {', '.join(selects)} FROM t ORDER BY __pos") \
            .to_arrow_table().cast(contract.staging_schema())
        reasons: dict[int, list[str]] = {}
        for f, bad in checks:
            for pos, value in con.execute(f'SELECT __pos, "{f.name}" FROM t WHERE {bad}').fetchall():
                reasons.setdefault(int(pos), []).append(
                    f"bad_{f.name}: {f.name} is not a valid {f.type}: {value!r}")
        return Staged(table=typed, reasons=reasons)
    finally:
        con.close()
