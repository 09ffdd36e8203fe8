"""The rows behind a stored indicator value: its declared query re-run over the
very snapshots the value recorded."""
from __future__ import annotations

import json

from cityhub.core.errors import InvalidRequest, NotFound
from cityhub.declarations.indicators import Ratio
from cityhub.lake import Lake
from cityhub.pipelines.indicators.engine import Run, bind, latest
from cityhub.pipelines.indicators.periods import Period


def evidence(lake: Lake, code: str, region: str, period_label: str, side: str,
             component: str | None = None, limit: int = 1000) -> dict:
    """The rows behind the latest stored value's numerator or denominator: the
    declared query re-run over the very snapshots the value recorded."""
    if side not in ("numerator", "denominator"):
        raise InvalidRequest("side must be numerator or denominator")
    ind = lake.decl.indicator(code)
    if component is not None and any(a.code == component for a in ind.alternates):
        part = ind.part(component)
    elif ind.composite:
        if component is None:
            raise InvalidRequest(f"indicator {code} is a weighted mix of "
                                f"{', '.join(p.code for p in ind.parts)}: name one with component=")
        try:
            part = ind.part(component)
        except KeyError:
            raise InvalidRequest(f"indicator {code} has no component {component!r}") from None
    else:
        part = ind.parts[0]
    stored = latest(lake, code=code, region=region, period_label=period_label)
    if not stored:
        raise NotFound(f"no stored value of indicator {code} for {region} over {period_label}")
    value = stored[0]
    snapshots = json.loads(value["inputs"])
    p = Period(value["period"], value["period_start"], value["period_end"])
    c = lake.decl.city_of(region)
    if c is None:
        raise InvalidRequest(f"region {region!r} is not a declared city or county")
    run = Run(lake, ind.inputs, c, snapshots)
    con = run.con
    try:
        run.prepare(ind, p)
        sql = bind(part.numerator if side == "numerator" else part.denominator, p)
        regions = [c.code, *c.counties] if region == c.code else [region]
        where = f"region IN ({', '.join('?' for _ in regions)})"
        total = con.sql(f"SELECT {part.measure} FROM ({sql}) WHERE {where}", params=regions).fetchall()[0][0] or 0
        rows = con.sql(f"SELECT * FROM ({sql}) WHERE {where} ORDER BY ALL LIMIT {int(limit)}",
                       params=regions).to_arrow_table()
    finally:
        con.close()
    personal = {f for d in ind.inputs for f in lake.decl.contract(d).personal_fields}
    rows = rows.drop_columns([n for n in rows.column_names if n in personal])  # evidence never carries them
    return {"code": code, "component": part.code, "region": region, "period": p.label, "side": side,
            "measure": part.measure, "measured": total, "stored": _stored(value, part, side),
            "snapshot_ids": snapshots, "definition_version": value["definition_version"],
            "rows": rows.to_pylist(), "truncated": rows.num_rows >= limit}


def _stored(value: dict, part: Ratio, side: str):
    """The stored count the re-run must match: the value's own, or its component's."""
    if value["code"] == part.code:
        return value[side]
    for x in json.loads(value["components"] or "[]"):
        if x["code"] == part.code:
            return x[side]
    return None
