"""Record filters (``cityhub.read.filters``): a client's text becomes a typed value of
the field's type or a 400 saying what was expected; ``in:`` takes 1 to 1000 values;
unknown and not-filterable fields are refused; a masked personal field is refused
with Forbidden (filtering on it would reveal it)."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from cityhub.core.errors import Forbidden, InvalidRequest
from cityhub.declarations.contracts import Contract
from cityhub.read.filters import (
    MAX_IN,
    OPS,
    RESERVED,
    Filter,
    parse_filters,
    typed_value,
)

TYPES = ("string", "int32", "int64", "float64", "bool", "date", "timestamp")


@pytest.fixture(scope="module")
def c() -> Contract:
    """A contract with a filterable field of every type, a personal field that is
    filterable once unmasked, a personal one that never is, and a plain one."""
    fields = [{"name": f"f_{t}", "type": t, "filterable": True} for t in TYPES]
    fields += [{"name": "person_id", "type": "string", "filterable": True, "sensitivity": "personal",
                "mask": "id_number"},
               {"name": "phone", "type": "string", "sensitivity": "personal", "mask": "phone"},
               {"name": "note", "type": "string"}]
    return Contract(name="sample", version=1, key=("f_string",), fields=fields)


def one(c: Contract, name: str, raw: str, **kw) -> Filter:
    (f,) = parse_filters(c, [(name, raw)], **kw)
    return f


@pytest.mark.parametrize(("type_", "raw", "value"), [
    ("string", "web", "web"),
    ("string", "", ""),
    ("int32", "42", 42),
    ("int32", "-7", -7),
    ("int64", str(2**62), 2**62),
    ("float64", "1.5", 1.5),
    ("float64", "-2", -2.0),
    ("bool", "true", True),
    ("bool", "FALSE", False),
    ("date", "2026-11-22", date(2026, 11, 22)),
    ("timestamp", "2026-11-22T12:00:00", datetime(2026, 11, 22, 12)),
    # the lake keeps China Standard Time without a zone: a zoned value is the same instant in CST
    ("timestamp", "2026-11-22T04:00:00Z", datetime(2026, 11, 22, 12)),
    ("timestamp", "2026-11-22T12:00:00+08:00", datetime(2026, 11, 22, 12)),
    ("timestamp", "2026-11-21T23:00:00-05:00", datetime(2026, 11, 22, 12)),
])
def test_a_value_becomes_the_fields_type(c, type_, raw, value):
    got = typed_value(c, f"f_{type_}", raw)
    assert got == value and type(got) is type(value)
    assert one(c, f"f_{type_}", raw) == Filter(f"f_{type_}", "eq", (value,))


@pytest.mark.parametrize(("type_", "raw"), [
    ("int32", "1.5"), ("int64", "x"), ("int64", ""), ("float64", "abc"), ("bool", "yes"), ("bool", "1"),
    ("date", "2026-13-01"), ("date", "yesterday"), ("timestamp", "yesterday"),
    # out of range once converted to CST
    ("timestamp", "0001-01-01T00:00:00+14:00"), ("timestamp", "9999-12-31T23:59:59-12:00"),
])
def test_a_value_not_of_the_fields_type_is_refused_saying_what_was_expected(c, type_, raw):
    with pytest.raises(InvalidRequest) as e:
        parse_filters(c, [(f"f_{type_}", f"ge:{raw}")])
    assert f"f_{type_}" in e.value.detail and repr(raw) in e.value.detail
    assert {"int32": "integer", "int64": "integer", "float64": "number", "bool": "true or false",
            "date": "YYYY-MM-DD", "timestamp": "China Standard Time"}[type_] in e.value.detail


@pytest.mark.parametrize("op", sorted(set(OPS) - {"in"}))
def test_each_operator_takes_one_typed_value(c, op):
    assert one(c, "f_int64", f"{op}:5") == Filter("f_int64", op, (5,))


def test_text_before_a_colon_that_is_no_operator_is_part_of_the_value(c):
    assert one(c, "f_string", "xx:y") == Filter("f_string", "eq", ("xx:y",))
    assert one(c, "f_string", "eq:") == Filter("f_string", "eq", ("",))
    assert one(c, "f_timestamp", "2026-11-22T10:00:00") == Filter("f_timestamp", "eq", (datetime(2026, 11, 22, 10),))


def test_in_takes_one_to_a_thousand_typed_values(c):
    assert MAX_IN == 1000
    assert one(c, "f_string", "in:web,app") == Filter("f_string", "in", ("web", "app"))
    assert one(c, "f_int32", "in:1,,2,") == Filter("f_int32", "in", (1, 2))      # empty items are dropped
    many = ",".join(str(i) for i in range(MAX_IN))
    assert one(c, "f_int64", f"in:{many}").values == tuple(range(MAX_IN))
    for raw in ("in:", "in:,,", f"in:{many},{MAX_IN}"):
        with pytest.raises(InvalidRequest) as e:
            parse_filters(c, [("f_int64", raw)])
        assert "f_int64=in:" in e.value.detail and str(MAX_IN) in e.value.detail
    with pytest.raises(InvalidRequest, match="f_int32: 'x' is not an integer"):
        parse_filters(c, [("f_int32", "in:1,x")])


def test_several_filters_and_the_reserved_parameters(c):
    params = [(name, "x") for name in sorted(RESERVED)]
    params += [("f_date", "ge:2026-11-01"), ("f_date", "lt:2026-12-01"), ("f_bool", "true")]
    assert parse_filters(c, params) == (Filter("f_date", "ge", (date(2026, 11, 1),)),
                                        Filter("f_date", "lt", (date(2026, 12, 1),)), Filter("f_bool", "eq", (True,)))


def test_an_unknown_field_is_refused_by_name(c):
    with pytest.raises(InvalidRequest) as e:
        parse_filters(c, [("f_string", "web"), ("nope", "x")])
    assert "'nope'" in e.value.detail and "sample" in e.value.detail


def test_a_masked_personal_field_cannot_be_filtered_on(c):
    for name in ("person_id", "phone"):
        with pytest.raises(Forbidden) as e:
            parse_filters(c, [(name, "370102199001011234")])
        assert name in e.value.detail and "personal" in e.value.detail
    # once a grant names it, it is served in clear and may be filtered on (if declared filterable)
    assert one(c, "person_id", "in:a,b", unmasked=frozenset({"person_id"})) == Filter("person_id", "in", ("a", "b"))
    with pytest.raises(InvalidRequest, match="phone cannot be filtered on"):
        parse_filters(c, [("phone", "138")], unmasked=frozenset({"phone"}))


def test_a_field_not_declared_filterable_is_refused_naming_those_that_are(c):
    with pytest.raises(InvalidRequest) as e:
        parse_filters(c, [("note", "x")])
    assert "note cannot be filtered on" in e.value.detail
    assert all(f"f_{t}" in e.value.detail for t in TYPES) and "person_id" in e.value.detail


def test_open_data_filters_only_its_open_fields(c):
    assert one(c, "f_string", "web", allowed={"f_string"}) == Filter("f_string", "eq", ("web",))
    with pytest.raises(InvalidRequest, match="f_int32 is not open data"):
        parse_filters(c, [("f_int32", "1")], allowed={"f_string"})


def test_a_declared_contracts_masked_field_is_refused(decl):
    ssr = decl.contract("social_security_records")
    with pytest.raises(Forbidden, match="id_number"):
        parse_filters(ssr, [("id_number", "370102199001011234")])
    assert parse_filters(ssr, [("channel", "in:web,app")]) == (Filter("channel", "in", ("web", "app")),)
