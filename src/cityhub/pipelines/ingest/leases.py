"""Who runs a connector now: a lease row in the hub database (owner, expiry), so two
ingests on one hub (cron and an operator, two Airflow runs) never run the same
connector at once. The holder renews it from a heartbeat thread while it runs; a
run that crashed stops renewing and its lease lapses after ``TTL`` (at once for a
process of this host that is gone: a restart after a kill need not wait).

A second ingest of a held connector skips it, saying who holds it, rather than
waiting: the holder re-lists its source after every unit, so it takes what arrives
meanwhile, and an ingest that waited would find nothing left while it held a worker
(an Airflow slot, a cron process) the whole time.

Portable SQL only (an UPDATE that takes a lapsed row, else an INSERT the primary
key lets one process win), so it works on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.lake.hubdb import connector_leases as leases, engine, serialised_writes

log = logging.getLogger(__name__)
TTL = timedelta(minutes=2)


def _take(uri: str, connector: str, owner: str, ttl: timedelta) -> dict | None:
    """Take or renew the lease; None when taken, else the holder's row."""
    now = now_cst()
    eng = engine(uri)
    with serialised_writes(uri):
        with eng.begin() as con:
            got = con.execute(update(leases).where(leases.c.connector == connector,
                                                   or_(leases.c.owner == owner, leases.c.expires_at < now))
                              .values(owner=owner, expires_at=now + ttl)).rowcount
        if not got:
            try:
                with eng.begin() as con:
                    con.execute(insert(leases).values(connector=connector, owner=owner, expires_at=now + ttl))
                got = 1
            except IntegrityError:
                pass  # another process inserted it first: it holds the lease
    if got:
        return None
    with eng.connect() as con:
        row = con.execute(select(leases).where(leases.c.connector == connector)).first()
    holder = dict(row._mapping) if row else {"owner": "?", "expires_at": now}
    if _dead(holder["owner"]):  # killed on this host: no need to wait for its lease to lapse
        with serialised_writes(uri), eng.begin() as con:
            got = con.execute(update(leases).where(leases.c.connector == connector,
                                                   leases.c.owner == holder["owner"])
                              .values(owner=owner, expires_at=now + ttl)).rowcount
        if got:
            return None
    return holder


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead(owner: str) -> bool:
    """Whether ``owner`` was a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _release(uri: str, connector: str, owner: str) -> None:
    with serialised_writes(uri), engine(uri).begin() as con:
        con.execute(delete(leases).where(leases.c.connector == connector, leases.c.owner == owner))


@contextmanager
def held(cfg: Settings, connector: str, ttl: timedelta = TTL) -> Iterator[str | None]:
    """Hold ``connector``'s lease for the block: yields None when held, else why not
    (the holder and its expiry), and then the block must not run the connector."""
    uri, owner = cfg.hub_db_uri, _owner()
    holder = _take(uri, connector, owner, ttl)
    if holder is not None:
        yield (f"already running elsewhere ({holder['owner']}, lease until "
               f"{holder['expires_at']:%Y-%m-%d %H:%M:%S}): skipped")
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ttl.total_seconds() / 3):
            if _take(uri, connector, owner, ttl) is not None:
                log.warning("%s: lease lost (this run was too slow to renew it); landing stays idempotent",
                            connector)

    heart = threading.Thread(target=beat, name=f"lease:{connector}", daemon=True)
    heart.start()
    try:
        yield None
    finally:
        stop.set()
        heart.join()
        _release(uri, connector, owner)
