"""Pages from sorted in-memory runs (``cityhub.read.sorted_runs``) are the pages DuckDB
gives: the same rows, in the same order, masked the same way, with the same cursors,
query by query, over a lake of several files with ties in the page order.

Whether runs serve pages is a setting (``page_cache_mb``; 0: DuckDB reads every
page), so the same lake is read through two settings: one with runs, one without."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from cityhub.lake import Lake
from cityhub.read import records, sorted_runs
from cityhub.read.cursors import decode_cursor
from cityhub.read.filters import Filter
from cityhub.read.snapshots import NotInMemory, SnapshotCache

DATASET = "social_security_records"
START = datetime(2026, 11, 1)


def _batch(rng: random.Random, lo: int, n: int, counties: list[str], schema: pa.Schema) -> pa.Table:
    rows = []
    for i in range(lo, lo + n):
        accepted = START + timedelta(minutes=rng.randrange(0, 24 * 60, 30))  # coarse: many ties
        rows.append({
            "serial": f"S{rng.randrange(10**8):08d}-{i}",
            "business_type": rng.choice(["SI_TRANSFER", "ENROL", "RECORD_QUERY", "MATERNITY"]),
            "business_name": rng.choice([None, "转移接续", "参保登记"]),
            "channel": rng.choice(["counter", "web", "app", "self_service"]),
            "region": rng.choice(counties[:4]),
            "remote": rng.random() < 0.3,
            "status": rng.choice(["accepted", "completed", "returned"]),
            "accepted_at": accepted,
            "completed_at": None if rng.random() < 0.3 else accepted + timedelta(hours=rng.randrange(1, 48)),
            "id_number": f"371425199{rng.randrange(10**9):09d}",
            "name": rng.choice([None, "张三", "李四光", "王"]),
            "phone": rng.choice([None, "13812345678", "0534-1234567"]),
        })
    return pa.Table.from_pylist(rows, schema=schema)


def with_runs(lake: Lake, mb: int) -> Lake:
    """The same lake read with ``page_cache_mb=mb`` (0: every page from DuckDB)."""
    return Lake(lake.cfg.model_copy(update={"page_cache_mb": mb}), lake.decl)


@pytest.fixture
def lake3(lake, decl):
    """Three commits (three data files) of 700 rows over four counties."""
    rng = random.Random(7)
    counties = list(decl.city("371400").counties)
    schema = decl.contract(DATASET).arrow_schema()
    for b in range(3):
        lake.commit(DATASET, _batch(rng, b * 700, 700, counties, schema), connector="test", batch_id=f"b{b}")
    return lake, counties


def _query(rng: random.Random, counties: list[str]) -> records.Query:
    regions = rng.choice([[counties[0]], [counties[1]], counties[:2], None])
    filters = []
    for _ in range(rng.choice([0, 0, 1, 2])):
        kind = rng.choice(["status", "types", "after", "before", "channel", "remote"])
        at = START + timedelta(minutes=rng.randrange(0, 24 * 60, 30))  # on the rows' grid: bounds hit ties
        filters.append({
            "status": ("status", "eq", (rng.choice(["accepted", "completed"]),)),
            "types": ("business_type", "in", ("ENROL", "MATERNITY")),
            "after": ("accepted_at", rng.choice(["ge", "gt"]), (at,)),
            "before": ("accepted_at", rng.choice(["le", "lt"]), (at,)),
            "channel": ("channel", "ne", ("web",)),
            "remote": ("remote", "eq", (True,)),
        }[kind])
    fields = rng.choice([None, ["serial", "region", "name", "phone"], ["id_number", "accepted_at", "serial"]])
    unmasked = frozenset(rng.sample(["id_number", "name", "phone"], rng.randrange(0, 3)))
    return records.Query(DATASET, regions=regions, fields=fields, filters=tuple(Filter(*f) for f in filters),
                         unmasked=unmasked, descending=rng.random() < 0.4, sort=rng.choice(["lake", "lake", "key"]))


def _merge_now(self, key, runs, order):
    """RunCache.merged without the background thread, for a deterministic test."""
    with self.lock:
        hit = self.runs.get(key)
    if hit is None:
        self.merging.add(key)
        self._merge(key, runs, order)
        hit = self.runs.get(key)
    return hit


@pytest.mark.parametrize("runs", ["one per file", "merged"])
def test_runs_give_duckdbs_pages(lake3, decl, monkeypatch, runs):
    lake, counties = lake3
    monkeypatch.setattr(sorted_runs.RunCache, "merged",
                        _merge_now if runs == "merged" else lambda self, key, runs, order: None)
    c = decl.contract(DATASET)
    duck, fast = SnapshotCache(with_runs(lake, 0)), SnapshotCache(with_runs(lake, 64))
    rng = random.Random(11)
    checked = served_from_runs = 0
    for _ in range(120):
        q = _query(rng, counties)
        limit = rng.choice([1, 7, 50, 400])
        cursor = None
        for _ in range(3):  # a first page and up to two more along the cursor
            records.engine().pages.clear()
            want = records.read(duck, q, limit=limit, cursor=cursor)
            files = list(fast.files(DATASET, want.snapshot_id))
            served_from_runs += records._page_from_runs(
                c, q, files, limit, decode_cursor(cursor, c, q.descending, q.sort)[1] if cursor else None,
                records._projection(c, q), fast.lake.cfg) is not None
            got = records.read(fast, q, limit=limit, cursor=cursor)
            assert got.snapshot_id == want.snapshot_id
            assert got.rows.schema == want.rows.schema, q
            assert got.rows.to_pylist() == want.rows.to_pylist(), (q, limit, cursor)
            assert got.next_cursor == want.next_cursor, q
            checked += 1
            cursor = want.next_cursor
            if not cursor:
                break
    assert checked > 200
    assert served_from_runs == checked  # none of these needed DuckDB


def test_duckdb_is_used_when_runs_are_switched_off(lake3, decl):
    lake, _ = lake3
    c = decl.contract(DATASET)
    q = records.Query(DATASET, regions=None)
    off = with_runs(lake, 0)
    cache = SnapshotCache(off)
    files = list(cache.files(DATASET, cache.current(DATASET)))
    assert sorted_runs.cache(0) is None
    assert records._page_from_runs(c, q, files, 10, None, records._projection(c, q), off.cfg) is None
    assert records._page_from_runs(c, q, files, 10, None, records._projection(c, q), with_runs(lake, 64).cfg)


def test_masking_holds_on_runs(lake3, decl):
    lake, counties = lake3
    fast = with_runs(lake, 64)
    c, q = decl.contract(DATASET), records.Query(DATASET, regions=[counties[0]])
    cache = SnapshotCache(fast)
    files = list(cache.files(DATASET, cache.current(DATASET)))
    assert records._page_from_runs(c, q, files, 200, None, records._projection(c, q), fast.cfg) is not None
    page = records.read(cache, q, limit=200, cursor=None)
    ids = [r["id_number"] for r in page.rows.to_pylist()]
    assert ids and all(len(i) == 18 and i[4:14] == "*" * 10 for i in ids)
    names = {r["name"] for r in page.rows.to_pylist()} - {None}
    assert names <= {"张*", "李**", "*"}
    assert names  # some names were served, masked


def test_runs_past_the_budget_fall_back_to_duckdb(lake3, decl, monkeypatch):
    lake, counties = lake3
    c = decl.contract(DATASET)
    q = records.Query(DATASET, regions=None)
    fast = with_runs(lake, 64)
    cache = SnapshotCache(fast)
    files = list(cache.files(DATASET, cache.current(DATASET)))
    assert records._page_from_runs(c, q, files, 10, None, records._projection(c, q), fast.cfg) is not None
    small = sorted_runs.RunCache(1000)  # a run is ~100 kB here
    monkeypatch.setattr(sorted_runs, "cache", lambda mb: small)
    assert records._page_from_runs(c, q, files, 10, None, records._projection(c, q), fast.cfg) is None
    page = records.read(cache, q, limit=10, cursor=None)  # and DuckDB answers
    assert page.rows.num_rows == 10 and page.has_more


def test_a_run_with_nulls_in_its_order_is_not_used():
    t = pa.table({"a": pa.array([1, None, 3], pa.int64()), "b": ["x", "y", "z"]})
    assert not sorted_runs.usable(t, ["a", "b"])
    assert not sorted_runs.usable(pa.table({"a": [1.0, float("nan")]}), ["a"])
    assert sorted_runs.usable(t, ["b"])


def test_float_filters_are_left_to_duckdb():
    """SQL orders NaN above every number; Arrow's comparisons say false."""
    schema = pa.schema([("speed", pa.float64()), ("name", pa.string())])
    assert sorted_runs.compile_filters([Filter("speed", "gt", (50.0,))], schema) is None
    assert sorted_runs.compile_filters([Filter("name", "eq", ("a",))], schema) is not None


def test_a_run_put_twice_is_counted_once():
    cache = sorted_runs.RunCache(10_000_000)
    run = sorted_runs.make_run(pa.table({"a": pa.array(range(1000), pa.int64())}), ["a"])
    cache._put(("k",), run)
    cache._put(("k",), run)
    assert cache.bytes == run.nbytes
    big = sorted_runs.make_run(pa.table({"a": pa.array(range(1_000_000), pa.int64())}), ["a"])
    assert cache._put(("big",), big) is None and cache.get(("big",), lambda: 1 / 0) is None  # refused, remembered
    assert cache.bytes == run.nbytes


def test_a_memory_only_read_refuses_what_is_not_loaded_and_then_answers_the_same_page(lake3, decl):
    """The API answers a page in its event loop only from memory: a read that would load
    the snapshot, its files or their runs raises NotInMemory before anything is served."""
    lake, counties = lake3
    cache = SnapshotCache(with_runs(lake, 64))
    q = records.Query(DATASET, regions=[counties[1]], filters=(Filter("status", "eq", ("accepted",)),))
    sorted_runs.cache(64).runs.clear()
    sorted_runs.cache(64).refused.clear()
    with pytest.raises(NotInMemory, match="current snapshot"):
        records.read(cache, q, limit=5, cursor=None, memory_only=True)
    sid = cache.current(DATASET)
    with pytest.raises(NotInMemory, match="files"):
        records.read(cache, q, limit=5, cursor=None, memory_only=True)
    cache.files(DATASET, sid)
    with pytest.raises(NotInMemory, match="not in memory"):  # the runs of this region scope
        records.read(cache, q, limit=5, cursor=None, memory_only=True)
    first = records.read(cache, q, limit=5, cursor=None)  # loads them
    again = records.read(cache, q, limit=5, cursor=None, memory_only=True)
    assert again.rows.to_pylist() == first.rows.to_pylist() and again.next_cursor == first.next_cursor
    nxt = records.read(cache, q, limit=5, cursor=first.next_cursor, memory_only=True)  # its snapshot is known
    assert nxt.rows.to_pylist() == records.read(cache, q, limit=5, cursor=first.next_cursor).rows.to_pylist()
    off = SnapshotCache(with_runs(lake, 0))  # pages that DuckDB must read never come from memory
    off.files(DATASET, off.current(DATASET))
    with pytest.raises(NotInMemory, match="DuckDB"):
        records.read(off, q, limit=5, cursor=None, memory_only=True)
