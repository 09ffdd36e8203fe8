"""Reading a dataset's records for the API: region scoping, filters, projection,
keyset pagination pinned to one snapshot, incremental changes between snapshots,
bulk export, and masking of personal fields in SQL (so every output format is
masked the same way).

Client values only ever reach DuckDB as parameters; identifiers come from the
contract.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

import duckdb
import pyarrow as pa

from hub import sorted_runs
from hub.config import settings
from hub.contracts import Contract, contract
from hub.lake import CST, SQL_TYPES, Lake, register_view

_SQL_TYPE = SQL_TYPES
# masks by field name hint; fields declare ``sensitivity: personal``
# (a value too short to keep any of it hidden is masked whole)
_MASKS = {
    "id_number": "CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) < 15 THEN '***' "
                 "ELSE left({c}, 4) || repeat('*', length({c}) - 8) || right({c}, 4) END",
    "name": "CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) < 2 THEN '*' "
            "ELSE left({c}, 1) || repeat('*', length({c}) - 1) END",
    "phone": "CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) < 11 THEN '***' "
             "ELSE left({c}, 3) || '****' || right({c}, 4) END",
    "default": "CASE WHEN {c} IS NULL THEN NULL ELSE '***' END",
}
OPS = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<=", "in": "IN"}
RESERVED = frozenset({"region", "limit", "cursor", "fields", "order", "sort", "format", "since"})
MAX_IN = 1000


class RecordsError(ValueError):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    values: tuple


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


class SnapshotCache:
    """Current snapshot per table, re-read at most every ``ttl`` seconds, and the
    data files per snapshot (immutable, so cached for good)."""

    def __init__(self, lake: Lake, ttl: float = 1.0):
        self.lake, self.ttl = lake, ttl
        self._current: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()
        self._known: set[tuple[str, int]] = set()
        self.files = lru_cache(maxsize=256)(self._files)

    def current(self, name: str, fresh: bool = False) -> int | None:
        """The table's current snapshot; ``fresh`` reads the catalogue now."""
        now = time.monotonic()
        with self._lock:
            hit = self._current.get(name)
        if hit and now - hit[0] < self.ttl and not fresh:
            return hit[1]
        sid = self.lake.snapshot_id(name)
        with self._lock:
            self._current[name] = (now, sid)
        return sid

    def known(self, name: str, sid: int) -> bool:
        """Whether the table has snapshot ``sid`` (a cursor's); remembered once seen,
        as snapshots are kept (every cursor page would otherwise load the table)."""
        if (name, sid) in self._known:
            return True
        ok = self.lake.table(name).snapshot_by_id(sid) is not None
        if ok:
            with self._lock:
                if len(self._known) > 100_000:
                    self._known.clear()
                self._known.add((name, sid))
        return ok

    def newer(self, name: str, a: int, b: int) -> bool:
        """Whether snapshot ``a`` was committed after ``b``."""
        t = self.lake.table(name)
        return t.snapshot_by_id(a).sequence_number > t.snapshot_by_id(b).sequence_number

    def _files(self, name: str, sid: int | None) -> tuple[str, ...]:
        return tuple(self.lake.files(name, sid)) if sid is not None else ()


# -- cursors -------------------------------------------------------------------------

def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def _unb64(cursor: str) -> dict:
    obj = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    if not isinstance(obj, dict):
        raise ValueError
    return obj


def encode_cursor(sid: int | None, key: list, descending: bool = False, sort: str = "lake") -> str:
    obj = {"s": sid, "k": [None if v is None else str(v) for v in key]}
    if descending:
        obj["d"] = 1
    if sort != "lake":
        obj["o"] = sort
    return _b64(obj)


_BAD_CURSOR = "cursor is not valid: pass back the next_cursor of a previous page unchanged"


def decode_cursor(cursor: str, c: Contract, descending: bool = False, sort: str = "lake") -> tuple[int | None, list]:
    try:
        obj = _unb64(cursor)
        sid, key = obj["s"], obj["k"]
        if bool(obj.get("d")) != descending or obj.get("o", "lake") != sort:
            raise RecordsError(400, "cursor was made for another sort order: keep order= and sort= the same "
                                    "across pages")
        if not isinstance(key, list) or len(key) != len(order_columns(c, sort)) \
                or not all(v is None or isinstance(v, str) for v in key) \
                or (sid is not None and not isinstance(sid, int)) or (sid is None and obj.get("k")):
            raise ValueError
    except RecordsError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        raise RecordsError(400, _BAD_CURSOR) from None
    return sid, key


# -- filters -------------------------------------------------------------------------

def _typed(c: Contract, name: str, raw: str):
    """A client's filter value in the field's type; 400 saying what was expected."""
    typ = c.field(name).type
    try:
        if typ in ("int32", "int64"):
            return int(raw)
        if typ == "float64":
            return float(raw)
        if typ == "bool":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if typ == "date":
            return date.fromisoformat(raw)
        if typ == "timestamp":  # the lake keeps China Standard Time without a zone
            t = datetime.fromisoformat(raw)
            return t.astimezone(CST).replace(tzinfo=None) if t.tzinfo else t
        return raw
    except (ValueError, OverflowError):
        expect = {"int32": "an integer", "int64": "an integer", "float64": "a number", "bool": "true or false",
                  "date": "a date YYYY-MM-DD", "timestamp": "a time YYYY-MM-DDTHH:MM:SS (China Standard Time)"}[typ]
        raise RecordsError(400, f"filter {name}: {raw!r} is not {expect}") from None


def parse_filters(c: Contract, params: list[tuple[str, str]], unmasked: frozenset[str] = frozenset(),
                  allowed: set[str] | None = None) -> tuple[Filter, ...]:
    """``field=value`` (equals), ``field=in:a,b``, ``field=ge:2026-01-01`` (also gt, lt, le, ne)
    on the contract's filterable fields. A masked personal field cannot be filtered on:
    that would reveal values the caller may not see."""
    out = []
    for name, raw in params:
        if name in RESERVED:
            continue
        if name not in c.field_names:
            raise RecordsError(400, f"unknown parameter {name!r}: not a field of {c.name} or one of "
                                    f"{', '.join(sorted(RESERVED))}")
        f = c.field(name)
        if allowed is not None and name not in allowed:
            raise RecordsError(400, f"field {name} is not open data: it cannot be filtered on")
        if f.sensitivity == "personal" and name not in unmasked:
            raise RecordsError(403, f"field {name} is personal data your grant does not name: it cannot be filtered on")
        if not f.filterable:
            able = [x.name for x in c.fields if x.filterable]
            raise RecordsError(400, f"field {name} cannot be filtered on; filterable: {', '.join(able)}")
        op, _, value = raw.partition(":")
        if op not in OPS or not _:
            op, value = "eq", raw
        if op == "in":
            items = [v for v in value.split(",") if v != ""]
            if not items or len(items) > MAX_IN:
                raise RecordsError(400, f"filter {name}=in: needs 1 to {MAX_IN} comma-separated values")
            out.append(Filter(name, op, tuple(_typed(c, name, v) for v in items)))
        else:
            out.append(Filter(name, op, (_typed(c, name, value),)))
    return tuple(out)


# -- SQL -------------------------------------------------------------------------

def _mask_expr(c: Contract, name: str) -> str:
    f = c.field(name)
    col = f'"{name}"'
    if f.sensitivity != "personal":
        return col
    kind = next((k for k in ("id_number", "phone", "name") if k in name), "default")
    return f"{_MASKS[kind].format(c=col)} AS {col}"


def _projection(c: Contract, q: Query) -> list[str]:
    names = c.field_names
    if q.fields:
        unknown = [f for f in q.fields if f not in names]
        if unknown:
            raise RecordsError(400, f"unknown field(s) {', '.join(unknown)}; {c.name} has: {', '.join(names)}")
        if len(set(q.fields)) != len(q.fields):
            raise RecordsError(400, "fields: a field is named twice")
    return list(q.fields or names)


def _where(c: Contract, q: Query, after: list | None) -> tuple[list[str], list]:
    where, params = [], []
    if q.regions is not None and c.region_field:
        where.append(f'"{c.region_field}" IN ({", ".join("?" for _ in q.regions)})')
        params.extend(q.regions)
    for f in q.filters:
        typ = _SQL_TYPE[c.field(f.field).type]
        if f.op == "in":
            where.append(f'"{f.field}" IN ({", ".join(f"CAST(? AS {typ})" for _ in f.values)})')
        else:
            where.append(f'"{f.field}" {OPS[f.op]} CAST(? AS {typ})')
        params.extend(f.values)
    if after is not None:
        order, after = _sql_order(c, q), list(after)
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
            typ = _SQL_TYPE[c.field(k).type]
            eqs = [f'"{order[j]}" = CAST(? AS {_SQL_TYPE[c.field(order[j]).type]})' for j in range(i)]
            ors.append("(" + " AND ".join(eqs + [f'"{k}" {cmp} CAST(? AS {typ})']) + ")")
            params.extend(after[:i] + [after[i]])
        where.append("(" + " OR ".join(ors) + ")")
        where.append(f'"{order[0]}" {cmp}= CAST(? AS {_SQL_TYPE[c.field(order[0]).type]})')
        params.append(after[0])
    return where, params


def _sql_order(c: Contract, q: Query) -> list[str]:
    """The ORDER BY of a query: the page order, less the region when the query reads
    one region only (so that DuckDB's top-N can prune row groups by the next column)."""
    order = order_columns(c, q.sort)
    if q.regions is not None and len(q.regions) == 1 and order and order[0] == c.region_field:
        return order[1:]
    return order


def order_columns(c: Contract, sort: str = "lake") -> list[str]:
    """The order pages come in. ``lake`` (the default): the lake's own sort order
    (region, then time for most datasets), ties broken by the key, so the order is
    total; reading in the order the files are written in lets DuckDB's top-N skip
    row groups by their statistics instead of sorting a county's whole slice for
    every page. ``key``: the contract's key (slower: every page sorts the slice)."""
    if sort == "key":
        return list(c.key)
    out: list[str] = []
    for k in [*c.sort_by, *c.key]:
        if k not in out:
            out.append(k)
    return out


def _select_list(c: Contract, q: Query, cols: list[str]) -> str:
    """The projected columns, personal ones masked unless the caller's grant names them."""
    return ", ".join(_mask_expr(c, f) if f not in q.unmasked else f'"{f}"' for f in cols)


def _sql(c: Contract, q: Query, view: str, cols: list[str], where: list[str], limit: int | None,
         keys: bool = True) -> str:
    proj = _select_list(c, q, cols)
    if keys:
        proj += ", " + ", ".join(f'"{k}" AS "__k{i}"' for i, k in enumerate(order_columns(c, q.sort)))
    direction = " DESC" if q.descending else ""
    return (f'SELECT {proj} FROM "{view}" '
            + (f"WHERE {' AND '.join(where)} " if where else "")
            + "ORDER BY " + ", ".join(f'"{k}"{direction}' for k in _sql_order(c, q))
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

    MAX_VIEWS, MAX_PAGES, MAX_PAGE_BYTES = 512, 256, 1 << 20

    def view(self, name: str, files: tuple[str, ...]) -> str:
        key = (name, files)
        with self.lock:
            v = self.views.get(key)
            if v is None:
                if len(self.views) >= self.MAX_VIEWS:  # old snapshots' views: made again if asked for
                    old_key = next(iter(self.views))
                    self.db.execute(f'DROP VIEW IF EXISTS "{self.views.pop(old_key)}"')
                self.made += 1
                v = f"{name}__{self.made}"
                register_view(self.db, v, list(files), contract_name=name)
                self.views[key] = v
            return v

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.db.cursor()

    def _query(self, sql: str, params: tuple) -> pa.Table:
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
            out = self._query(sql, tuple(params))
        except duckdb.Error as e:
            raise RecordsError(400, f"query failed: {e}") from None
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


def _page(c: Contract, q: Query, files: list[str], limit: int, after: list | None) -> tuple[pa.Table, list | None]:
    cols = _projection(c, q)
    fast = _page_from_runs(c, q, files, limit, after, cols)
    if fast is not None:
        return fast
    where, params = _where(c, q, after)
    eng = engine()
    view = eng.view(c.name, tuple(files))
    out = eng.query(_sql(c, q, view, cols, where, limit + 1), params)
    more = out.num_rows > limit
    out = out.slice(0, limit)
    last = [out[f"__k{i}"][limit - 1].as_py() for i in range(len(order_columns(c, q.sort)))] if more else None
    return out.select(cols), last


def _page_from_runs(c: Contract, q: Query, files: list[str], limit: int, after: list | None,
                    cols: list[str]) -> tuple[pa.Table, list | None] | None:
    """The page from sorted in-memory runs of the files (``hub.sorted_runs``), or None
    when they cannot answer it and DuckDB should."""
    cache = sorted_runs.cache()
    if cache is None or not files or len(files) > settings().page_cache_max_files:
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
    masked = [f for f in cols if c.field(f).sensitivity == "personal" and f not in q.unmasked]
    if not masked:
        return rows.select(cols), last
    con = engine().cursor()
    try:  # the same SQL masks as every other read, over the page alone
        con.register("__page", rows)
        return con.sql(f'SELECT {_select_list(c, q, cols)} FROM "__page"').to_arrow_table(), last
    finally:
        con.close()


def _load_run(c: Contract, file: str, scope: tuple | None, order: list[str],
              cache: sorted_runs.RunCache) -> sorted_runs.Run | None:
    eng = engine()
    if scope is None:  # a whole file: too big is known from its footer, before reading it
        size = eng._query("SELECT sum(total_uncompressed_size) AS n FROM parquet_metadata(?)", (file,))["n"][0].as_py()
        if size is not None and not cache.fits(int(size)):
            return None
    view = eng.view(c.name, (file,))
    where = f'WHERE "{c.region_field}" IN ({", ".join("?" for _ in scope)}) ' if scope is not None else ""
    table = eng._query(f'SELECT * FROM "{view}" {where}ORDER BY ' + ", ".join(f'"{k}"' for k in order),
                       scope or ())
    return sorted_runs.make_run(table, order) if sorted_runs.usable(table, order) else None


def read(cache: SnapshotCache, q: Query, *, limit: int, cursor: str | None) -> Page:
    """One page of ``q.dataset`` in key order, pinned to the snapshot of the first page."""
    c = contract(q.dataset)
    sid = cache.current(q.dataset)
    after = None
    if cursor:
        sid, after = decode_cursor(cursor, c, q.descending, q.sort)
        if sid is not None and not cache.known(q.dataset, sid):
            raise RecordsError(400, "cursor refers to a snapshot this dataset does not have: "
                                    "pass back the next_cursor of a previous page unchanged")
    rows, last = _page(c, q, list(cache.files(q.dataset, sid)), limit, after)
    return Page(rows=rows, next_cursor=encode_cursor(sid, last, q.descending, q.sort) if last else None,
                snapshot_id=sid, has_more=last is not None)


def changes(cache: SnapshotCache, q: Query, *, limit: int, since: str | None) -> Page:
    """Rows that landed after the snapshot ``since`` names, up to the current one,
    in key order and pages. The lake is append-only, so what landed between two
    snapshots is exactly the rows of the data files the newer one added; an app
    keeps a copy by upserting them on the contract's key. ``next_cursor`` continues
    a change set while ``has_more``, and is the next ``since`` once it is done."""
    c = contract(q.dataset)
    if q.fields and set(c.key) - set(q.fields):
        raise RecordsError(400, f"changes are upserted on the key: fields must include {', '.join(c.key)}")
    base, to, after = None, cache.current(q.dataset), None
    if since:
        try:
            obj = _unb64(since)
            base, to, after = obj["f"], obj.get("t"), obj.get("k")
            if (base is not None and not isinstance(base, int)) or (to is not None and not isinstance(to, int)) \
                    or (after is not None and (not isinstance(after, list) or len(after) != len(order_columns(c))
                                               or not all(v is None or isinstance(v, str) for v in after))):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise RecordsError(400, "since is not valid: pass back the next_cursor of a previous changes call") from None
        for sid in (base, to):
            if sid is not None and not cache.known(q.dataset, sid):
                raise RecordsError(410, "since refers to a snapshot this dataset no longer has: "
                                        "start again without since (a full copy)")
        if to is None:  # a finished change set: the next one runs up to what has landed now
            to = cache.current(q.dataset, fresh=True)
            if base is not None and (to is None or (to != base and not cache.newer(q.dataset, to, base))):
                to = base  # this worker's view is older than the caller's cursor: never go back
    old = set(cache.files(q.dataset, base)) if base is not None else set()
    new = [f for f in cache.files(q.dataset, to) if f not in old] if to is not None else []
    rows, last = _page(c, q, new, limit, after) if new else (_empty(c, q), None)
    if last is not None:
        nxt = _b64({"f": base, "t": to, "k": [None if v is None else str(v) for v in last]})
    else:
        nxt = _b64({"f": to, "t": None, "k": None})
    return Page(rows=rows, next_cursor=nxt, snapshot_id=to, has_more=last is not None,
                extra={"since_snapshot_id": base, "files": len(new)})


def _empty(c: Contract, q: Query) -> pa.Table:
    cols = _projection(c, q)
    return c.arrow_schema().empty_table().select(cols)


class Export:
    """All rows a query selects at one snapshot, streamed as Arrow record batches
    (the connection stays open until the stream is read or closed)."""

    def __init__(self, cache: SnapshotCache, q: Query, batch_rows: int = 122_880):
        c = contract(q.dataset)
        self.snapshot_id = cache.current(q.dataset)
        cols = _projection(c, q)
        where, params = _where(c, q, None)
        eng = engine()
        view = eng.view(c.name, tuple(cache.files(q.dataset, self.snapshot_id)))
        self.con = eng.cursor()
        try:  # a relation's reader streams; execute() would build the whole result first
            self.reader = self.con.sql(_sql(c, q, view, cols, where, None, keys=False), params=params or None
                                       ).to_arrow_reader(batch_rows)
        except duckdb.Error as e:
            self.con.close()
            raise RecordsError(400, f"query failed: {e}") from None

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
