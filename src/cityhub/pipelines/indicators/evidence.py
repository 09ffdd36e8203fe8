"""The rows behind a stored indicator value: the very definition it was computed with
(by its hash, not today's declaration) re-run over the very snapshots it recorded, in
the scope it was counted over, a page at a time.

The rows number the stored figure: one per counted row for ``count(*)``, one per
counted value for ``count(DISTINCT x)``, rows whose ``x`` add up to it for ``sum(x)``.
"""
from __future__ import annotations

import json

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
    if side not in ("numerator", "denominator"):
        raise InvalidRequest("side must be numerator or denominator")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be 1 to {MAX_PAGE}")
    stored = latest(lake, code=code, region=region, period_label=period_label)
    if not stored:
        raise NotFound(f"no stored value of indicator {code} for {region} over {period_label}")
    value = stored[0]
    d = _definition(lake, value)
    part, whole = part_of(d, component)
    offset = _offset(cursor, value)
    snapshots = json.loads(value["inputs"])
    p = Period(value["period"], value["period_start"], value["period_end"])
    c = lake.decl.city_of(region)
    if c is None:
        raise InvalidRequest(f"region {region!r} is not a declared city or county")
    city_level = d.indicator.scope == "city"
    run = Run(lake, d.indicator.inputs, c, snapshots)
    con = run.con
    try:
        run.prepare(d, p)
        sql = bind(part.numerator if side == "numerator" else part.denominator, p)
        columns = [r[0] for r in con.execute(f"DESCRIBE {sql}").fetchall()]
        if whole or city_level or (region == c.code and not c.main_urban):  # the whole area was counted
            regions, township = ([c.code, *c.counties] if region == c.code else [region]), "true"
        else:
            regions, township = scope.regions_of(c, region), scope.in_scope(scope.TOWNSHIP in columns)
        counted = (f"SELECT * FROM ({sql}) WHERE region IN ({', '.join('?' for _ in regions)}) AND {township}")
        rows_sql = _one_per_counted(counted, part.measure, columns)
        total = con.execute(f"SELECT {part.measure} FROM ({counted})", regions).fetchall()[0][0] or 0
        n_rows = con.execute(f"SELECT count(*) FROM ({rows_sql})", regions).fetchall()[0][0]
        page = con.sql(f"SELECT * FROM ({rows_sql}) ORDER BY ALL LIMIT {int(limit)} OFFSET {offset}",
                       params=regions).to_arrow_table()
    finally:
        con.close()
    personal = {f for name in d.indicator.inputs for f in lake.decl.contract(name).personal_fields}
    page = page.drop_columns([n for n in page.column_names if n in personal])  # evidence never carries them
    more = offset + page.num_rows < n_rows
    return {"code": code, "component": f"{part.code}.whole" if whole else part.code, "region": region,
            "period": p.label, "side": side, "measure": part.measure, "measured": total,
            "stored": _stored(value, part, side, whole),
            "scope": scope.WHOLE_AREA if whole else value.get("scope"), "rows_total": n_rows,
            "snapshot_ids": snapshots, "definition_version": value["definition_version"],
            "definition_hash": value.get("definition_hash"), "rows": page.to_pylist(),
            "next_cursor": b64({"o": offset + page.num_rows, "v": _value_id(value)}) if more else None,
            "truncated": more}


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
