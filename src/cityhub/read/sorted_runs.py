"""Keyset pages from sorted in-memory runs of the lake's data files.

A data file never changes once written, so the rows one reader may see of one
file (its region scope), sorted in page order, can be kept in memory for good:
a *run*. A page is then, per run of the snapshot, a binary search for the cursor
and a filtered look at the next rows, merged across the runs: about a
millisecond, where DuckDB decodes a few hundred thousand rows of Parquet for
the same page (its top-N prunes row groups only once it has a first candidate).
New snapshots of an append-only table share all but their new files' runs.

Runs live in an LRU within a byte budget per API worker
(``CITYHUB_PAGE_CACHE_MB``). ``records`` uses them when the snapshot has at most
``CITYHUB_PAGE_CACHE_MAX_FILES`` files and its runs fit; otherwise, and for
anything a run cannot answer exactly as SQL would (a NULL or NaN in an order
column), it reads with DuckDB. Both give the same rows in the same order: a
test compares them query by query.
"""
from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cityhub.core.errors import InvalidRequest
from cityhub.declarations.contracts import Contract
from cityhub.read.filters import typed_value


@dataclass(frozen=True)
class Run:
    """One data file's rows for one region scope, ascending in page order."""
    table: pa.Table
    keys: tuple[pa.Array, ...]
    """The order columns, one contiguous array each."""
    first: np.ndarray | None
    """The first order column as numbers (integers, times), for numpy's binary search."""
    nbytes: int

    @property
    def rows(self) -> int:
        return self.table.num_rows

    def key(self, i: int, n: int) -> tuple:
        return tuple(self.keys[j][i].as_py() for j in range(n))

    def bisect(self, probe: tuple, right: bool) -> int:
        """First row whose leading ``len(probe)`` order values are > ``probe``
        (``right``) or >= ``probe``."""
        n = len(probe)
        lo, hi = 0, self.rows
        if self.first is not None:
            # the first column narrows the range with numpy; Python compares only its ties
            p0 = _numpy(pa.array([probe[0]], self.keys[0].type))[0]
            lo, hi = int(np.searchsorted(self.first, p0, "left")), int(np.searchsorted(self.first, p0, "right"))
            if n == 1:
                return hi if right else lo
        fn = bisect.bisect_right if right else bisect.bisect_left
        return fn(range(self.rows), probe, lo, hi, key=lambda i: self.key(i, n))


def _numpy(a: pa.Array) -> np.ndarray:
    if pa.types.is_timestamp(a.type) or pa.types.is_date(a.type):
        a = a.cast(pa.int64() if a.type.bit_width == 64 else pa.int32())
    return a.to_numpy(zero_copy_only=False)


def usable(table: pa.Table, order: list[str]) -> bool:
    """Whether Python's ordering of the order columns is SQL's: no NULLs, no NaN."""
    for k in order:
        col = table[k]
        if col.null_count:
            return False
        if pa.types.is_floating(col.type) and pc.any(pc.is_nan(col)).as_py():
            return False
    return True


def make_run(table: pa.Table, order: list[str]) -> Run:
    table = table.combine_chunks()
    keys = tuple(table[k].chunk(0) if table[k].num_chunks else pa.array([], table[k].type) for k in order)
    numeric = keys and (pa.types.is_integer(keys[0].type) or pa.types.is_timestamp(keys[0].type)
                        or pa.types.is_date(keys[0].type))
    first = _numpy(keys[0]) if numeric else None
    return Run(table=table, keys=keys, first=first, nbytes=table.nbytes + (first.nbytes if numeric else 0))


class RunCache:
    """Runs by (dataset, file, region scope, order), least recently used out first
    once past the budget. Each run is loaded once however many readers ask. Keys
    that cannot have a run (too big, or not orderable as SQL orders) are remembered
    apart, outside the LRU, so that they are not loaded again and again."""

    MAX_REFUSED = 100_000

    def __init__(self, budget_bytes: int):
        self.budget = budget_bytes
        self.runs: OrderedDict[tuple, Run] = OrderedDict()
        self.refused: set[tuple] = set()
        self.bytes = 0
        self.lock = threading.Lock()
        self.loading: dict[tuple, threading.Lock] = {}
        self.merging: set[tuple] = set()
        self.merge_gate = threading.Semaphore(1)  # merges copy whole slices: one at a time

    def _hit(self, key: tuple) -> tuple[bool, Run | None]:
        if key in self.refused:
            return True, None
        run = self.runs.get(key)
        if run is not None:
            self.runs.move_to_end(key)
            return True, run
        return False, None

    def get(self, key: tuple, load) -> Run | None:
        """The run for ``key``, loading it with ``load()`` if need be; None when it
        cannot serve pages. ``load`` returns None for a key that never can; what it
        raises is not remembered (the next reader tries again)."""
        with self.lock:
            known, run = self._hit(key)
            if known:
                return run
            gate = self.loading.setdefault(key, threading.Lock())
        with gate:
            with self.lock:
                known, run = self._hit(key)
                if known:
                    return run
            try:
                return self._put(key, load())
            finally:
                with self.lock:
                    self.loading.pop(key, None)

    def peek(self, key: tuple) -> tuple[bool, Run | None]:
        """``(known, run)`` without loading: known is False when ``get`` would load."""
        with self.lock:
            return self._hit(key)

    def fits(self, nbytes: int) -> bool:
        return nbytes <= self.budget // 2  # a bigger one would crowd out everything else

    def _put(self, key: tuple, run: Run | None) -> Run | None:
        with self.lock:
            old = self.runs.pop(key, None)
            self.bytes -= old.nbytes if old else 0
            if run is None or not self.fits(run.nbytes):
                if len(self.refused) >= self.MAX_REFUSED:
                    self.refused.clear()
                self.refused.add(key)
                return None
            self.runs[key] = run
            self.bytes += run.nbytes
            while self.bytes > self.budget and self.runs:
                _, gone = self.runs.popitem(last=False)
                self.bytes -= gone.nbytes
        return run

    def merged(self, key: tuple, runs: list[Run], order: list[str]) -> Run | None:
        """One run merging ``runs`` (a snapshot's files) if it is ready, else None
        and it is made in the background: a page then searches one run, not one per
        file. Made once per snapshot and scope; a newer snapshot makes its own."""
        with self.lock:
            known, run = self._hit(key)
            if known or key in self.merging or not self.fits(sum(r.nbytes for r in runs)):
                return run
            self.merging.add(key)
        threading.Thread(target=self._merge, args=(key, runs, order), name="merge-runs", daemon=True).start()
        return None

    def _merge(self, key: tuple, runs: list[Run], order: list[str]) -> None:
        try:
            with self.merge_gate:
                table = pa.concat_tables([r.table for r in runs])
                table = table.take(pc.sort_indices(table, sort_keys=[(k, "ascending") for k in order]))
                self._put(key, make_run(table, order))
        finally:
            with self.lock:
                self.merging.discard(key)


_CACHE: RunCache | None = None
_CACHE_LOCK = threading.Lock()


def cache(mb: int) -> RunCache | None:
    """This process's run cache of ``mb`` megabytes; None when switched off
    (``CITYHUB_PAGE_CACHE_MB=0``)."""
    global _CACHE
    if mb <= 0:
        return None
    with _CACHE_LOCK:
        if _CACHE is None or _CACHE.budget != mb << 20:
            _CACHE = RunCache(mb << 20)
        return _CACHE


# -- filters ---------------------------------------------------------------------

_OPS = {"eq": pc.equal, "ne": pc.not_equal, "gt": pc.greater, "ge": pc.greater_equal,
        "lt": pc.less, "le": pc.less_equal}


def compile_filters(filters, schema: pa.Schema):
    """The filters as a function of a table slice to its row mask, or None when a
    value does not fit its column's Arrow type or the column is a float (DuckDB then
    answers, with its error or SQL's NaN semantics)."""
    parts = []
    try:
        for f in filters:
            typ = schema.field(f.field).type
            if pa.types.is_floating(typ):
                return None  # SQL orders NaN above every number, Arrow compares it false: DuckDB answers
            if f.op == "in":
                parts.append((f.field, None, pa.array(list(f.values), typ)))
            else:
                parts.append((f.field, _OPS[f.op], pa.scalar(f.values[0], typ)))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
        return None

    def mask(t: pa.Table):
        m = None
        for name, fn, v in parts:
            x = pc.is_in(t[name], value_set=v) if fn is None else fn(t[name], v)
            m = x if m is None else pc.and_(m, x)
        return m
    return mask


# -- pages ---------------------------------------------------------------------------

def _bounds(run: Run, order: list[str], filters, descending: bool) -> int | None:
    """Where a range filter on the first order column that varies in the run lets
    the scan start (the columns before it hold one value in this run)."""
    prefix = []
    for j, k in enumerate(order):
        if run.keys[j][0].as_py() != run.keys[j][run.rows - 1].as_py():
            break
        prefix.append(run.keys[j][0].as_py())
    else:
        return None
    k = order[len(prefix)]
    best = None
    for f in filters:
        if f.field != k or f.op not in (("lt", "le", "eq") if descending else ("gt", "ge", "eq")):
            continue
        probe = (*prefix, f.values[0])
        if descending:  # rows up to the bound: start below the first row past it
            at = run.bisect(probe, right=f.op != "lt")
            best = at if best is None else min(best, at)
        else:
            at = run.bisect(probe, right=f.op == "gt")
            best = at if best is None else max(best, at)
    return best


def _take(run: Run, start: int, need: int, mask, descending: bool) -> pa.Table:
    """Up to ``need`` rows passing ``mask``, in page order, from ``start`` on
    (descending: from ``start - 1`` down)."""
    out, got = [], 0
    step = max(256, need * 2)
    pos = start
    while got < need and (pos > 0 if descending else pos < run.rows):
        lo, hi = (max(0, pos - step), pos) if descending else (pos, min(run.rows, pos + step))
        part = run.table.slice(lo, hi - lo)
        if mask is not None:
            part = part.filter(mask(part))
        if descending:
            part = part.take(pa.array(np.arange(part.num_rows - 1, -1, -1)))
        if part.num_rows:
            out.append(part.slice(0, need - got))
            got += min(part.num_rows, need - got)
        pos = lo if descending else hi
        step *= 4
    return pa.concat_tables(out) if out else run.table.slice(0, 0)


def page(runs: list[Run], order: list[str], filters, after: tuple | None, limit: int,
         descending: bool) -> pa.Table | None:
    """The first ``limit`` rows after ``after`` (typed order values) over the runs,
    in page order, unmasked; None when the filters need DuckDB."""
    if not runs:
        return None
    mask = compile_filters(filters, runs[0].table.schema) if filters else None
    if filters and mask is None:
        return None
    parts = []
    for run in runs:
        if not run.rows:
            continue
        start = run.rows if descending else 0
        if after is not None:
            start = run.bisect(after, right=not descending)
        bound = _bounds(run, order, filters, descending) if filters else None
        if bound is not None:
            start = min(start, bound) if descending else max(start, bound)
        parts.append(_take(run, start, limit, mask, descending))
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return runs[0].table.slice(0, 0)
    if len(parts) == 1:
        return parts[0]
    merged = pa.concat_tables(parts)
    idx = pc.sort_indices(merged, sort_keys=[(k, "descending" if descending else "ascending") for k in order])
    return merged.take(idx.slice(0, limit))


def typed_key(c: Contract, order: list[str], raw: list) -> tuple | None:
    """A cursor's order values (strings) as Python values of the columns' types;
    None when one does not parse (DuckDB then answers, with its error)."""
    out = []
    for k, v in zip(order, raw):
        if v is None:
            return None
        try:
            value = typed_value(c, k, v) if isinstance(v, str) else v
            pa.scalar(value, c.field(k).arrow_type)  # fits the column (an int32 cursor value may not)
        except (InvalidRequest, pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
            return None
        out.append(value)
    return tuple(out)
