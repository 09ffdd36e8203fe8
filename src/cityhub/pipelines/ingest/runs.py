"""Run records in the hub database: every connector run, its counts, drift and
error, for ``cityhub connectors status`` and the engineers' console."""
from __future__ import annotations

from sqlalchemy import insert, select, update

from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.lake.hubdb import connector_runs, engine


def start(cfg: Settings, connector: str) -> int:
    with engine(cfg.hub_db_uri).begin() as con:
        return con.execute(insert(connector_runs).values(
            connector=connector, started_at=now_cst(), status="running")).inserted_primary_key[0]


def finish(cfg: Settings, run_id: int, *, status: str, units: int, received: int, landed: int, quarantined: int,
           already_landed: int, snapshot_id: int | None, drift: dict | None, reasons: dict | None,
           error: str | None, corrected: int = 0) -> None:
    with engine(cfg.hub_db_uri).begin() as con:
        con.execute(update(connector_runs).where(connector_runs.c.id == run_id).values(
            finished_at=now_cst(), status=status, units=units, received=received, landed=landed,
            quarantined=quarantined, already_landed=already_landed, corrected=corrected,
            snapshot_id=str(snapshot_id) if snapshot_id else None, drift=drift, reasons=reasons or None,
            error=(error or "")[:2000] or None))


def recent(cfg: Settings, connector: str | None = None, limit: int = 100) -> list[dict]:
    q = select(connector_runs).order_by(connector_runs.c.id.desc()).limit(limit)
    if connector:
        q = q.where(connector_runs.c.connector == connector)
    with engine(cfg.hub_db_uri).connect() as con:
        return [dict(r._mapping) for r in con.execute(q)]
