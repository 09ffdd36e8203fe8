"""The audit log: every data access, who, what, which filter, how many rows."""
from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import insert, or_, select

from cityhub.access.clients import Principal
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst, to_cst
from cityhub.lake.hubdb import audit_log, clients, engine, serialised_writes


OPEN_RECORDS = "open.records"
"""Audit action of open data's record pages (no token needed)."""
OPEN_EXPORT = "open.export"
"""Audit action of open data's bulk export (``open.export.start`` as a download starts)."""
OPEN_ACTIONS = (OPEN_RECORDS, OPEN_EXPORT)
"""Audit actions that serve open data's rows (counted as open pulls by the sharing rates)."""
SERVED_ACTIONS = ("records", "changes", "export")
"""Audit actions that serve a dataset's rows to a token holder."""


def record(cfg: Settings, p: Principal | None, action: str, *, dataset: str | None = None,
           category: str | None = None, filters: dict | None = None, rows: int = 0, status: int = 200) -> None:
    """Append one entry; returns once it is committed (an access is never served unrecorded)."""
    _writer(cfg.hub_db_uri).write(dict(
        at=now_cst(), client_id=p.client_id if p else None, role=p.role if p else None, action=action,
        dataset=dataset, category=category, filters=filters or {}, rows=rows, status=status))


class _Ticket:
    __slots__ = ("wake", "settled", "promoted", "error")

    def __init__(self):
        self.wake = threading.Event()
        self.settled = False
        """Its batch was committed (or failed: ``error``)."""
        self.promoted = False
        """Woken to lead the next batch."""
        self.error: BaseException | None = None


class _GroupCommit:
    """Group commit: a request thread that finds no commit under way leads: it
    inserts whatever has queued (its own entry and those of threads that arrived
    meanwhile) in one transaction, then hands the lead to the first entry queued
    since, if any; the others wait. Every caller returns only once its own entry is
    committed, each leads at most one batch (no caller waits on others' load), and
    there is one commit per batch and one writer per process: with a commit per
    request, API workers queued on the database's write lock and the slowest 1% of
    pages took ten times the rest; with a writer thread of its own, waking it cost
    a fifth of a worker's CPU."""

    def __init__(self, uri: str):
        self.uri = uri
        self.lock = threading.Lock()
        self.queue: list[tuple[dict, _Ticket]] = []
        self.leading = False

    def write(self, entry: dict) -> None:
        ticket = _Ticket()
        with self.lock:
            self.queue.append((entry, ticket))
            lead = not self.leading
            self.leading = True
        if not lead:
            ticket.wake.wait()
            lead = ticket.promoted and not ticket.settled
        if lead:
            self._lead()
        if ticket.error is not None:
            raise ticket.error

    def _lead(self) -> None:
        try:
            with self.lock:
                batch, self.queue = self.queue, []
            error = None
            try:
                with serialised_writes(self.uri), engine(self.uri).begin() as con:
                    con.execute(insert(audit_log), [entry for entry, _ in batch])
            except BaseException as e:  # noqa: BLE001 - handed to every caller of the batch
                error = e
            for _, t in batch:  # the leader's own entry is in it: it was queued before it led
                t.error, t.settled = error, True
                t.wake.set()
            if error is not None and not isinstance(error, Exception):
                raise error
        finally:
            with self.lock:
                if self.queue:  # hand over: the first entry queued since leads the next batch
                    nxt = self.queue[0][1]
                    nxt.promoted = True
                    nxt.wake.set()
                else:
                    self.leading = False  # under the lock: a newcomer now leads


_WRITERS: dict[str, _GroupCommit] = {}
_WRITERS_LOCK = threading.Lock()


def _writer(uri: str) -> _GroupCommit:
    with _WRITERS_LOCK:
        w = _WRITERS.get(uri)
        if w is None:
            w = _WRITERS[uri] = _GroupCommit(uri)
        return w


def entries(cfg: Settings, client_id: str | None = None, dataset: str | None = None,
            limit: int = 1000) -> list[dict]:
    return search(cfg, client=client_id, dataset=dataset, limit=limit)


def search(cfg: Settings, *, client: str | None = None, dataset: str | None = None, category: str | None = None,
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
        q = q.where(audit_log.c.at >= to_cst(since))
    if until:
        q = q.where(audit_log.c.at < to_cst(until))
    if before:
        q = q.where(audit_log.c.id < before)
    if categories is not None:
        q = q.where(audit_log.c.category.in_(categories))
    with engine(cfg.hub_db_uri).connect() as con:
        return [dict(r._mapping) for r in con.execute(q)]
