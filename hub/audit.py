"""The audit log: every data access, who, what, which filter, how many rows."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, or_, select

from hub.clients import Principal
from hub.config import settings
from hub.lake import CST, now_cst
from hub.store import audit_log, clients, engine


def record(p: Principal | None, action: str, *, dataset: str | None = None, category: str | None = None,
           filters: dict | None = None, rows: int = 0, status: int = 200) -> None:
    with engine(settings().hub_db_uri).begin() as con:
        con.execute(insert(audit_log).values(
            at=now_cst(), client_id=p.client_id if p else None, role=p.role if p else None, action=action,
            dataset=dataset, category=category, filters=filters or {}, rows=rows, status=status))


def entries(client_id: str | None = None, dataset: str | None = None, limit: int = 1000) -> list[dict]:
    return search(client=client_id, dataset=dataset, limit=limit)


def _cst(t: datetime) -> datetime:
    return t.astimezone(CST).replace(tzinfo=None) if t.tzinfo else t


def search(*, client: str | None = None, dataset: str | None = None, category: str | None = None,
           action: str | None = None, since: datetime | None = None, until: datetime | None = None,
           limit: int = 1000, before: int | None = None, categories: list[str] | None = None) -> list[dict]:
    """Entries newest first, with the client's name; ``categories`` restricts to those
    (a department reading who accessed its data); ``before`` pages by entry id."""
    q = (select(audit_log, clients.c.name.label("client_name"))
         .select_from(audit_log.outerjoin(clients, clients.c.id == audit_log.c.client_id))
         .order_by(audit_log.c.id.desc()).limit(limit))
    if client:
        q = q.where(or_(audit_log.c.client_id == client, clients.c.name == client))
    for col, val in ((audit_log.c.dataset, dataset), (audit_log.c.category, category), (audit_log.c.action, action)):
        if val:
            q = q.where(col == val)
    if since:
        q = q.where(audit_log.c.at >= _cst(since))
    if until:
        q = q.where(audit_log.c.at < _cst(until))
    if before:
        q = q.where(audit_log.c.id < before)
    if categories is not None:
        q = q.where(audit_log.c.category.in_(categories))
    with engine(settings().hub_db_uri).connect() as con:
        return [dict(r._mapping) for r in con.execute(q)]
