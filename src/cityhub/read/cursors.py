"""Keyset cursors: the snapshot a paging is pinned to and the order values of the
last row served, as an opaque URL-safe token."""
from __future__ import annotations

import base64
import json

from cityhub.core.errors import InvalidRequest
from cityhub.declarations.contracts import Contract
from cityhub.read.order import order_columns

BAD_CURSOR = "cursor is not valid: pass back the next_cursor of a previous page unchanged"


def b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def unb64(cursor: str) -> dict:
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
    return b64(obj)


def decode_cursor(cursor: str, c: Contract, descending: bool = False, sort: str = "lake") -> tuple[int | None, list]:
    try:
        obj = unb64(cursor)
        sid, key = obj["s"], obj["k"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        raise InvalidRequest(BAD_CURSOR) from None
    if bool(obj.get("d")) != descending or obj.get("o", "lake") != sort:
        raise InvalidRequest("cursor was made for another sort order: keep order= and sort= the same across pages")
    if not isinstance(key, list) or len(key) != len(order_columns(c, sort)) \
            or not all(v is None or isinstance(v, str) for v in key) \
            or (sid is not None and not isinstance(sid, int)) or (sid is None and key):
        raise InvalidRequest(BAD_CURSOR)
    return sid, key
