"""Reading a dataset's records for the API: region scoping, filters, projection,
keyset pagination pinned to one snapshot, incremental changes between snapshots,
bulk export, and masking of personal fields in SQL (so every output format is
masked the same way).

Client values only ever reach DuckDB as parameters; identifiers come from the
contract.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from cityhub.core.errors import Gone, InvalidRequest
from cityhub.core.settings import Settings
from cityhub.declarations.contracts import Contract
from cityhub.lake.tables import attach_object_store, object_store_version, register_view
from cityhub.read import sorted_runs
from cityhub.read.cursors import decode_cursor, decode_since, encode_cursor, encode_since
from cityhub.read.filters import OPS, Filter
from cityhub.read.masking import select_list
from cityhub.read.order import order_columns, sql_order
from cityhub.read.snapshots import NotInMemory, SnapshotCache


@dataclass(frozen=True)
class Query:
    """What a caller may and wants to read of one dataset."""
    dataset: str
    regions: list[str] | None = None
    """County codes the caller may see (None: all)."""
    fields: list[str] | None = None
    filters: tuple[Filter, ...] = ()
    unmasked: frozenset[str] = frozenset()
    """Personal fields the caller's grant names (served in clear)."""
    descending: bool = False
    sort: str = "lake"
    """``lake``: the lake's order (region, time, then the key), fast; ``key``: the contract key."""


@dataclass
class Page:
    rows: pa.Table
    next_cursor: str | None
    snapshot_id: int | None
    has_more: bool = False
    extra: dict = field(default_factory=dict)


# -- SQL -------------------------------------------------------------------------

def _projection(c: Contract, q: Query) -> list[str]:
    names = c.field_names
    if q.fields:
        unknown = [f for f in q.fields if f not in names]
        if unknown:
            raise InvalidRequest(f"unknown field(s) {', '.join(unknown)}; {c.name} has: {', '.join(names)}")
        if len(set(q.fields)) != len(q.fields):
            raise InvalidRequest("fields: a field is named twice")
    return list(q.fields or names)


def _where(c: Contract, q: Query, after: list | None) -> tuple[list[str], list]:
    where, params = [], []
    if q.regions is not None and c.region_field:
        where.append(f'"{c.region_field}" IN ({", ".join("?" for _ in q.regions)})')
        params.extend(q.regions)
    for f in q.filters:
        typ = c.field(f.field).sql_type
        if f.op == "in":
            where.append(f'"{f.field}" IN ({", ".join(f"CAST(? AS {typ})" for _ in f.values)})')
        else:
            where.append(f'"{f.field}" {OPS[f.op]} CAST(? AS {typ})')
        params.extend(f.values)
    if after is not None:
        order, after = sql_order(c, q.sort, q.regions), list(after)
        if len(order) < len(order_columns(c, q.sort)):  # one region: the cursor's region decides alone
            region = q.regions[0]
            if after[0] != region:
                if (after[0] > region) != q.descending:  # the cursor is past this region already
                    where.append("false")
                return where, params
            after = after[1:]
        # keyset: (k1, k2, ...) > (v1, v2, ...), spelled out for any key length, plus the
        # implied k1 >= v1 that the Parquet statistics can prune row groups with
        cmp = "<" if q.descending else ">"
        ors = []
        for i, k in enumerate(order):
            typ = c.field(k).sql_type
            eqs = [f'"{order[j]}" = CAST(? AS {c.field(order[j]).sql_type})' for j in range(i)]
            ors.append("(" + " AND ".join(eqs + [f'"{k}" {cmp} CAST(? AS {typ})']) + ")")
            params.extend(after[:i] + [after[i]])
        where.append("(" + " OR ".join(ors) + ")")
        where.append(f'"{order[0]}" {cmp}= CAST(? AS {c.field(order[0]).sql_type})')
        params.append(after[0])
    return where, params


def _sql(c: Contract, q: Query, view: str, cols: list[str], where: list[str], limit: int | None,
         keys: bool = True) -> str:
    proj = select_list(c, cols, q.unmasked)
    if keys:
        proj += ", " + ", ".join(f'"{k}" AS "__k{i}"' for i, k in enumerate(order_columns(c, q.sort)))
    direction = " DESC" if q.descending else ""
    return (f'SELECT {proj} FROM "{view}" '
            + (f"WHERE {' AND '.join(where)} " if where else "")
            + "ORDER BY " + ", ".join(f'"{k}"{direction}' for k in sql_order(c, q.sort, q.regions))
            + (f" LIMIT {int(limit)}" if limit is not None else ""))


class _Engine:
    """One in-memory DuckDB per process, a cursor per query. Data files never change,
    so their Parquet metadata is cached, and each (dataset, file set) gets its view
    once; pages of a snapshot are immutable, so recent ones are cached too."""

    def __init__(self):
        self.db = duckdb.connect()
        self.db.execute("SET parquet_metadata_cache = true")
        self.lock = threading.Lock()
        self.views: dict[tuple, str] = {}
        self.made = 0
        self.pages: OrderedDict[tuple, pa.Table] = OrderedDict()
        self.store = -1
        self._object_store()

    MAX_VIEWS, MAX_PAGES, MAX_PAGE_BYTES = 512, 256, 1 << 20

    def _object_store(self) -> None:
        """The lake's object store (an ``s3://`` lake), as the process has it now."""
        if self.store != object_store_version():
            with self.lock:
                if self.store != object_store_version():
                    self.store = object_store_version()
                    attach_object_store(self.db, renew=True)

    def view(self, contract: Contract, files: tuple[str, ...]) -> str:
        self._object_store()
        name = contract.name
        key = (name, files)
        with self.lock:
            v = self.views.get(key)
            if v is None:
                if len(self.views) >= self.MAX_VIEWS:  # old snapshots' views: made again if asked for
                    old_key = next(iter(self.views))
                    self.db.execute(f'DROP VIEW IF EXISTS "{self.views.pop(old_key)}"')
                self.made += 1
                v = f"{name}__{self.made}"
                register_view(self.db, v, list(files), contract)
                self.views[key] = v
            return v

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.db.cursor()

    def run(self, sql: str, params: tuple) -> pa.Table:
        """``sql`` on a cursor of its own, uncached."""
        self._object_store()
        cur = self.db.cursor()
        try:
            return cur.sql(sql, params=list(params) or None).to_arrow_table()
        finally:
            cur.close()

    def query(self, sql: str, params: list) -> pa.Table:
        key = (sql, tuple(str(p) for p in params))
        with self.lock:
            hit = self.pages.get(key)
            if hit is not None:
                self.pages.move_to_end(key)
                return hit
        try:
            out = self.run(sql, tuple(params))
        except duckdb.Error as e:
            raise InvalidRequest(f"query failed: {e}") from None
        if out.nbytes <= self.MAX_PAGE_BYTES:
            with self.lock:
                self.pages[key] = out
                while len(self.pages) > self.MAX_PAGES:
                    self.pages.popitem(last=False)
        return out


_ENGINE: _Engine | None = None


def engine() -> _Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


def _page(c: Contract, q: Query, files: list[str], limit: int, after: list | None,
          cfg: Settings, memory_only: bool = False) -> tuple[pa.Table, list | None]:
    cols = _projection(c, q)
    fast = _page_from_runs(c, q, files, limit, after, cols, cfg, memory_only)
    if fast is not None:
        return fast
    if memory_only:
        raise NotInMemory(f"a page of {c.name} that DuckDB must read from files")
    where, params = _where(c, q, after)
    eng = engine()
    view = eng.view(c, tuple(files))
    out = eng.query(_sql(c, q, view, cols, where, limit + 1), params)
    more = out.num_rows > limit
    out = out.slice(0, limit)
    last = [out[f"__k{i}"][limit - 1].as_py() for i in range(len(order_columns(c, q.sort)))] if more else None
    return out.select(cols), last


def _page_from_runs(c: Contract, q: Query, files: list[str], limit: int, after: list | None,
                    cols: list[str], cfg: Settings, memory_only: bool = False
                    ) -> tuple[pa.Table, list | None] | None:
    """The page from sorted in-memory runs of the files (``cityhub.read.sorted_runs``), or None
    when they cannot answer it and DuckDB should; ``memory_only``: runs not loaded yet raise
    ``NotInMemory`` instead of being loaded."""
    cache = sorted_runs.cache(cfg.page_cache_mb)
    if cache is None or not files or len(files) > cfg.page_cache_max_files:
        return None
    order = order_columns(c, q.sort)
    typed = None
    if after is not None:
        typed = sorted_runs.typed_key(c, order, after)
        if typed is None:
            return None
    scope = tuple(q.regions) if q.regions is not None and c.region_field else None
    runs = []
    for f in files:
        if memory_only:
            known, run = cache.peek((c.name, f, scope, tuple(order)))
            if not known:
                raise NotInMemory(f"{f} is not in memory yet")
            if run is None:
                return None
            runs.append(run)
            continue
        try:
            run = cache.get((c.name, f, scope, tuple(order)), lambda f=f: _load_run(c, f, scope, order, cache))
        except duckdb.Error:
            return None  # not remembered: perhaps passing; the page's own DuckDB query answers or says why
        if run is None:
            return None
        runs.append(run)
    if len(runs) > 1:
        merged = cache.merged((c.name, tuple(files), scope, tuple(order)), runs, order)
        runs = [merged] if merged is not None else runs
    rows = sorted_runs.page(runs, order, q.filters, typed, limit + 1, q.descending)
    if rows is None:
        return None
    more = rows.num_rows > limit
    rows = rows.slice(0, limit)
    last = [rows[k][limit - 1].as_py() for k in order] if more else None
    masked = [f for f in cols if c.field(f).personal and f not in q.unmasked]
    if not masked:
        return rows.select(cols), last
    con = engine().cursor()
    try:  # the same SQL masks as every other read, over the page alone
        con.register("__page", rows)
        return con.sql(f'SELECT {select_list(c, cols, q.unmasked)} FROM "__page"').to_arrow_table(), last
    finally:
        con.close()


def _load_run(c: Contract, file: str, scope: tuple | None, order: list[str],
              cache: sorted_runs.RunCache) -> sorted_runs.Run | None:
    eng = engine()
    if scope is None:  # a whole file: too big is known from its footer, before reading it
        size = eng.run("SELECT sum(total_uncompressed_size) AS n FROM parquet_metadata(?)", (file,))["n"][0].as_py()
        if size is not None and not cache.fits(int(size)):
            return None
    view = eng.view(c, (file,))
    where = f'WHERE "{c.region_field}" IN ({", ".join("?" for _ in scope)}) ' if scope is not None else ""
    table = eng.run(f'SELECT * FROM "{view}" {where}ORDER BY ' + ", ".join(f'"{k}"' for k in order),
                       scope or ())
    return sorted_runs.make_run(table, order) if sorted_runs.usable(table, order) else None


def read(cache: SnapshotCache, q: Query, *, limit: int, cursor: str | None, memory_only: bool = False) -> Page:
    """One page of ``q.dataset`` in key order, pinned to the snapshot of the first page.
    ``memory_only``: answer from what is in memory (snapshot, file list, sorted runs) or
    raise ``NotInMemory`` before reading anything else (the API answers such pages
    without a hop to a worker thread)."""
    c = cache.lake.decl.contract(q.dataset)
    after = None
    if cursor:
        sid, after = decode_cursor(cursor, c, q.descending, q.sort)
        if sid is not None and not cache.known(q.dataset, sid, memory_only):
            raise InvalidRequest("cursor refers to a snapshot this dataset does not have: "
                                    "pass back the next_cursor of a previous page unchanged")
    else:
        sid = cache.current(q.dataset, memory_only=memory_only)
    files = cache.files(q.dataset, sid, memory_only)
    rows, last = _page(c, q, list(files), limit, after, cache.lake.cfg, memory_only)
    return Page(rows=rows, next_cursor=encode_cursor(sid, last, q.descending, q.sort) if last else None,
                snapshot_id=sid, has_more=last is not None)


OP = "op"
"""The column that says what a change is: ``upsert`` (the row, as the caller may see it)
or ``delete`` (a tombstone: the key alone, every other field null)."""
UPSERT, DELETE = "upsert", "delete"


def changes(cache: SnapshotCache, q: Query, *, limit: int, since: str | None) -> Page:
    """What changed in the caller's view of ``q.dataset`` (its region scope and filters)
    between the snapshot ``since`` names and the current one, in the lake's order and in
    pages: upserts (rows present now that were not, identically, present then) and
    tombstones (keys present then, absent now), with the ``op`` column first saying which.

    An append adds files; a correction or a removal rewrites files (the old ones leave the
    snapshot, copies without the replaced rows come in); a compaction rewrites every file
    with the same rows. So upserts are the rows of the files added since ``since`` that
    are not rows of the files removed since then, and tombstones are the keys of rows in
    the removed files that the current snapshot no longer has in the caller's view: a
    compaction yields nothing, and an app that applies both converges to the hub's rows.
    ``next_cursor`` continues a change set while ``has_more``, and is the next ``since``
    once it is done."""
    c = cache.lake.decl.contract(q.dataset)
    if q.fields and set(c.key) - set(q.fields):
        raise InvalidRequest(f"changes are upserted on the key: fields must include {', '.join(c.key)}")
    base, to, after = None, cache.current(q.dataset), None
    if since:
        base, to, after = decode_since(since, c)
        for sid in (base, to):
            if sid is not None and not cache.known(q.dataset, sid):
                raise Gone("since refers to a snapshot this dataset no longer has: "
                                        "start again without since (a full copy)")
        if to is None:  # a finished change set: the next one runs up to what has landed now
            to = cache.current(q.dataset, fresh=True)
            if base is not None and (to is None or (to != base and not cache.newer(q.dataset, to, base))):
                to = base  # this worker's view is older than the caller's cursor: never go back
    then = cache.files(q.dataset, base) if base is not None else ()
    now = cache.files(q.dataset, to) if to is not None else ()
    had, has = set(then), set(now)
    added = [f for f in now if f not in had]
    removed = [f for f in then if f not in has]
    if removed:
        rows, last = _diff_page(c, q, added, removed, list(now), limit, after)
    else:  # appends only: every row of the added files is new
        rows, last = _page(c, q, added, limit, after, cache.lake.cfg) if added else (_empty(c, q), None)
        rows = rows.add_column(0, OP, pa.array([UPSERT] * rows.num_rows, pa.string()))
    nxt = encode_since(q.dataset, base, to, last) if last is not None else encode_since(q.dataset, to, None, None)
    return Page(rows=rows, next_cursor=nxt, snapshot_id=to, has_more=last is not None,
                extra={"since_snapshot_id": base, "files": len(added), "files_removed": len(removed)})


def _diff_page(c: Contract, q: Query, added: list[str], removed: list[str], current: list[str], limit: int,
               after: list | None) -> tuple[pa.Table, list | None]:
    """A page of upserts and tombstones when files left the snapshot (see :func:`changes`).
    Identical rows have identical order values, so the keyset condition can prune both the
    added and the removed files; whether a key is still present is asked of the whole
    current snapshot, within the caller's scope and filters."""
    cols = _projection(c, q)
    order = order_columns(c, q.sort)
    eng = engine()
    va, vr, vt = (eng.view(c, tuple(files)) for files in (added, removed, current))
    w_page, p_page = _where(c, q, after)
    w_view, p_view = _where(c, q, None)
    page_where = f"WHERE {' AND '.join(w_page)}" if w_page else ""
    view_where = f"WHERE {' AND '.join(w_view)}" if w_view else ""
    every = ", ".join(_q(f) for f in c.field_names)
    keys = ", ".join(_q(k) for k in c.key)
    same_key = " AND ".join(f't."{k}" IS NOT DISTINCT FROM r."{k}"' for k in c.key)
    order_keys = ", ".join(f'"{k}" AS "__k{i}"' for i, k in enumerate(order))
    tomb = ", ".join(select_list(c, [f], q.unmasked) if f in c.key else f'CAST(NULL AS {c.field(f).sql_type}) AS "{f}"'
                     for f in cols)
    skip = len(order) - len(sql_order(c, q.sort, q.regions))
    sql = (f'WITH a AS (SELECT {every} FROM "{va}" {page_where}), '
           f'r AS (SELECT {every} FROM "{vr}" {page_where}), '
           f't AS (SELECT {keys} FROM "{vt}" {view_where}), '
           f'up AS (SELECT * FROM a EXCEPT SELECT * FROM r), '
           f'gone AS (SELECT DISTINCT {", ".join(_q(k) for k in order)} FROM r '
           f'WHERE NOT EXISTS (SELECT 1 FROM t WHERE {same_key})) '
           f"SELECT '{UPSERT}' AS \"{OP}\", {select_list(c, cols, q.unmasked)}, {order_keys} FROM up "
           f"UNION ALL SELECT '{DELETE}', {tomb}, {order_keys} FROM gone "
           f'ORDER BY {", ".join(_q(f"__k{i}") for i in range(skip, len(order)))} '
           f"LIMIT {int(limit) + 1}")
    out = eng.query(sql, p_page + p_page + p_view)
    more = out.num_rows > limit
    out = out.slice(0, limit)
    last = [out[f"__k{i}"][limit - 1].as_py() for i in range(len(order))] if more else None
    return out.select([OP, *cols]), last


def _q(name: str) -> str:
    return f'"{name}"'


def split_changes(rows: pa.Table, key: list[str]) -> tuple[pa.Table, pa.Table]:
    """A page of changes as (upserts without the ``op`` column, tombstones' keys)."""
    op = rows[OP]
    return (rows.filter(pc.equal(op, UPSERT)).drop_columns([OP]),
            rows.filter(pc.equal(op, DELETE)).select(key))


def _empty(c: Contract, q: Query) -> pa.Table:
    cols = _projection(c, q)
    return c.arrow_schema().empty_table().select(cols)


class Export:
    """All rows a query selects at one snapshot, streamed as Arrow record batches
    (the connection stays open until the stream is read or closed)."""

    def __init__(self, cache: SnapshotCache, q: Query, batch_rows: int = 122_880):
        c = cache.lake.decl.contract(q.dataset)
        self.snapshot_id = cache.current(q.dataset)
        cols = _projection(c, q)
        where, params = _where(c, q, None)
        eng = engine()
        view = eng.view(c, tuple(cache.files(q.dataset, self.snapshot_id)))
        self.con = eng.cursor()
        try:  # a relation's reader streams; execute() would build the whole result first
            self.reader = self.con.sql(_sql(c, q, view, cols, where, None, keys=False), params=params or None
                                       ).to_arrow_reader(batch_rows)
        except duckdb.Error as e:
            self.con.close()
            raise InvalidRequest(f"query failed: {e}") from None

    @property
    def schema(self) -> pa.Schema:
        return self.reader.schema

    def batches(self):
        try:
            yield from self.reader
        finally:
            self.close()

    def close(self) -> None:
        self.con.close()
