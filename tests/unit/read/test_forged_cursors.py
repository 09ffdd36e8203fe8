"""Forged cursors (``cityhub.read.cursors``), property-based: whatever a client sends
as ``cursor=`` (record pages) or ``since=`` (changes) either decodes to a snapshot id
and order values that each parse as their column's type, or is refused with an
``InvalidRequest`` (a 400) that says what is wrong; never any other exception (a
null in an order value was a 500)."""
from __future__ import annotations

import base64
import json
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityhub.core.errors import InvalidRequest
from cityhub.declarations.fieldtypes import FIELD_TYPES
from cityhub.read.cursors import decode_cursor, decode_since, encode_cursor, encode_since
from cityhub.read.order import order_columns

DATASETS = ("camera_registry", "camera_status", "indicator_definitions", "social_security_records")
"""Order columns of every type the contracts use: text, dates, times, int32."""

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["371425", "2026-11-22", "2026-11-22 09:00:00", "2026-11-22T09:00:00+08:00", "12",
                       "2147483648", "true", "", "\x00", "NaN"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10)
snapshot = st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 3, max_value=2**64) \
    | st.floats() | st.text(max_size=5)
order_values = st.lists(st.none() | st.text(max_size=10) | st.integers() | st.booleans()
                        | st.sampled_from(["371425", "2026-11-22", "2026-11-22 09:00:00", "x", "2147483648",
                                           "2026-02-30", "2026-11-22T09:00:00+14:00", "9999-12-31T23:59:59-12:00"]),
                        max_size=5)
raw = st.text(max_size=40) | st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode())
cursors = st.one_of(
    raw,
    json_values.map(_b64),
    st.fixed_dictionaries({"s": snapshot, "k": order_values | json_values},
                          optional={"d": json_values, "o": st.sampled_from(["lake", "key", "x"]) | json_values}
                          ).map(_b64),
)
sinces = st.one_of(
    raw,
    json_values.map(_b64),
    st.fixed_dictionaries({"f": snapshot, "t": snapshot, "k": st.none() | order_values | json_values},
                          optional={"n": st.sampled_from(DATASETS) | json_values}).map(_b64),
)


def _assert_typed(c, order: list[str], key: list) -> None:
    """Every order value the decoder let through parses as its column's type."""
    assert len(key) == len(order)
    for name, v in zip(order, key):
        if v is None:
            assert c.field(name).nullable
            continue
        assert isinstance(v, str)
        FIELD_TYPES[c.field(name).type].parse(v)


def _assert_says_what(e: InvalidRequest, what: str) -> None:
    assert e.detail.startswith(what), e.detail
    assert len(e.detail) > len(what) + 10, e.detail     # more than "not valid": what is wrong


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize(("descending", "sort"), [(False, "lake"), (True, "key")])
def test_any_cursor_decodes_to_typed_order_values_or_is_a_400(decl, dataset, descending, sort):
    c = decl.contract(dataset)
    order = order_columns(c, sort)

    @SETTINGS
    @given(cursor=cursors)
    def check(cursor):
        try:
            sid, key = decode_cursor(cursor, c, descending, sort)
        except InvalidRequest as e:
            assert e.detail.startswith(("cursor is not valid", "cursor was made for another sort order")), e.detail
            return
        assert type(sid) is int and 0 < sid < 2**63
        _assert_typed(c, order, key)

    check()


@pytest.mark.parametrize("dataset", DATASETS)
def test_any_since_decodes_to_snapshots_and_typed_order_values_or_is_a_400(decl, dataset):
    c = decl.contract(dataset)
    order = order_columns(c)

    @SETTINGS
    @given(since=sinces)
    def check(since):
        try:
            base, to, after = decode_since(since, c)
        except InvalidRequest as e:
            assert e.detail.startswith("since is not valid"), e.detail
            return
        for sid in (base, to):
            assert sid is None or (type(sid) is int and 0 < sid < 2**63)
        if after is not None:
            assert to is not None
            _assert_typed(c, order, after)

    check()


@pytest.mark.parametrize(("key", "why"), [
    (["371425", None, "x"], "as_of"),                          # a null (was a 500)
    ([None, None, None], "region"),
    (["371425", "2026-11-22", None], "device_id"),
    (["371425", "yesterday", "x"], "as_of"),                    # does not parse as a date
    (["371425", "2026-02-30", "x"], "as_of"),
    (["371425", 20261122, "x"], "as_of"),                       # not text
    (["371425", "2026-11-22"], "3"),                            # too few: the order has 3
    (["371425", "2026-11-22", "x", "y"], "3"),                  # too many
])
def test_a_forged_cursor_is_refused_saying_what_is_wrong(decl, key, why):
    c = decl.contract("camera_registry")
    with pytest.raises(InvalidRequest) as e:
        decode_cursor(_b64({"s": 1, "k": key}), c)
    _assert_says_what(e.value, "cursor is not valid")
    assert why in e.value.detail


@pytest.mark.parametrize(("sid", "why"), [(None, "snapshot"), ("1", "snapshot"), (True, "snapshot"),
                                          (1.5, "snapshot"), (-1, "snapshot"), (2**64, "snapshot")])
def test_a_cursor_with_a_forged_snapshot_is_refused(decl, sid, why):
    c = decl.contract("camera_registry")
    with pytest.raises(InvalidRequest) as e:
        decode_cursor(_b64({"s": sid, "k": ["371425", "2026-11-22", "x"]}), c)
    _assert_says_what(e.value, "cursor is not valid")
    assert why in e.value.detail


def test_an_int32_order_value_must_fit(decl):
    c = decl.contract("indicator_definitions")   # order: code, version (int32), definition_hash
    ok = encode_cursor(5, ["19", 2, "abc"])
    assert decode_cursor(ok, c) == (5, ["19", "2", "abc"])
    for bad in ("2147483648", "two", "1.5"):
        with pytest.raises(InvalidRequest, match="version"):
            decode_cursor(_b64({"s": 5, "k": ["19", bad, "abc"]}), c)


def test_a_zoned_time_in_a_cursor_is_taken_as_the_lake_time_it_names(decl):
    """Order values come back as the lake's own text (CST, no zone), so SQL and the
    in-memory runs read the same position."""
    c = decl.contract("camera_status")          # order: region, event_time, device_id, event_id
    _, key = decode_cursor(_b64({"s": 3, "k": ["371425", "2026-11-22T01:00:00Z", "d", "e"]}), c)
    assert key == ["371425", "2026-11-22 09:00:00", "d", "e"]


def test_a_since_round_trips_and_names_its_dataset(decl):
    c = decl.contract("camera_registry")
    done = encode_since("camera_registry", 7, None, None)
    assert decode_since(done, c) == (7, None, None)
    mid = encode_since("camera_registry", 7, 9, ["371425", date(2026, 11, 22), "x"])
    assert decode_since(mid, c) == (7, 9, ["371425", "2026-11-22", "x"])
    assert decode_since(encode_since("camera_registry", None, None, None), c) == (None, None, None)
    # one of another dataset is refused by name
    with pytest.raises(InvalidRequest) as e:
        decode_since(encode_since("camera_status", 7, None, None), c)
    _assert_says_what(e.value, "since is not valid")
    assert "camera_status" in e.value.detail and "camera_registry" in e.value.detail
    # one made before since named its dataset still works
    assert decode_since(_b64({"f": 7, "t": None, "k": None}), c) == (7, None, None)


@pytest.mark.parametrize(("obj", "why"), [
    ({"f": 7, "t": 9, "k": ["371425", None, "x"]}, "as_of"),          # a null
    ({"f": 7, "t": 9, "k": ["371425", "later", "x"]}, "as_of"),       # not a date
    ({"f": 7, "t": 9, "k": ["371425", "2026-11-22"]}, "3"),           # too few
    ({"f": 7, "t": None, "k": ["371425", "2026-11-22", "x"]}, "snapshot"),  # a position without its snapshot
    ({"f": "7", "t": None, "k": None}, "snapshot"),
    ({"f": True, "t": None, "k": None}, "snapshot"),
    ({"f": 7, "t": [], "k": None}, "snapshot"),
    ({"f": 7, "t": None, "k": "x"}, "list"),
    ({"s": 7, "k": ["371425", "2026-11-22", "x"]}, "cursor="),         # a records cursor given as since
    ({"t": 9}, "changes"),
])
def test_a_forged_since_is_refused_saying_what_is_wrong(decl, obj, why):
    with pytest.raises(InvalidRequest) as e:
        decode_since(_b64(obj), decl.contract("camera_registry"))
    _assert_says_what(e.value, "since is not valid")
    assert why in e.value.detail


def test_a_since_given_as_cursor_is_named(decl):
    with pytest.raises(InvalidRequest, match="since="):
        decode_cursor(encode_since("camera_registry", 7, None, None), decl.contract("camera_registry"))


def test_a_legitimate_cursor_of_every_order_type_round_trips(decl):
    for name in DATASETS:
        c = decl.contract(name)
        for sort in ("lake", "key"):
            sample = {"string": "371425", "date": date(2026, 11, 22), "timestamp": datetime(2026, 11, 22, 9, 30, 1, 5),
                      "int32": 2, "int64": 2**40}
            key = [sample[c.field(k).type] for k in order_columns(c, sort)]
            sid, got = decode_cursor(encode_cursor(42, key, sort=sort), c, sort=sort)
            assert sid == 42 and got == [str(v) for v in key]
