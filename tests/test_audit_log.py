"""The audit log's group commit: under many concurrent writers every entry is
written once and every caller returns."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from hub import audit
from hub.config import settings
from hub.store import audit_log, engine


def test_concurrent_entries_are_each_committed_once(lake):  # the lake makes the hub home
    threads, per = 24, 40

    def write(i: int) -> None:
        for j in range(per):
            audit.record(None, "stress", filters={"i": i, "j": j})

    ts = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not any(t.is_alive() for t in ts), "a caller is still waiting for its entry"
    with engine(settings().hub_db_uri).connect() as con:
        rows = con.execute(select(audit_log.c.filters).where(audit_log.c.action == "stress")).scalars().all()
    assert len(rows) == threads * per
    assert {(r["i"], r["j"]) for r in rows} == {(i, j) for i in range(threads) for j in range(per)}
