"""The audit log's group commit: under many concurrent writers every entry is
written once and every caller returns."""
from __future__ import annotations

import threading

from sqlalchemy import select

from cityhub.access import audit
from cityhub.lake.hubdb import audit_log, engine


def test_concurrent_entries_are_each_committed_once(cfg, hub_home):
    hub_home.mkdir(parents=True, exist_ok=True)
    threads, per = 24, 40
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(per):
                audit.record(cfg, None, "stress", filters={"i": i, "j": j})
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    ts = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not any(t.is_alive() for t in ts), "a caller is still waiting for its entry"
    assert not errors, errors
    with engine(cfg.hub_db_uri).connect() as con:
        rows = con.execute(select(audit_log.c.filters).where(audit_log.c.action == "stress")).scalars().all()
    assert len(rows) == threads * per
    assert {(r["i"], r["j"]) for r in rows} == {(i, j) for i in range(threads) for j in range(per)}


def _hold_the_write_turn(uri: str, held, release) -> None:
    from cityhub.lake.hubdb import serialised_writes
    with serialised_writes(uri):
        held.set()
        release.wait(30)


def _write_entries(uri: str, n: int, tag: str) -> None:
    from cityhub.access import audit
    from cityhub.core.settings import Settings
    cfg = Settings(hub_db_uri=uri)
    for j in range(n):
        audit.record(cfg, None, "stress", filters={"p": tag, "j": j})


def test_api_workers_take_turns_on_the_sqlite_write_lock_and_lose_no_entry(cfg, hub_home):
    """Two worker processes writing at once: a writer waits for the other's turn (woken as
    it ends, not by SQLite's sleeping busy wait) and every entry of both lands once."""
    import multiprocessing as mp
    import os
    import stat
    import time

    hub_home.mkdir(parents=True, exist_ok=True)
    engine(cfg.hub_db_uri)  # the tables, before the workers race to create them
    ctx = mp.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_the_write_turn, args=(cfg.hub_db_uri, held, release))
    holder.start()
    assert held.wait(30)
    writer = ctx.Process(target=_write_entries, args=(cfg.hub_db_uri, 1, "blocked"))
    writer.start()
    time.sleep(1.0)
    assert writer.is_alive() and writer.exitcode is None  # waiting for the other's turn
    release.set()
    writer.join(30)
    holder.join(30)
    assert writer.exitcode == 0
    lock = hub_home / "hub.db.write-lock"
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600  # beside a database of personal data's accesses

    workers = [ctx.Process(target=_write_entries, args=(cfg.hub_db_uri, 150, f"w{i}")) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    with engine(cfg.hub_db_uri).connect() as con:
        rows = con.execute(select(audit_log.c.filters).where(audit_log.c.action == "stress")).scalars().all()
    assert sorted((r["p"], r["j"]) for r in rows) == sorted(
        [("blocked", 0)] + [(f"w{i}", j) for i in range(2) for j in range(150)])
