"""The hub's own metadata database: API clients, the audit log, the catalogue,
connector runs and who runs a connector now.

SQLite by default (``$CITYHUB_HOME/hub.db``), PostgreSQL in production
(``CITYHUB_DB_URI``); SQLAlchemy Core keeps the SQL portable. The audit table is
append-only: the code has no update or delete for it.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.schema import CreateColumn

metadata = MetaData()

clients = Table(
    "clients", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("region", String(6), nullable=True),
    Column("department", String(64), nullable=True),
    Column("secret_hash", String(200), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("client_id", String(32), nullable=True, index=True),
    Column("role", String(20), nullable=True),
    Column("action", String(40), nullable=False),
    Column("dataset", String(64), nullable=True, index=True),
    Column("category", String(64), nullable=True, index=True),
    Column("filters", JSON, nullable=True),
    Column("rows", Integer, nullable=False, default=0),
    Column("status", Integer, nullable=False),
)

catalog_departments = Table(
    "catalog_departments", metadata,
    Column("id", String(64), primary_key=True),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("credit_unit", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime, nullable=False),
)

catalog_categories = Table(
    "catalog_categories", metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("doc", JSON, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(200), nullable=False),
)

grants = Table(
    "grants", metadata,
    Column("id", String(32), primary_key=True),
    Column("client_id", String(32), nullable=False, index=True),
    Column("category_id", String(64), nullable=False, index=True),
    Column("purpose", String(2000), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("scope", String(8), nullable=False),
    Column("starts_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("status", String(12), nullable=False),
    Column("requested_at", DateTime, nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", DateTime, nullable=True),
    Column("decision_note", String(2000), nullable=True),
)

connector_runs = Table(
    "connector_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connector", String(64), nullable=False, index=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("status", String(16), nullable=False),
    Column("units", Integer, nullable=False, default=0),
    Column("received", Integer, nullable=False, default=0),
    Column("landed", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("already_landed", Integer, nullable=False, default=0),
    Column("corrected", Integer, nullable=False, default=0, server_default="0"),
    Column("snapshot_id", String(24), nullable=True),
    Column("drift", JSON, nullable=True),
    Column("reasons", JSON, nullable=True),
    Column("error", String(2000), nullable=True),
)

connector_leases = Table(
    "connector_leases", metadata,
    Column("connector", String(64), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)
"""Who runs a connector now, until when (renewed while it runs; a crashed run's lease
lapses): two ingests on one hub never run the same connector at once."""


@lru_cache(maxsize=8)
def engine(uri: str) -> Engine:
    """One engine per database URI, with the tables created on first use."""
    kw = {}
    if uri.startswith("sqlite"):
        kw["connect_args"] = {"timeout": 30, "check_same_thread": False}
    eng = create_engine(uri, **kw)
    if uri.startswith("sqlite"):
        @event.listens_for(eng, "connect")
        def _wal(conn, _):  # concurrent readers with one writer, across API workers
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            # WAL with synchronous=NORMAL survives a process crash; only a power cut can
            # lose the last commits (production runs PostgreSQL)
            conn.execute("PRAGMA synchronous=NORMAL")
    for attempt in range(5):
        try:
            metadata.create_all(eng)  # checkfirst, but two processes can race past the check
            _add_columns(eng)
            break
        except (OperationalError, IntegrityError, ProgrammingError):
            # the loser of that race: SQLite says "table exists" (OperationalError), PostgreSQL
            # a duplicate type or relation (IntegrityError / ProgrammingError); the next check sees it
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    return eng


def _add_columns(eng: Engine) -> None:
    """Columns declared since a hub DB was created (``create_all`` adds tables, not
    columns), added when they may be: nullable or with a server default, like
    ``connector_runs.corrected``. Another process adding one first is fine."""
    have = inspect(eng)
    for table in metadata.sorted_tables:
        if not have.has_table(table.name):
            continue
        present = {c["name"] for c in have.get_columns(table.name)}
        for col in table.columns:
            if col.name in present or not (col.nullable or col.server_default is not None):
                continue
            try:
                with eng.begin() as con:
                    con.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {CreateColumn(col).compile(eng)}"))
            except (OperationalError, ProgrammingError):
                if col.name not in {c["name"] for c in inspect(eng).get_columns(table.name)}:
                    raise


class _WriteLock:
    """An exclusive lock on ``<database>.write-lock`` beside a SQLite file, for threads of
    this process and other processes alike."""

    def __init__(self, path: str):
        self.threads = threading.Lock()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextmanager
    def held(self) -> Iterator[None]:
        with self.threads:
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # blocks without the GIL; woken as soon as it is free
            try:
                yield
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)


@lru_cache(maxsize=8)
def _write_lock(uri: str) -> _WriteLock | None:
    if not uri.startswith("sqlite"):
        return None
    database = make_url(uri).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return _WriteLock(f"{database}.write-lock")


@contextmanager
def serialised_writes(uri: str) -> Iterator[None]:
    """Hold the hub DB's write turn across processes while writing (SQLite; a no-op on
    PostgreSQL, which has row locks). SQLite makes a writer that finds the database locked
    poll, sleeping 1, 2, 5, 10 ... up to 100 ms between tries: under load the API workers'
    audit commits stalled ~20 ms at a time, and the requests queued behind them with them.
    Waiting here instead, a writer is woken the moment the other one commits."""
    lock = _write_lock(uri)
    if lock is None:
        yield
        return
    with lock.held():
        yield
