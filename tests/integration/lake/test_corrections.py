"""The lake beyond appends: a correction replaces the rows of its keys and a removal
deletes keys, each in one atomic commit with the connector's state; the replaced rows
stay readable at older snapshots; conflicts are seen, not silently re-applied."""
from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import In

from cityhub.core.errors import InvalidRequest
from cityhub.lake import Lake
from cityhub.lake.tables import key_filter

D1, D2 = date(2026, 11, 21), date(2026, 11, 22)
QIHE, DECHENG = "371425", "371402"


def camera(n: int, day: date, region: str = QIHE, name: str = "cam", **more) -> dict:
    return {"device_id": f"{region}00001310{n:06d}", "name": f"{name}{n}", "region": region, "hd": True,
            "as_of": day, **more}


def table(lake: Lake, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=lake.decl.contract("camera_registry").arrow_schema())


def current(lake: Lake, snapshot: int | None = None) -> dict[tuple, str]:
    con, _ = lake.connect(["camera_registry"], {"camera_registry": snapshot} if snapshot else None)
    try:
        rows = con.sql("SELECT device_id, as_of, name FROM camera_registry").fetchall()
    finally:
        con.close()
    out = {(d, a): n for d, a, n in rows}
    assert len(out) == len(rows), "a key is in the lake twice"
    return out


@pytest.fixture
def landed(lake):
    """Two days of 30 cameras in two counties, one commit per day."""
    for day in (D1, D2):
        lake.commit("camera_registry", table(lake, [camera(i, day, r) for r in (QIHE, DECHENG) for i in range(15)]),
                    connector="camera_registry", batch_id=f"b{day}")
    return lake


def test_a_correction_replaces_the_rows_of_its_keys_in_one_commit_with_the_state(landed):
    lake = landed
    before = lake.snapshot_id("camera_registry")
    old = current(lake)
    fixed = [camera(3, D2, name="fixed"), camera(4, D2, name="fixed"), camera(99, D2, name="new")]
    c = lake.replace("camera_registry", table(lake, fixed), connector="camera_registry", batch_id="fix",
                     state={"files": {"registry.csv": "h2"}})
    assert (c.rows, c.removed) == (3, 2)
    now = current(lake)
    assert len(now) == len(old) + 1
    assert {k: v for k, v in now.items() if v != old.get(k)} == {
        (f"{QIHE}00001310000003", D2): "fixed3", (f"{QIHE}00001310000004", D2): "fixed4",
        (f"{QIHE}00001310000099", D2): "new99"}
    # the same camera on the other day and the other county's cameras are untouched
    assert now[(f"{QIHE}00001310000003", D1)] == "cam3"
    # one commit: the state came with the rows, and the old values stay readable in history
    assert lake.state("camera_registry", "camera_registry") == {"files": {"registry.csv": "h2"}}
    assert lake.snapshot_id("camera_registry") == c.snapshot_id
    assert current(lake, before) == old
    summary = lake.table("camera_registry").current_snapshot().summary
    assert summary["cityhub.batch"] == "fix" and summary["cityhub.rows"] == "3"
    # copy-on-write: readers never need delete files
    assert all(not t.delete_files for t in lake.table("camera_registry").scan().plan_files())


def test_a_removal_deletes_keys_only_and_absent_keys_are_no_error(landed):
    lake = landed
    old = current(lake)
    gone = pa.Table.from_pylist([{"device_id": f"{DECHENG}00001310000001", "as_of": D1},
                                 {"device_id": f"{DECHENG}00001310000002", "as_of": D1},
                                 {"device_id": "not-a-camera", "as_of": D1}])
    c = lake.delete_keys("camera_registry", gone, connector="camera_registry", batch_id="del", state={"n": 1})
    assert (c.rows, c.removed) == (0, 2)
    now = current(lake)
    assert set(old) - set(now) == {(f"{DECHENG}00001310000001", D1), (f"{DECHENG}00001310000002", D1)}
    assert all(now[k] == old[k] for k in now)
    assert lake.state("camera_registry", "camera_registry") == {"n": 1}
    nothing = lake.delete_keys("camera_registry", gone, connector="camera_registry", batch_id="del2")
    assert nothing.removed == 0 and current(lake) == now
    with pytest.raises(InvalidRequest, match="as_of"):
        lake.delete_keys("camera_registry", gone.select(["device_id"]), connector="x", batch_id="y")
    twice = table(lake, [camera(1, D1, name="a"), camera(1, D1, name="b")])
    with pytest.raises(InvalidRequest, match="more than once"):
        lake.replace("camera_registry", twice, connector="camera_registry", batch_id="dup")
    assert current(lake) == now


def test_a_correction_on_an_empty_table_appends(lake):
    c = lake.replace("camera_registry", table(lake, [camera(1, D1)]), connector="camera_registry", batch_id="b")
    assert (c.rows, c.removed) == (1, 0) and len(current(lake)) == 1
    assert lake.delete_keys("camera_registry", table(lake, [camera(1, D1)]), connector="camera_registry",
                            batch_id="d").removed == 1
    assert current(lake) == {}


def test_conflicts_are_seen(landed):
    lake = landed
    sid = lake.snapshot_id("camera_registry")
    lake.commit("camera_registry", table(lake, [camera(50, D2)]), connector="other", batch_id="rival")
    with pytest.raises(CommitFailedException):
        lake.replace("camera_registry", table(lake, [camera(50, D2, name="fixed")]), connector="camera_registry",
                     batch_id="fix", retry_conflicts=False, expect_snapshot=sid)
    with pytest.raises(CommitFailedException):
        lake.delete_keys("camera_registry", table(lake, [camera(50, D2)]), connector="camera_registry",
                         batch_id="del", retry_conflicts=False, expect_snapshot=sid)
    # a table loaded before a rival commit cannot commit its delete on top of it
    stale = lake.table("camera_registry")
    lake.commit("camera_registry", table(lake, [camera(51, D2)]), connector="other", batch_id="rival2")
    with pytest.raises(CommitFailedException), stale.transaction() as tx:
        tx.delete(key_filter(lake.decl.contract("camera_registry"), table(lake, [camera(50, D2)])))
    # retried, a correction applies on top of what the rival landed
    assert lake.replace("camera_registry", table(lake, [camera(50, D2, name="fixed")]),
                        connector="camera_registry", batch_id="fix").removed == 1
    assert current(lake)[(f"{QIHE}00001310000050", D2)] == "fixed50"


def test_the_key_filter_is_exact_for_compound_keys_and_stays_small(lake):
    c = lake.decl.contract("medical_visits")
    rows = pa.Table.from_pylist([{"date": d, "uscc": f"U{i:05d}", "channel": ch, "region": QIHE, "visits": 1}
                                 for d in (D1, D2) for i in range(40) for ch in ("web", "phone")],
                                schema=c.arrow_schema())
    lake.commit("medical_visits", rows, connector="t", batch_id="1")
    target = rows.filter(pa.compute.and_(pa.compute.equal(rows["date"], D2), pa.compute.equal(rows["channel"], "web")))
    target = pa.concat_tables([target, rows.slice(0, 1)])  # (D1, U00000, web) too
    assert lake.delete_keys("medical_visits", target, connector="t", batch_id="2").removed == 41
    left = {tuple(r) for r in lake.query("SELECT date, uscc, channel FROM medical_visits", ["medical_visits"])
            .to_pandas().itertuples(index=False)}
    assert len(left) == 160 - 41 and (D2, "U00001", "phone") in left and (D1, "U00001", "web") in left
    assert (D1, "U00000", "web") not in left
    # 20,000 keys: one In per (date, channel), not 20,000 conjunctions
    many = pa.Table.from_pylist([{"date": D1, "uscc": f"X{i:06d}", "channel": "web"} for i in range(20_000)])
    nodes = list(_walk(key_filter(c, many)))
    assert len(nodes) == 5 and [len(n.literals) for n in nodes if isinstance(n, In)] == [20_000]


def _walk(e):
    yield e
    for child in (getattr(e, "left", None), getattr(e, "right", None)):
        if child is not None:
            yield from _walk(child)
