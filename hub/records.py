"""Reading a dataset's records for the API: region scoping, projection, keyset
pagination pinned to one snapshot, and masking of personal fields in SQL (so
every output format is masked the same way).

Client values only ever reach DuckDB as parameters; identifiers come from the
contract.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import duckdb
import pyarrow as pa

from hub.contracts import Contract, contract
from hub.lake import Lake, register_view

_SQL_TYPE = {"string": "VARCHAR", "int32": "INTEGER", "int64": "BIGINT", "float64": "DOUBLE",
             "bool": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP"}
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


class RecordsError(ValueError):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Page:
    rows: pa.Table
    next_cursor: str | None
    snapshot_id: int | None


class SnapshotCache:
    """Current snapshot per table, re-read at most every ``ttl`` seconds, and the
    data files per snapshot (immutable, so cached for good)."""

    def __init__(self, lake: Lake, ttl: float = 1.0):
        self.lake, self.ttl = lake, ttl
        self._current: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()
        self.files = lru_cache(maxsize=256)(self._files)

    def current(self, name: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            hit = self._current.get(name)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        sid = self.lake.snapshot_id(name)
        with self._lock:
            self._current[name] = (now, sid)
        return sid

    def _files(self, name: str, sid: int | None) -> tuple[str, ...]:
        return tuple(self.lake.files(name, sid)) if sid is not None else ()


def encode_cursor(sid: int | None, key: list) -> str:
    raw = json.dumps({"s": sid, "k": [None if v is None else str(v) for v in key]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, c: Contract) -> tuple[int | None, list]:
    try:
        obj = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        sid, key = obj["s"], obj["k"]
        if not isinstance(key, list) or len(key) != len(c.key) or (sid is not None and not isinstance(sid, int)):
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise RecordsError(400, "cursor is not valid: pass back the next_cursor of a previous page unchanged") from None
    return sid, key


def _mask_expr(c: Contract, name: str) -> str:
    f = c.field(name)
    col = f'"{name}"'
    if f.sensitivity != "personal":
        return col
    kind = next((k for k in ("id_number", "phone", "name") if k in name), "default")
    return f"{_MASKS[kind].format(c=col)} AS {col}"


def read(cache: SnapshotCache, dataset: str, *, regions: list[str] | None, fields: list[str] | None,
         limit: int, cursor: str | None, unmasked: frozenset[str] = frozenset()) -> Page:
    """One page of ``dataset`` in key order, restricted to ``regions`` (None: all)."""
    c = contract(dataset)
    names = c.field_names
    if fields:
        unknown = [f for f in fields if f not in names]
        if unknown:
            raise RecordsError(400, f"unknown field(s) {', '.join(unknown)}; {dataset} has: {', '.join(names)}")
    cols = fields or names
    sid = cache.current(dataset)
    after = None
    if cursor:
        sid, after = decode_cursor(cursor, c)
        if sid is not None and cache.lake.table(dataset).snapshot_by_id(sid) is None:
            raise RecordsError(400, "cursor refers to a snapshot this dataset does not have: "
                                    "pass back the next_cursor of a previous page unchanged")
    where, params = [], []
    if regions is not None and c.region_field:
        where.append(f'"{c.region_field}" IN ({", ".join("?" for _ in regions)})')
        params.extend(regions)
    if after is not None:
        # keyset: (k1, k2, ...) > (v1, v2, ...), spelled out for any key length
        ors = []
        for i, k in enumerate(c.key):
            typ = _SQL_TYPE[c.field(k).type]
            eqs = [f'"{c.key[j]}" = CAST(? AS {_SQL_TYPE[c.field(c.key[j]).type]})' for j in range(i)]
            ors.append("(" + " AND ".join(eqs + [f'"{k}" > CAST(? AS {typ})']) + ")")
            params.extend(after[:i] + [after[i]])
        where.append("(" + " OR ".join(ors) + ")")
    select = ", ".join(f'"{k}" AS "__k{i}"' for i, k in enumerate(c.key))
    proj = ", ".join(_mask_expr(c, f) if f not in unmasked else f'"{f}"' for f in cols)
    sql = (f'SELECT {proj}, {select} FROM "{dataset}" '
           + (f"WHERE {' AND '.join(where)} " if where else "")
           + f"ORDER BY {', '.join(f'{chr(34)}{k}{chr(34)}' for k in c.key)} LIMIT {int(limit) + 1}")
    con = duckdb.connect()
    try:
        register_view(con, dataset, list(cache.files(dataset, sid)))
        out = con.sql(sql, params=params or None).to_arrow_table()
    except duckdb.Error as e:
        raise RecordsError(400, f"query failed: {e}") from None
    finally:
        con.close()
    more = out.num_rows > limit
    out = out.slice(0, limit)
    next_cursor = None
    if more:
        last = [out[f"__k{i}"][limit - 1].as_py() for i in range(len(c.key))]
        next_cursor = encode_cursor(sid, last)
    return Page(rows=out.select(cols), next_cursor=next_cursor, snapshot_id=sid)
