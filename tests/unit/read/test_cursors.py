"""Keyset cursors (``cityhub.read.cursors``): what a page hands out comes back as the
snapshot and order values it named; anything else is refused with a 400 that says
what is wrong and to pass the cursor back unchanged (``test_forged_cursors``: any forgery), and a cursor of another sort order is refused."""
from __future__ import annotations

import base64
import json
from datetime import date

import pytest

from cityhub.core.errors import InvalidRequest
from cityhub.read.cursors import AGAIN, b64, decode_cursor, encode_cursor
from cityhub.read.order import order_columns


@pytest.fixture(scope="module")
def c(decl):
    return decl.contract("camera_registry")  # lake order: region, as_of, device_id; key: device_id, as_of


def test_lake_and_key_orders(c):
    assert order_columns(c) == ["region", "as_of", "device_id"]
    assert order_columns(c, "key") == ["device_id", "as_of"]


@pytest.mark.parametrize(("descending", "sort", "key"), [
    (False, "lake", ["371425", "2026-11-22", "37142500001320000001"]),
    (True, "lake", ["371425", "2026-11-22", "37142500001320000001"]),
    (False, "key", ["37142500001320000001", "2026-11-22"]),
    (True, "key", ["37142500001320000001", "2026-11-23"]),
])
def test_a_cursor_comes_back_as_it_was_made(c, descending, sort, key):
    cursor = encode_cursor(7_345_000_000_000_000_123, key, descending, sort)
    assert "=" not in cursor and cursor.isascii()
    assert decode_cursor(cursor, c, descending, sort) == (7_345_000_000_000_000_123, key)


def test_order_values_travel_as_text(c):
    cursor = encode_cursor(1, ["371425", date(2026, 11, 22), 12])
    assert decode_cursor(cursor, c) == (1, ["371425", "2026-11-22", "12"])


def _forged(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "garbage", "", "!!!!", base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not base64 of JSON text
    _forged([1, ["371425", "2026-11-22", "x"]]),                            # not an object
    _forged({"k": ["371425", "2026-11-22", "x"]}),                          # no snapshot
    _forged({"s": 1}),                                                      # no order values
    _forged({"s": 1, "k": "371425"}),                                       # order values not a list
    _forged({"s": 1, "k": ["371425", "2026-11-22"]}),                       # too few for the order
    _forged({"s": 1, "k": ["371425", "2026-11-22", "x", "y"]}),             # too many
    _forged({"s": 1, "k": ["371425", 20261122, "x"]}),                      # a value not text
    _forged({"s": "1", "k": ["371425", "2026-11-22", "x"]}),                # a snapshot not a number
    _forged({"s": None, "k": ["371425", "2026-11-22", "x"]}),               # no snapshot but a position
])
def test_garbage_is_refused(c, cursor):
    with pytest.raises(InvalidRequest) as e:
        decode_cursor(cursor, c)
    assert e.value.detail.startswith("cursor is not valid: ") and e.value.detail.endswith(AGAIN)


def test_a_cursor_of_another_sort_order_is_refused(c):
    lake_asc = encode_cursor(1, ["371425", "2026-11-22", "x"])
    key_asc = encode_cursor(1, ["x", "2026-11-22"], sort="key")
    for cursor, descending, sort in ((lake_asc, True, "lake"), (lake_asc, False, "key"),
                                     (key_asc, False, "lake"), (key_asc, True, "key"),
                                     (encode_cursor(1, ["371425", "2026-11-22", "x"], descending=True), False, "lake")):
        with pytest.raises(InvalidRequest, match="another sort order"):
            decode_cursor(cursor, c, descending, sort)


def test_the_encoding_is_url_safe_json():
    obj = {"s": 1, "k": [">>>", "???", None]}  # plain base64 of it has "+" and "/"
    assert json.loads(base64.urlsafe_b64decode(b64(obj) + "==")) == obj
    assert not set(b64(obj)) & set("+/=")
