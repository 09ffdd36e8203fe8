"""The indicator engine: evaluates declared indicators per region and period.

For each indicator the inputs are pinned to their current snapshots (recorded as
evidence), the declared views and queries run in an in-memory DuckDB over those
snapshots' files, and the counted rows are tallied per county and for the city
as a whole (from the city's rows, never an average of counties). A zero
denominator gives no value and a reason. Re-running with the same snapshot ids
gives the same numbers.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import date, datetime

import pyarrow as pa

from cityhub.core.time import now_cst
from cityhub.declarations.indicators import Indicator, Ratio
from cityhub.declarations.regions import City
from cityhub.declarations.sql import substitute
from cityhub.lake import Lake
from cityhub.pipelines import sharing
from cityhub.pipelines.indicators.periods import PERIOD_KINDS, Period, period


def bind(sql: str, p: Period) -> str:
    """A declared query for period ``p``."""
    return substitute(sql, p.label, p.start, p.end)

def _counts(con, sql: str, c: City, measure: str) -> dict[str, float]:
    """``measure`` (default ``count(*)``) over the counted rows, per county, and for
    the city over all of the city's rows (a distinct count is not a sum of counties;
    rows of a city-level indicator carry the city's own code), in one pass."""
    rows = con.execute(f"SELECT region, grouping(region) AS whole, {measure} FROM ({sql}) "
                       "WHERE region IN (SELECT region FROM city_regions) GROUP BY GROUPING SETS ((region), ())"
                       ).fetchall()
    per = {r: (n or 0) for r, whole, n in rows if not whole and r in c.counties}
    per[c.code] = next((n for _, whole, n in rows if whole), 0) or 0
    return per


class Run:
    """One DuckDB connection over every input at one set of snapshots, for a whole
    computation: all its values are pinned to the same data. A declared view is
    materialised once per distinct bound SQL (the periods of a run mostly end on the
    same day, so the costly "last status per camera" is computed once), and a
    tally whose bound SQL repeats is reused."""

    def __init__(self, lake: Lake, names, c: City, snapshots: dict[str, int | None] | None = None):
        self.con, self.used = lake.connect(sorted(set(names)), snapshots)
        self.c = c
        self.views = lake.decl.views
        self.con.register("city_counties", pa.table({"region": pa.array(list(c.counties), pa.string())}))
        self.con.register("city_regions", pa.table({"region": pa.array([c.code, *c.counties], pa.string())}))
        self.tables: dict[tuple, str] = {}
        self.tallies: dict[tuple, dict] = {}

    def prepare(self, ind: Indicator, p: Period) -> tuple:
        """Point the indicator's views at their materialised rows for ``p``; returns
        the bound views (the key under which tallies over them are reused)."""
        bound: tuple = ()
        for name in ind.views:
            bound += ((name, bind(self.views[name], p)),)
            table = self.tables.get(bound)
            if table is None:
                table = f"__m{len(self.tables)}"
                self.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {bound[-1][1]}')
                self.con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT * FROM "{name}"')
                self.tables[bound] = table
            self.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM "{table}"')
        return bound

    def counts(self, bound: tuple, sql: str, measure: str) -> dict[str, float]:
        key = (bound, sql, measure)
        if key not in self.tallies:
            self.tallies[key] = _counts(self.con, sql, self.c, measure)
        return self.tallies[key]

    def close(self) -> None:
        self.con.close()


def evaluate(lake: Lake, ind: Indicator, c: City, p: Period,
             snapshots: dict[str, int | None] | None = None, run: Run | None = None) -> list[dict]:
    """Values of ``ind`` for the city and each county over ``p`` (within ``run``, or
    on a connection of its own at ``snapshots``)."""
    own = run is None
    run = run or Run(lake, ind.inputs, c, snapshots)
    try:
        bound = run.prepare(ind, p)
        tallies = {part.code: (run.counts(bound, bind(part.numerator, p), part.measure),
                               run.counts(bound, bind(part.denominator, p), part.measure))
                   for part in ind.parts + ind.alternates}
    finally:
        if own:
            run.close()
    used = {n: run.used[n] for n in ind.inputs}
    missing = [n for n, sid in used.items() if sid is None]
    rows = []
    for region in (c.regions if ind.scope == "all" else [c.code]):
        def ratio(part: Ratio, kind: str) -> dict:
            num, den = tallies[part.code][0].get(region, 0), tallies[part.code][1].get(region, 0)
            return {**_ratio(part, num, den, region, p, missing), "kind": kind}
        parts = [ratio(part, "component") for part in ind.parts]
        alternates = [ratio(a, "alternate") for a in ind.alternates]
        if ind.composite:
            value = (None if any(x["value"] is None for x in parts)
                     else round(sum(x["value"] * x["weight"] for x in parts), 12))
            reason = None if value is not None else "; ".join(x["reason"] for x in parts if x["reason"])
            num = den = None
        else:
            value, reason, num, den = parts[0]["value"], parts[0]["reason"], parts[0]["numerator"], parts[0]["denominator"]
        rows.append({
            "code": ind.code, "name": ind.name_en, "region": region, "period": p.label,
            "period_start": p.start, "period_end": p.end, "value": value,
            "numerator": None if num is None else float(num), "denominator": None if den is None else float(den),
            "unit": ind.unit, "reason": reason,
            "components": (json.dumps((parts if ind.composite else []) + alternates, ensure_ascii=False)
                           if ind.composite or alternates else None),
            "inputs": json.dumps({k: v for k, v in sorted(used.items())}),
            "definition_version": ind.version,
        })
    return rows


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
    chosen = [lake.decl.indicator(code) for code in codes or list(lake.decl.indicators)]
    periods = [period(kind, day) for kind in kinds if kind != "now" or day == today]  # "now" is today's only
    if any("category_facts" in ind.inputs for ind in chosen):
        for p in periods:
            sharing.record(lake, c.code, p.label, p.start, p.end, now=run_at)
    run = Run(lake, [i for ind in chosen for i in ind.inputs], c)
    try:
        for p in periods:
            for ind in chosen:
                out.extend(evaluate(lake, ind, c, p, run=run))
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
           "ORDER BY code, region, period")
    return lake.query(sql, ["indicator_values"], params).to_pylist()
