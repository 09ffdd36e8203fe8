"""Facts about each catalogue category in a period: the evidence #27 (sharing),
#28 (open data) and #30 (credit sharing) are counted from.

"Shared" is proven, not declared. A category that should be shared counts as
*available* when the hub itself can show that its data is in the lake, fresh
within its update cycle, and within the quality tolerance; it counts as
*effectively* shared when the audit log shows another department or a county was
served its rows in the period. The facts are written to the lake table
``category_facts`` so that an indicator value names the very facts it counted
(their snapshot id) and can be recomputed from them.

Freshness is judged around the period's end: a landing counts when it falls within
one update cycle before the end or, for a period already over, up to one cycle
after it (a department delivers a day's data the next morning). For a period that
includes today, the reference is now.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pyarrow as pa
from sqlalchemy import and_, func, select

from cityhub.access import catalogue
from cityhub.access.audit import OPEN_ACTIONS, SERVED_ACTIONS
from cityhub.core.settings import Settings
from cityhub.core.time import CST, now_cst
from cityhub.lake import Lake
from cityhub.lake.hubdb import audit_log, clients, engine



@dataclass(frozen=True)
class Landing:
    at: datetime
    rows: int
    total: int


def landings(lake: Lake, dataset: str) -> list[Landing]:
    """Data commits of a dataset (snapshots that added rows), oldest first, in CST."""
    if not lake.exists(dataset):
        return []
    out = []
    for s in lake.table(dataset).metadata.snapshots:
        rows = int(s.summary.get("cityhub.rows") or s.summary.get("added-records") or 0) if s.summary else 0
        total = int(s.summary.get("total-records") or 0) if s.summary else 0
        at = datetime.fromtimestamp(s.timestamp_ms / 1000, CST).replace(tzinfo=None)
        out.append(Landing(at, rows, total))
    return sorted(out, key=lambda x: x.at)


def _window(cycle: timedelta, start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    ref = min(now, end)
    return ref - cycle, min(now, ref + cycle)


def catalogue_now(lake: Lake) -> catalogue.Catalogue:
    """The catalogue as admins keep it in the hub database."""
    return catalogue.current(lake.cfg, lake.decl)


def facts(lake: Lake, city_code: str, label: str, start, end, now: datetime | None = None) -> pa.Table:
    """One row per catalogue category for the period ``label`` (``start``..``end``, dates)."""
    now = now or now_cst()
    start_ts, end_ts = datetime.combine(start, time.min), datetime.combine(end, time.max)
    cat = catalogue_now(lake)
    cycles, tolerance = lake.decl.catalogue.update_cycles, lake.decl.catalogue.quality_tolerance
    history = {d: landings(lake, d) for c in cat.categories.values() for d in c.datasets}
    pulls, open_pulls = _pulls(lake.cfg, start_ts, min(end_ts, now))
    qcon, _ = lake.connect(["quarantine"])
    try:
        rows = _rows(qcon, cat, cycles, tolerance, history, pulls, open_pulls, label, start, end, city_code,
                     start_ts, end_ts, now)
    finally:
        qcon.close()
    # a unit of the credit system with no credit category still counts among the units (#30)
    with_credit = {c.owner for c in cat.categories.values() if c.credit}
    for d in cat.departments.values():
        if d.credit_unit and d.id not in with_credit:
            rows.append({**_blank(label, start, end, city_code, now), "category_id": f"{d.id}:no-credit-category",
                         "name_zh": d.name_zh, "owner": d.id, "owner_credit_unit": True, "credit": True,
                         "reason": "a credit-system unit with no credit category in the catalogue"})
    return pa.Table.from_pylist(rows, schema=lake.decl.contract("category_facts").arrow_schema())


def _rows(qcon, cat, cycles, tolerance, history, pulls, open_pulls, label, start, end, city_code,
          start_ts, end_ts, now) -> list[dict]:
    rows = []
    for c in cat.categories.values():
        lo, hi = _window(cycles[c.update_cycle], start_ts, end_ts, now)
        data = [x for d in c.datasets for x in history[d] if x.rows > 0 and x.at <= hi]
        last = max((x.at for x in data), default=None)
        in_lake = sum(next((x.total for x in reversed(history[d]) if x.at <= hi), 0) for d in c.datasets)
        fresh = last is not None and last > lo
        q_lo = min(start_ts, lo)
        landed = sum(x.rows for x in data if x.at > q_lo)
        quarantined = _quarantined(qcon, c.datasets, q_lo, hi)
        delivered = landed + quarantined
        quality_ok = delivered > 0 and quarantined <= tolerance * delivered
        available = c.should_share and in_lake > 0 and fresh and quality_ok
        by = sorted(n for d in c.datasets for (cid, n, role, dept) in pulls.get(d, ())
                    if role == "county" or (role == "department" and dept != c.owner))
        by = sorted(set(by))
        rows.append({
            "period": label, "period_start": start, "period_end": end, "region": city_code,
            "category_id": c.id, "name_zh": c.name_zh, "owner": c.owner,
            "owner_credit_unit": bool(cat.departments.get(c.owner) and cat.departments[c.owner].credit_unit),
            "share_type": c.share_type, "open_type": c.open_type, "credit": c.credit, "update_cycle": c.update_cycle,
            "datasets": ",".join(c.datasets) or None, "should_share": c.should_share, "should_open": c.should_open,
            "rows_in_lake": in_lake, "last_landed_at": last, "fresh": fresh, "delivered": delivered,
            "quarantined": quarantined, "quality_ok": quality_ok, "available": available,
            "open_available": available and c.should_open,
            "pulled_by": len(by) if available else 0, "pulled_by_clients": ",".join(by) or None,
            "open_pulls": sum(open_pulls.get(d, 0) for d in c.datasets) if available and c.should_open else 0,
            "reason": _reason(c, in_lake, last, fresh, lo, hi, delivered, quarantined, quality_ok, tolerance),
            "computed_at": now,
        })
    return rows


def _blank(label, start, end, city_code, now) -> dict:
    return {"period": label, "period_start": start, "period_end": end, "region": city_code, "share_type": "none",
            "open_type": "none", "update_cycle": "none", "datasets": None, "should_share": False,
            "should_open": False, "rows_in_lake": 0, "last_landed_at": None, "fresh": False, "delivered": 0,
            "quarantined": 0, "quality_ok": False, "available": False, "open_available": False, "pulled_by": 0,
            "pulled_by_clients": None, "open_pulls": 0, "computed_at": now}


def _reason(c, in_lake, last, fresh, lo, hi, delivered, quarantined, quality_ok, tolerance) -> str | None:
    if not c.should_share:
        return f"not to be shared: {c.legal_basis}"
    if not c.datasets:
        return "no feed: the category has no dataset in the lake yet"
    if not in_lake:
        return f"no rows of {', '.join(c.datasets)} in the lake by {hi:%Y-%m-%d %H:%M}"
    if not fresh:
        return (f"stale: last landed {last:%Y-%m-%d %H:%M}, not within its {c.update_cycle} cycle "
                f"({lo:%Y-%m-%d %H:%M} .. {hi:%Y-%m-%d %H:%M})")
    if not quality_ok:
        share = quarantined / delivered if delivered else 1.0
        return (f"quality: {quarantined} of {delivered} delivered records quarantined ({share:.1%}; "
                f"tolerance {tolerance:.1%})")
    return None


def _quarantined(qcon, datasets, lo: datetime, hi: datetime) -> int:
    if not datasets:
        return 0
    marks = ", ".join("?" for _ in datasets)
    # a duplicate (a re-delivery, or a record sent twice) loses nothing and is not a quality fault
    n = qcon.execute(f"SELECT count(*) FROM quarantine WHERE dataset IN ({marks}) "
                     "AND quarantined_at > ? AND quarantined_at <= ? AND NOT starts_with(reason, 'duplicate_key')",
                     [*datasets, lo, hi]).fetchall()[0][0]
    return int(n or 0)


def _pulls(cfg: Settings, lo: datetime, hi: datetime) -> tuple[dict[str, list[tuple]], dict[str, int]]:
    """Who was served rows of which dataset between ``lo`` and ``hi`` (audit log):
    per dataset the (client id, name, role, department) of token holders, and the
    number of open-data responses."""
    q = (select(audit_log.c.dataset, audit_log.c.client_id, audit_log.c.action, func.count().label("n"))
         .where(and_(audit_log.c.at >= lo, audit_log.c.at <= hi, audit_log.c.status == 200, audit_log.c.rows > 0,
                     audit_log.c.dataset.is_not(None)))
         .group_by(audit_log.c.dataset, audit_log.c.client_id, audit_log.c.action))
    eng = engine(cfg.hub_db_uri)
    with eng.connect() as con:
        agg = con.execute(q).all()
        who = {r.id: r for r in con.execute(select(clients.c.id, clients.c.name, clients.c.role, clients.c.department))}
    pulls: dict[str, list[tuple]] = {}
    opened: dict[str, int] = {}
    for dataset, cid, action, n in agg:
        if action in OPEN_ACTIONS:
            opened[dataset] = opened.get(dataset, 0) + n
        elif cid in who and action in SERVED_ACTIONS:
            r = who[cid]
            pulls.setdefault(dataset, []).append((cid, r.name, r.role, r.department))
    return pulls, opened


def record(lake: Lake, city_code: str, label: str, start, end, now: datetime | None = None) -> pa.Table:
    """Compute the period's facts and commit them to the lake."""
    table = facts(lake, city_code, label, start, end, now)
    lake.commit("category_facts", table, connector="indicators", batch_id=f"facts:{label}:{table['computed_at'][0]}")
    return table
