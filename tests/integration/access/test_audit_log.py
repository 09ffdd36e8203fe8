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
