"""What the engineers' console shows, computed once here for the API (``GET
/v1/connectors``, ``GET /v1/datasets``) as ``cityhub connectors status`` computes it:
every feed's last run, rows landed and quarantined, freshness against its declared
target, lag, drift and failures; every dataset with its rows and snapshots, in the
caller's scope."""
from __future__ import annotations

from datetime import UTC, datetime

from cityhub.access import grants
from cityhub.access.catalogue import Catalogue
from cityhub.access.clients import Principal
from cityhub.core.errors import Forbidden
from cityhub.core.time import now_cst, to_cst
from cityhub.lake import Lake
from cityhub.pipelines.ingest import runs
from cityhub.pipelines.ingest.status import status

RECENT_RUNS = 20
"""Runs per connector whose failures the console counts."""


def connectors(lake: Lake, datasets: list[str] | None) -> list[dict]:
    """``connectors status`` for the feeds of ``datasets`` (None: every one, broken
    declarations included), with the failures among each one's last ``RECENT_RUNS`` runs
    and the age of its newest data in hours."""
    history = runs.recent(lake.cfg, limit=5000)
    now = now_cst()
    out = []
    for r in status(lake):
        if datasets is not None and r["dataset"] not in datasets:
            continue
        mine = [h for h in history if h["connector"] == r["connector"]][:RECENT_RUNS]
        failed = [h for h in mine if h["status"] == "failed"]
        out.append({**r, "configured": str(r["configured"]), "failures": len(failed),
                    "last_failure": ({"at": failed[0]["finished_at"] or failed[0]["started_at"],
                                      "error": failed[0]["error"]} if failed else None),
                    "age_hours": (round((now - r["last_data"]).total_seconds() / 3600, 2)
                                  if r["last_data"] is not None else None)})
    return out


def operated(cat: Catalogue, p: Principal, dataset: str) -> bool:
    """Whether ``p`` operates the feed of ``dataset`` (admin, or its owning department):
    it then sees the whole table's figures."""
    c = cat.category_of(dataset)
    return p.role == "admin" or (p.role == "department" and c is not None and c.owner == p.department)


def dataset_overview(lake: Lake, cat: Catalogue, p: Principal) -> list[dict]:
    """Every dataset the catalogue serves that ``p`` may see, with its rows and snapshots:
    the whole table for those who operate its feed (admins, the owning department), else
    what the access decision of its records allows (a county: its county's rows; nothing
    for a category it may not read, which is left out)."""
    out = []
    for name in sorted(lake.decl.contracts):
        c = cat.category_of(name)
        if c is None or name == "quarantine":
            continue
        if operated(cat, p, name):
            regions = None
        else:
            try:
                regions = grants.access(lake.cfg, lake.decl, p, c, name).regions
            except Forbidden:
                continue
        contract = lake.decl.contract(name)
        table = lake.table(name)
        snaps = table.snapshots()
        current = table.current_snapshot()
        rows = _rows(lake, name, current, regions, contract.region_field)
        out.append({"dataset": name, "title": contract.title, "category": c.id, "category_name_zh": c.name_zh,
                    "owner": c.owner, "rows": rows, "scope": "all" if regions is None else ",".join(regions),
                    "snapshots": len(snaps), "snapshot_id": str(current.snapshot_id) if current else None,
                    "snapshot_at": _at(current.timestamp_ms) if current else None})
    return out


def _rows(lake: Lake, name: str, snap, regions: list[str] | None, region_field: str | None) -> int:
    if snap is None:
        return 0
    if regions is None or not region_field:
        return int((snap.summary or {}).get("total-records") or 0) if regions is None else 0
    placeholders = ", ".join("?" for _ in regions)
    return int(lake.query(f'SELECT count(*) FROM "{name}" WHERE "{region_field}" IN ({placeholders})',
                          [name], list(regions))[0][0].as_py())


def _at(ms: int) -> datetime:
    return to_cst(datetime.fromtimestamp(ms / 1000, tz=UTC))
