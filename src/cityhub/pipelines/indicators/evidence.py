"""The rows behind a stored indicator value: the very definition it was computed with
(by its hash, not today's declaration) re-run over the very snapshots it recorded, in
the scope it was counted over, a page at a time.

The rows number the stored figure: one per counted row for ``count(*)``, one per
counted value for ``count(DISTINCT x)``, rows whose ``x`` add up to it for ``sum(x)``.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa

from cityhub.core.errors import InvalidRequest, NotFound
from cityhub.declarations.indicators import Definition, Ratio
from cityhub.lake import Lake
from cityhub.pipelines.indicators import definitions, scope
from cityhub.pipelines.indicators.engine import Run, bind, latest
from cityhub.pipelines.indicators.periods import Period
from cityhub.read.cursors import b64, unb64

MAX_PAGE = 10_000
BAD_CURSOR = "cursor is not valid: pass back the next_cursor of the previous evidence page unchanged"


def part_of(d: Definition, component: str | None) -> tuple[Ratio, bool]:
    """The ratio ``component`` names (a component, an alternate, or ``<code>.whole`` for
    the whole area) and whether it is a whole-area figure."""
    ind = d.indicator
    whole = bool(component) and component.endswith(".whole")
    name = component[: -len(".whole")] if whole else component
    if whole and ind.scope == "city":
        raise InvalidRequest(f"indicator {ind.code} is counted for the whole city only: it has no {component}")
    if name is None or (name == ind.code and not ind.composite):
        if ind.composite:
            raise InvalidRequest(f"indicator {ind.code} is a weighted mix of "
                                 f"{', '.join(p.code for p in ind.parts)}: name one with component=")
        return ind.parts[0], whole
    if name == ind.code:
        raise InvalidRequest(f"{component} is a weighted mix: name one of its components "
                             f"({', '.join(p.code + ('.whole' if whole else '') for p in ind.parts)})")
    try:
        part = ind.part(name)
    except KeyError:
        known = [p.code for p in ind.parts + ind.alternates] + [f"{p.code}.whole" for p in ind.parts]
        raise InvalidRequest(f"indicator {ind.code} has no component {component!r}; it has {', '.join(known)}") from None
    if whole and part in ind.alternates:
        raise InvalidRequest(f"{name} is an alternate figure: it has no whole-area figure of its own")
    return part, whole


def evidence(lake: Lake, code: str, region: str, period_label: str, side: str,
             component: str | None = None, limit: int = 1000, cursor: str | None = None) -> dict:
    """A page of the rows behind the latest stored value's numerator or denominator."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be 1 to {MAX_PAGE}")
    value, d = _stored_value(lake, code, region, period_label)
    [(part, whole, side)] = _parts(d, [(component, side)])
    offset = _offset(cursor, value)
    with _run(lake, value, d, region) as run:
        q = _counted(run, value, d, part, whole, region, side, _personal(lake, d))
        n_rows = run.con.execute(f"SELECT count(*) FROM ({q.rows_sql})", q.regions).fetchall()[0][0]
        page = run.con.sql(f"SELECT * FROM ({q.rows_sql}) ORDER BY ALL LIMIT {int(limit)} OFFSET {offset}",
                           params=q.regions).to_arrow_table()
    page = _public(page, q.personal)
    more = offset + page.num_rows < n_rows
    return {**q.head(n_rows), "rows": page.to_pylist(),
            "next_cursor": b64({"o": offset + page.num_rows, "v": _value_id(value)}) if more else None,
            "truncated": more}


def every_row(lake: Lake, code: str, region: str, period_label: str, wanted: list[tuple[str | None, str]],
              batch_rows: int = MAX_PAGE) -> Iterator[tuple[dict, Iterator[list[dict]]]]:
    """All the evidence of a stored value's parts in one pass: for each ``(component,
    side)`` of ``wanted``, in order, ``evidence``'s fields without the page and every row
    ``evidence`` returns over all its pages, in the same order, a batch at a time (read
    each part's batches before asking for the next part). One connection and one
    query per part, not one per page; close the generator when stopping early."""
    value, d = _stored_value(lake, code, region, period_label)
    parts, personal = _parts(d, wanted), _personal(lake, d)
    with _run(lake, value, d, region) as run:
        for part, whole, side in parts:
            q = _counted(run, value, d, part, whole, region, side, personal)
            n_rows = run.con.execute(f"SELECT count(*) FROM ({q.rows_sql})", q.regions).fetchall()[0][0]
            reader = run.con.sql(f"SELECT * FROM ({q.rows_sql}) ORDER BY ALL",
                                 params=q.regions).to_arrow_reader(batch_rows)
            yield q.head(n_rows), (_public(pa.Table.from_batches([b]), q.personal).to_pylist() for b in reader)


def _stored_value(lake: Lake, code: str, region: str, period_label: str) -> tuple[dict, Definition]:
    stored = latest(lake, code=code, region=region, period_label=period_label)
    if not stored:
        raise NotFound(f"no stored value of indicator {code} for {region} over {period_label}")
    return stored[0], _definition(lake, stored[0])


def _parts(d: Definition, wanted: list[tuple[str | None, str]]) -> list[tuple[Ratio, bool, str]]:
    out = []
    for component, side in wanted:
        if side not in ("numerator", "denominator"):
            raise InvalidRequest("side must be numerator or denominator")
        out.append((*part_of(d, component), side))
    return out


@contextmanager
def _run(lake: Lake, value: dict, d: Definition, region: str) -> Iterator[Run]:
    """A connection with the definition ``value`` was computed with prepared at its snapshots."""
    c = lake.decl.city_of(region)
    if c is None:
        raise InvalidRequest(f"region {region!r} is not a declared city or county")
    run = Run(lake, d.indicator.inputs, c, json.loads(value["inputs"]))
    try:
        run.prepare(d, _period(value))
        yield run
    finally:
        run.close()


def _period(value: dict) -> Period:
    return Period(value["period"], value["period_start"], value["period_end"])


@dataclass
class _Counted:
    """The counted rows of one side of one part of a stored value."""
    rows_sql: str
    """One row per counted row (per distinct value for a distinct count), ``regions`` bound."""
    regions: list[str]
    personal: set[str]
    head: Callable[[int], dict]
    """``evidence``'s fields but the page, given the number of rows."""


def _counted(run: Run, value: dict, d: Definition, part: Ratio, whole: bool, region: str, side: str,
             personal: set[str]) -> _Counted:
    """One side of ``part`` of ``value``, in the scope it was counted over."""
    c, con, p = run.c, run.con, _period(value)
    city_level = d.indicator.scope == "city"
    sql = bind(part.numerator if side == "numerator" else part.denominator, p)
    columns = [r[0] for r in con.execute(f"DESCRIBE {sql}").fetchall()]
    if whole or city_level or (region == c.code and not c.main_urban):  # the whole area was counted
        regions, township = ([c.code, *c.counties] if region == c.code else [region]), "true"
    else:
        regions, township = scope.regions_of(c, region), scope.in_scope(scope.TOWNSHIP in columns)
    counted = (f"SELECT * FROM ({sql}) WHERE region IN ({', '.join('?' for _ in regions)}) AND {township}")
    total = con.execute(f"SELECT {part.measure} FROM ({counted})", regions).fetchall()[0][0] or 0

    def head(n_rows: int) -> dict:
        return {"code": value["code"], "component": f"{part.code}.whole" if whole else part.code,
                "region": region, "period": p.label, "side": side, "measure": part.measure, "measured": total,
                "stored": _stored(value, part, side, whole),
                "scope": scope.WHOLE_AREA if whole else value.get("scope"), "rows_total": n_rows,
                "snapshot_ids": json.loads(value["inputs"]), "definition_version": value["definition_version"],
                "definition_hash": value.get("definition_hash")}

    return _Counted(_one_per_counted(counted, part.measure, columns), regions, personal, head)


def _personal(lake: Lake, d: Definition) -> set[str]:
    return {f for name in d.indicator.inputs for f in lake.decl.contract(name).personal_fields}


def _public(rows: pa.Table, personal: set[str]) -> pa.Table:
    """Evidence never carries a personal field."""
    return rows.drop_columns([n for n in rows.column_names if n in personal])


def _definition(lake: Lake, value: dict) -> Definition:
    """The definition the value was computed with; for one stored before definitions were
    kept, today's declaration if it is still the same version."""
    if value.get("definition_hash"):
        return definitions.by_hash(lake, value["definition_hash"])
    ind = lake.decl.indicator(value["code"])
    if ind.version != value["definition_version"]:
        raise NotFound(f"indicator {value['code']} was computed with definition version "
                       f"{value['definition_version']}, which is no longer stored; recompute the period")
    return Definition(indicator=ind, views={n: lake.decl.views[n] for n in ind.views})


def _one_per_counted(counted: str, measure: str, columns: list[str]) -> str:
    """Rows that number what ``measure`` counts: for a distinct count, one row per
    distinct value (its first in the rows' order)."""
    if not measure.startswith("count(DISTINCT "):
        return counted
    key = measure[len("count(DISTINCT "):-1]
    order = ", ".join(f'"{c}"' for c in columns)
    return (f'SELECT * EXCLUDE (__n) FROM (SELECT *, row_number() OVER (PARTITION BY "{key}" ORDER BY {order}) '
            f'AS __n FROM ({counted}) WHERE "{key}" IS NOT NULL) WHERE __n = 1')


def _value_id(value: dict) -> str:
    return f"{value['code']}|{value['region']}|{value['period']}|{value['computed_at']}"


def _offset(cursor: str | None, value: dict) -> int:
    if not cursor:
        return 0
    try:
        obj = unb64(cursor)
        offset, made_for = int(obj["o"]), obj["v"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidRequest(BAD_CURSOR) from None
    if made_for != _value_id(value) or offset < 0:
        raise InvalidRequest("cursor was made for another value (or an older computation of it): "
                             "start again without cursor")
    return offset


def _stored(value: dict, part: Ratio, side: str, whole: bool):
    """The stored figure the rows must number: the value's own, or its component's."""
    code = f"{part.code}.whole" if whole else part.code
    if value["code"] == code:
        return value[side]
    for x in json.loads(value["components"] or "[]"):
        if x["code"] == code:
            return x[side]
    return None
