"""The audit log: every data access, who, what, which filter, how many rows."""
from __future__ import annotations

from sqlalchemy import insert, select

from hub.clients import Principal
from hub.config import settings
from hub.lake import now_cst
from hub.store import audit_log, engine


def record(p: Principal | None, action: str, *, dataset: str | None = None, category: str | None = None,
           filters: dict | None = None, rows: int = 0, status: int = 200) -> None:
    with engine(settings().hub_db_uri).begin() as con:
        con.execute(insert(audit_log).values(
            at=now_cst(), client_id=p.client_id if p else None, role=p.role if p else None, action=action,
            dataset=dataset, category=category, filters=filters or {}, rows=rows, status=status))


def entries(client_id: str | None = None, dataset: str | None = None, limit: int = 1000) -> list[dict]:
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if client_id:
        q = q.where(audit_log.c.client_id == client_id)
    if dataset:
        q = q.where(audit_log.c.dataset == dataset)
    with engine(settings().hub_db_uri).connect() as con:
        return [dict(r._mapping) for r in con.execute(q)]
