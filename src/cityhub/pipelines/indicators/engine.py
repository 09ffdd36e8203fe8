"""The indicator engine: evaluates declared indicators per region and period.

For each indicator the inputs are pinned to their current snapshots (recorded as
evidence), the declared views and queries run in an in-memory DuckDB over those
snapshots' files, and the counted rows are tallied per county and for the city (from
the city's rows, never an average of counties), in the standard's scope
(``scope.py``: the main urban area, no towns or townships) with the whole area
beside it. A zero denominator gives no value and a reason. Every value names the
definition it was computed with (its hash); re-running that definition at the same
snapshot ids gives the same numbers.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa

from cityhub.core.time import now_cst
from cityhub.declarations.indicators import Definition, Ratio, definition
from cityhub.declarations.regions import City
from cityhub.declarations.sql import substitute
from cityhub.lake import Lake
from cityhub.pipelines import sharing
from cityhub.pipelines.indicators import definitions, scope
from cityhub.pipelines.indicators.periods import PERIOD_KINDS, Period, period


def bind(sql: str, p: Period) -> str:
    """A declared query for period ``p``."""
    return substitute(sql, p.label, p.start, p.end)

@dataclass(frozen=True)
class Tally:
    """A measure over one region's counted rows."""
    standard: float
    """In the standard's scope (main urban area or county, no towns or townships)."""
    whole: float
    """Over the whole administrative area."""
    no_code: int | None
    """Rows counted in the standard's scope that carry no township code (None: not asked)."""


NONE = Tally(0, 0, None)
"""A region without any counted row."""


def _tallies(con, sql: str, c: City, measure: str, city_level: bool) -> dict[str, Tally]:
    """``measure`` over the counted rows per county and for the city (from the city's own
    rows, never an average of counties), in the standard's scope and over the whole area,
    in one pass: GROUPING SETS over the county, the main urban area and the city."""
    has_township = scope.TOWNSHIP in {row[0] for row in con.execute(f"DESCRIBE {sql}").fetchall()}
    rows = con.execute(
        f"SELECT region, urban, grouping(region) AS g_region, grouping(urban) AS g_urban, {measure} AS whole, "
        f"{measure} FILTER (WHERE in_scope) AS standard, count(*) FILTER (WHERE in_scope AND NOT has_code) AS no_code, "
        "count(*) FILTER (WHERE NOT has_code) AS no_code_whole "
        f"FROM (SELECT *, region IN (SELECT region FROM main_urban) AS urban, {scope.in_scope(has_township)} AS in_scope, "
        f"{scope.has_code(has_township)} AS has_code FROM ({sql}) WHERE region IN (SELECT region FROM city_regions)) "
        "GROUP BY GROUPING SETS ((region), (urban), ())").fetchall()
    out: dict[str, Tally] = {}
    urban, city = None, NONE
    for region, is_urban, g_region, g_urban, whole, standard, no_code, no_code_whole in rows:
        if not g_region and region in c.counties:
            out[region] = Tally(standard or 0, whole or 0, no_code if has_township else None)
        elif g_region and not g_urban and is_urban:
            urban = Tally(standard or 0, whole or 0, no_code if has_township else None)
        elif g_region and g_urban:  # the whole city: its value when no main urban area is declared
            city = Tally(whole or 0, whole or 0, no_code_whole if has_township and not city_level else None)
    if c.main_urban and not city_level:
        city = Tally(urban.standard if urban else 0, city.whole, urban.no_code if urban else None)
    out[c.code] = city
    return out


class Run:
    """One DuckDB connection over every input at one set of snapshots, for a whole
    computation: all its values are pinned to the same data. A declared view is
    materialised once per distinct bound SQL (the periods of a run mostly end on the
    same day, so the costly "last status per camera" is computed once), and a
    tally whose bound SQL repeats is reused."""

    def __init__(self, lake: Lake, names, c: City, snapshots: dict[str, int | None] | None = None):
        self.con, self.used = lake.connect(sorted(set(names)), snapshots)
        self.c = c
        self.con.register("city_counties", pa.table({"region": pa.array(list(c.counties), pa.string())}))
        self.con.register("city_regions", pa.table({"region": pa.array([c.code, *c.counties], pa.string())}))
        self.con.register("main_urban", pa.table({"region": pa.array(list(c.main_urban), pa.string())}))
        self.tables: dict[tuple, str] = {}
        self.tallies: dict[tuple, dict] = {}

    def prepare(self, d: Definition, p: Period) -> tuple:
        """Point the definition's views at their materialised rows for ``p``; returns
        the bound views (the key under which tallies over them are reused)."""
        bound: tuple = ()
        for name in d.indicator.views:
            bound += ((name, bind(d.views[name], p)),)
            table = self.tables.get(bound)
            if table is None:
                table = f"__m{len(self.tables)}"
                self.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {bound[-1][1]}')
                self.con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT * FROM "{name}"')
                self.tables[bound] = table
            self.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM "{table}"')
        return bound

    def counts(self, bound: tuple, sql: str, measure: str, city_level: bool) -> dict[str, Tally]:
        key = (bound, sql, measure, city_level)
        if key not in self.tallies:
            self.tallies[key] = _tallies(self.con, sql, self.c, measure, city_level)
        return self.tallies[key]

    def close(self) -> None:
        self.con.close()


def evaluate(lake: Lake, d: Definition, c: City, p: Period,
             snapshots: dict[str, int | None] | None = None, run: Run | None = None) -> list[dict]:
    """Values of the definition's indicator for the city and each county over ``p``
    (within ``run``, or on a connection of its own at ``snapshots``): the standard's
    scope, with the whole administrative area beside it."""
    ind = d.indicator
    city_level = ind.scope == "city"
    own = run is None
    run = run or Run(lake, ind.inputs, c, snapshots)
    try:
        bound = run.prepare(d, p)
        tallies = {part.code: (run.counts(bound, bind(part.numerator, p), part.measure, city_level),
                               run.counts(bound, bind(part.denominator, p), part.measure, city_level))
                   for part in ind.parts + ind.alternates}
    finally:
        if own:
            run.close()
    used = {n: run.used[n] for n in ind.inputs}
    missing = [n for n, sid in used.items() if sid is None]
    rows = []
    for region in ([c.code] if city_level else c.regions):
        def ratio(part: Ratio, kind: str, whole: bool = False) -> dict:
            num, den = (t.get(region, NONE) for t in tallies[part.code])
            n, m = (num.whole, den.whole) if whole else (num.standard, den.standard)
            out = {**_ratio(part, n, m, region, p, missing), "kind": kind}
            if whole:
                out.update(code=f"{part.code}.whole", name=f"{part.name_en or ind.name_en} (whole area)",
                           name_zh=f"{part.name_zh or ind.name_zh}（全域）", scope=scope.WHOLE_AREA)
            return out
        parts = [ratio(part, "component") for part in ind.parts]
        alternates = [ratio(a, "alternate") for a in ind.alternates]
        whole = [] if city_level else [ratio(part, "alternate", whole=True) for part in ind.parts]
        no_code = [tallies[part.code][1].get(region, NONE).no_code for part in ind.parts]
        if ind.composite:
            value, reason = _weighted(parts)
            if whole:
                w_value, w_reason = _weighted(whole)
                whole.insert(0, {"code": f"{ind.code}.whole", "name": f"{ind.name_en} (whole area)",
                                 "name_zh": f"{ind.name_zh}（全域）", "weight": 1.0, "numerator": None,
                                 "denominator": None, "value": w_value, "reason": w_reason, "kind": "alternate",
                                 "scope": scope.WHOLE_AREA})
            num = den = None
        else:
            value, reason, num, den = parts[0]["value"], parts[0]["reason"], parts[0]["numerator"], parts[0]["denominator"]
        if region == c.code and not c.main_urban and not city_level:
            reason = "; ".join(x for x in (reason, scope.undeclared(c)) if x)
        rows.append({
            "code": ind.code, "name": ind.name_en, "name_zh": ind.name_zh, "region": region, "period": p.label,
            "period_start": p.start, "period_end": p.end, "value": value,
            "numerator": None if num is None else float(num), "denominator": None if den is None else float(den),
            "unit": ind.unit, "reason": reason, "scope": scope.describe(c, region, city_level),
            "rows_without_township": None if all(x is None for x in no_code) else sum(x or 0 for x in no_code),
            "components": (json.dumps((parts if ind.composite else []) + alternates + whole, ensure_ascii=False)
                           if ind.composite or alternates or whole else None),
            "inputs": json.dumps({k: v for k, v in sorted(used.items())}),
            "definition_version": ind.version, "definition_hash": d.hash,
        })
    return rows


def _weighted(parts: list[dict]) -> tuple[float | None, str | None]:
    """A composite's value: the weighted components, or none with their reasons."""
    if any(x["value"] is None for x in parts):
        return None, "; ".join(x["reason"] for x in parts if x["reason"])
    return round(sum(x["value"] * x["weight"] for x in parts), 12), None


def _ratio(part: Ratio, num: int, den: int, region: str, p: Period, missing: list[str]) -> dict:
    if den == 0:
        why = f"denominator is 0: nothing to count for {part.code} in {region} over {p.label}"
        if missing:
            why += f" (no data landed yet in {', '.join(missing)})"
        value = None
    else:
        why, value = None, num / den
    num, den = (int(x) if float(x).is_integer() else float(x) for x in (num, den))
    return {"code": part.code, "name": part.name_en, "weight": part.weight,
            "numerator": num, "denominator": den, "value": value, "reason": why}


def compute(lake: Lake, day: date, codes: list[str] | None = None,
            kinds: tuple[str, ...] = PERIOD_KINDS, now: datetime | None = None) -> list[dict]:
    """Evaluate ``codes`` (default: all declared) for the configured city and each of
    its counties, and each period kind ending on ``day``; store them with their
    evidence. ``now`` is the computation's reference time (default: the clock)."""
    c = lake.decl.city(lake.cfg.city)
    run_at = now or now_cst()
    out: list[dict] = []
    today = run_at.date()
    chosen = [definition(lake.decl.indicator(code), lake.decl.views) for code in codes or list(lake.decl.indicators)]
    periods = [period(kind, day) for kind in kinds if kind != "now" or day == today]  # "now" is today's only
    if any("category_facts" in d.indicator.inputs for d in chosen):
        for p in periods:
            sharing.record(lake, c.code, p.label, p.start, p.end, now=run_at)
    definitions.keep(lake, chosen, run_at)
    run = Run(lake, [i for d in chosen for i in d.indicator.inputs], c)
    try:
        for p in periods:
            for d in chosen:
                out.extend(evaluate(lake, d, c, p, run=run))
    finally:
        run.close()
    for r in out:
        r["computed_at"] = run_at
    if out:
        table = pa.Table.from_pylist(out, schema=lake.decl.contract("indicator_values").arrow_schema())
        lake.commit("indicator_values", table, connector="indicators", batch_id=f"run:{uuid.uuid4().hex[:12]}")
    for name in ("indicator_values", "category_facts"):  # one small commit per run: keep the file count bounded
        lake.compact(name)
    return out


def fed_inputs(lake: Lake) -> list[str]:
    """The lake datasets the declared indicators read that feeds land into (every
    catalogued dataset when an indicator counts from the sharing facts)."""
    names = {i for ind in lake.decl.indicators.values() for i in ind.inputs}
    if "category_facts" in names:
        names |= {d for c in sharing.catalogue_now(lake).categories.values() for d in c.datasets}
    return sorted(names - {"category_facts", "indicator_values"})


def refresh_now(lake: Lake, seen: dict | None = None) -> tuple[bool, dict]:
    """Recompute today's ``now`` values when any input has a new snapshot since
    ``seen``; returns whether it did and the snapshot ids it saw. Cheap when
    nothing landed (one metadata read per input), so it can poll every few seconds."""
    current = lake.snapshot_ids(fed_inputs(lake))
    if seen is not None and current == seen:
        return False, current
    compute(lake, now_cst().date(), kinds=("now",))
    return True, current


def watch(lake: Lake, interval_s: float = 10.0, stop: threading.Event | None = None, on_refresh=None,
          full_every_s: float = 3600.0) -> None:
    """Keep ``now`` within ``interval_s`` (plus the compute time) of new data landing,
    and recompute it at least every ``full_every_s`` (effective sharing moves with
    the audit log, not with the lake)."""
    stop = stop or threading.Event()
    seen, last_full = None, time.monotonic()
    while not stop.is_set():
        if time.monotonic() - last_full > full_every_s:
            seen, last_full = None, time.monotonic()
        did, seen = refresh_now(lake, seen)
        if did and on_refresh:
            on_refresh(seen)
        stop.wait(interval_s)


def latest(lake: Lake, code: str | None = None, region: str | None = None,
           period_label: str | None = None) -> list[dict]:
    """The most recently computed value per (code, region, period)."""
    where, params = [], []
    for col, val in (("code", code), ("region", region), ("period", period_label)):
        if val:
            where.append(f"{col} = ?")
            params.append(val)
    sql = ("SELECT * FROM indicator_values " + (f"WHERE {' AND '.join(where)} " if where else "")
           + "QUALIFY row_number() OVER (PARTITION BY code, region, period ORDER BY computed_at DESC) = 1 "
           "ORDER BY TRY_CAST(code AS INTEGER), code, region, period")
    return lake.query(sql, ["indicator_values"], params).to_pylist()
