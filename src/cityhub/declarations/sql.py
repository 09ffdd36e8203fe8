"""The SQL of indicator declarations: its parameters, and a check that every query
binds against its inputs' contracts (columns exist, a ``region`` column comes out,
the measure can be taken) before anything is computed."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time

import duckdb

from cityhub.declarations.contracts import Contract
from cityhub.declarations.indicators import Indicator


def substitute(sql: str, label: str, start: date, end: date) -> str:
    """The query for one period: ``$period_label``, ``$period_start``/``$period_end``
    (DATE) and ``$period_start_ts``/``$period_end_ts`` (TIMESTAMP: the first day's start,
    the last day's end, CST). The values are dates the engine made, never client text."""
    end_ts = datetime.combine(end, time.max)
    start_ts = datetime.combine(start, time.min)
    return (sql.replace("$period_label", f"'{label}'")
               .replace("$period_end_ts", f"TIMESTAMP '{end_ts.isoformat(sep=' ')}'")
               .replace("$period_start_ts", f"TIMESTAMP '{start_ts.isoformat(sep=' ')}'")
               .replace("$period_start", f"DATE '{start.isoformat()}'")
               .replace("$period_end", f"DATE '{end.isoformat()}'"))


def empty_view(con: duckdb.DuckDBPyConnection, name: str, contract: Contract) -> None:
    """View ``name`` with ``contract``'s columns and no rows."""
    cols = ", ".join(f'CAST(NULL AS {f.sql_type}) AS "{f.name}"' for f in contract.fields)
    con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT {cols} WHERE false')


def bind_check(ind: Indicator, views: Mapping[str, str], contracts: Mapping[str, Contract]) -> list[tuple[str, str]]:
    """(where, what is wrong) for every query of ``ind`` that does not run over empty
    inputs: a misspelt column, a missing ``region``, a measure over a column it lacks."""
    con = duckdb.connect()
    out = []
    try:
        for name in ind.inputs:
            empty_view(con, name, contracts[name])
        for name in ("city_counties", "city_regions"):
            con.execute(f"CREATE VIEW {name} AS SELECT CAST(NULL AS VARCHAR) AS region WHERE false")
        day = date(2026, 1, 1)
        for name in ind.views:
            try:
                con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {substitute(views[name], "2026", day, day)}')
            except duckdb.Error as e:
                return [(f"view {name}", _short(e))]
        for where, sql in ind.queries():
            measure = ind.part(where.rsplit(".", 1)[0]).measure
            try:
                con.execute(f"SELECT region, {measure} FROM ({substitute(sql, '2026', day, day)}) GROUP BY region")
            except duckdb.Error as e:
                out.append((where, _short(e)))
    finally:
        con.close()
    return out


def _short(e: duckdb.Error) -> str:
    return " ".join(str(e).split())[:300]
