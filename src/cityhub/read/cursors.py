"""Keyset cursors: the snapshot a paging is pinned to and the order values of the
last row served, as an opaque URL-safe token; and ``since`` tokens of the change
feed (from which snapshot, up to which, and the position within).

A cursor comes back from the client, so it is checked like any other input before
it reaches a query: each order value must be text that parses as its column's type
(and fits it), a null only where the column may hold one, the snapshot a positive
64-bit id. What is wrong is said in a 400 (``InvalidRequest``); the values are
handed on as the lake's own text (a zoned time as China Standard Time), so SQL and
the in-memory runs read the same position.
"""
from __future__ import annotations

import base64
import json

import pyarrow as pa

from cityhub.core.errors import InvalidRequest
from cityhub.declarations.contracts import Contract
from cityhub.declarations.fieldtypes import FIELD_TYPES
from cityhub.read.order import order_columns

AGAIN = "pass back the next_cursor of a previous page unchanged"
BAD_CURSOR = f"cursor is not valid: {AGAIN}"
AGAIN_SINCE = "pass back the next_cursor of a previous changes call unchanged, or start again without since"
MAX_SNAPSHOT = 2**63 - 1


def b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def unb64(cursor: str) -> dict:
    obj = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    if not isinstance(obj, dict):
        raise ValueError
    return obj


def _text(v) -> str | None:
    return None if v is None else str(v)


def encode_cursor(sid: int | None, key: list, descending: bool = False, sort: str = "lake") -> str:
    obj = {"s": sid, "k": [_text(v) for v in key]}
    if descending:
        obj["d"] = 1
    if sort != "lake":
        obj["o"] = sort
    return b64(obj)


def encode_since(dataset: str, base: int | None, to: int | None, last: list | None) -> str:
    """A change feed's ``next_cursor``: the change set from snapshot ``base`` up to ``to``,
    continued after the order values ``last`` (``to`` None: finished, the next runs up
    to what has landed then). It names its dataset, so one of another is refused by name."""
    return b64({"n": dataset, "f": base, "t": to, "k": None if last is None else [_text(v) for v in last]})


class _Bad(Exception):
    """What is wrong with a cursor, said once for ``cursor`` and ``since`` alike."""


def _object(token: str) -> dict:
    try:
        return unb64(token)
    except (ValueError, TypeError, RecursionError):
        raise _Bad("it is not one this API made (not base64 of a JSON object)") from None


def _snapshot(v, what: str = "snapshot") -> int:
    if type(v) is not int or not 0 < v <= MAX_SNAPSHOT:
        raise _Bad(f"its {what} id {json.dumps(v)[:40]} is not a positive 64-bit integer")
    return v


def order_values(c: Contract, sort: str, key) -> list[str | None]:
    """A cursor's order values checked against the order columns' types: each as the
    lake's text of its value; ``_Bad`` saying which one is wrong and how."""
    order = order_columns(c, sort)
    if not isinstance(key, list):
        raise _Bad("its order values are not a list")
    if len(key) != len(order):
        raise _Bad(f"it has {len(key)} order values; {c.name} pages in {sort} order by {len(order)} "
                   f"({', '.join(order)})")
    out: list[str | None] = []
    for i, (name, v) in enumerate(zip(order, key), 1):
        f = c.field(name)
        if v is None:
            if not f.nullable:
                raise _Bad(f"order value {i} ({name}) is null, which {name} never is")
            out.append(None)
            continue
        t = FIELD_TYPES[f.type]
        if not isinstance(v, str):
            raise _Bad(f"order value {i} ({name}) is {json.dumps(v)[:40]}, not text")
        try:
            value = t.parse(v)
            pa.scalar(value, f.arrow_type)  # fits the column (an int32 may not)
        except (ValueError, OverflowError, TypeError, pa.ArrowInvalid, pa.ArrowTypeError):
            raise _Bad(f"order value {i} ({name}) {v[:40]!r} is not {t.expect}") from None
        out.append(str(value))
    return out


def decode_cursor(cursor: str, c: Contract, descending: bool = False, sort: str = "lake") -> tuple[int, list]:
    """The snapshot and order values of a page cursor; ``InvalidRequest`` saying what is wrong."""
    try:
        obj = _object(cursor)
        if "s" not in obj and "f" in obj:
            raise _Bad("it is the next_cursor of a changes call: pass it as since=, not cursor=")
        if "s" not in obj or "k" not in obj:
            raise _Bad("it is not one this API made (no snapshot or no order values)")
        if bool(obj.get("d")) != descending or obj.get("o", "lake") != sort:
            raise InvalidRequest("cursor was made for another sort order: keep order= and sort= the same across pages")
        sid = _snapshot(obj["s"])
        key = order_values(c, sort, obj["k"])
    except _Bad as e:
        raise InvalidRequest(f"cursor is not valid: {e}; {AGAIN}") from None
    return sid, key


def decode_since(since: str, c: Contract) -> tuple[int | None, int | None, list[str | None] | None]:
    """``(from, to, after)`` of a change feed's ``since``; ``InvalidRequest`` saying what is wrong."""
    try:
        obj = _object(since)
        if "f" not in obj and "s" in obj:
            raise _Bad("it is a page cursor of /records: pass it as cursor= there; since= takes the "
                       "next_cursor of a changes call")
        if "f" not in obj:
            raise _Bad("it is not the next_cursor of a changes call (no snapshot it runs from)")
        made_for = obj.get("n", c.name)
        if made_for != c.name:
            raise _Bad(f"it was made for dataset {json.dumps(made_for)[:80]}, not {c.name}")
        base = None if obj["f"] is None else _snapshot(obj["f"], "from-snapshot")
        to = None if obj.get("t") is None else _snapshot(obj["t"], "to-snapshot")
        after = obj.get("k")
        if after is not None:
            after = order_values(c, "lake", after)
            if to is None:
                raise _Bad("it has order values but no to-snapshot they continue in")
    except _Bad as e:
        raise InvalidRequest(f"since is not valid: {e}; {AGAIN_SINCE}") from None
    return base, to, after
