"""Masking personal fields in SQL (``cityhub.read.masking``), run with DuckDB: an ID
number keeps its first and last four characters, a name its first character, a
phone number its first three and last four digits, ``whole`` hides the value; a
value too short to keep any of it hidden is masked whole; NULL stays NULL; fields a
grant names, and public fields, are served in clear."""
from __future__ import annotations

from datetime import date
from typing import get_args

import duckdb
import pyarrow as pa
import pytest

from cityhub.declarations.contracts import Contract
from cityhub.declarations.fieldtypes import MaskKind
from cityhub.read.masking import MASKS, mask_expr, select_list

KINDS = get_args(MaskKind)


@pytest.fixture(scope="module")
def c() -> Contract:
    return Contract(name="people", version=1, key=("serial",), fields=[
        {"name": "serial", "type": "string"},
        {"name": "id_number", "type": "string", "sensitivity": "personal", "mask": "id_number"},
        {"name": "name", "type": "string", "sensitivity": "personal", "mask": "name"},
        {"name": "phone", "type": "string", "sensitivity": "personal", "mask": "phone"},
        {"name": "address", "type": "string", "sensitivity": "personal", "mask": "whole"},
        {"name": "birth_date", "type": "date", "sensitivity": "personal", "mask": "whole"},
        {"name": "income", "type": "float64", "sensitivity": "personal", "mask": "whole"},
    ])


def served(c: Contract, column: str, values: list, unmasked: frozenset[str] = frozenset()) -> list:
    """``values`` of ``column`` as a read serves them (the select list, run by DuckDB)."""
    table = pa.table({"serial": [f"{i:06d}" for i in range(len(values))],
                      column: pa.array(values, type=c.field(column).arrow_type)})
    con = duckdb.connect()
    try:
        con.register("t", table)
        out = con.sql(f"SELECT {select_list(c, ['serial', column], unmasked)} FROM t ORDER BY serial"
                      ).to_arrow_table()
    finally:
        con.close()
    assert out.column_names == ["serial", column]
    return out[column].to_pylist()


def test_every_declared_mask_kind_has_its_sql():
    assert set(MASKS) == set(KINDS) == {"id_number", "name", "phone", "whole"}


@pytest.mark.parametrize(("value", "masked"), [
    ("370102199001011234", "3701**********1234"),       # 18 characters: 10 hidden, length kept
    ("37010219900101123X", "3701**********123X"),
    ("370102900101123", "3701*******1123"),             # the old 15-character number
    ("37010290010112", "***"),                          # too short: masked whole
    ("", "***"),
    (None, None),
])
def test_an_id_number_keeps_its_first_and_last_four(c, value, masked):
    assert served(c, "id_number", [value]) == [masked]


@pytest.mark.parametrize(("value", "masked"), [
    ("张三", "张*"), ("欧阳娜娜", "欧***"), ("Li Lei", "L*****"),
    ("王", "*"), ("", "*"),                               # too short: masked whole
    (None, None),
])
def test_a_name_keeps_its_first_character(c, value, masked):
    assert served(c, "name", [value]) == [masked]


@pytest.mark.parametrize(("value", "masked"), [
    ("13812345678", "138****5678"),
    ("+8613812345678", "+86****5678"),
    ("0534-123456", "053****3456"),
    ("1381234567", "***"), ("", "***"),                   # too short: masked whole
    (None, None),
])
def test_a_phone_number_keeps_its_first_three_and_last_four(c, value, masked):
    assert served(c, "phone", [value]) == [masked]


@pytest.mark.parametrize(("column", "value"), [
    ("address", "德州市齐河县晏城街道 1 号"), ("address", "x"), ("address", ""),
    ("birth_date", date(1990, 1, 1)), ("income", 12345.5), ("income", 0.0),
])
def test_whole_hides_the_value_of_any_type(c, column, value):
    assert served(c, column, [value, None]) == ["***", None]


def test_fields_a_grant_names_and_public_fields_are_served_in_clear(c):
    value = "370102199001011234"
    assert served(c, "id_number", [value], unmasked=frozenset({"id_number"})) == [value]
    assert served(c, "id_number", [value], unmasked=frozenset({"name"})) == ["3701**********1234"]
    assert served(c, "birth_date", [date(1990, 1, 1)], unmasked=frozenset({"birth_date"})) == [date(1990, 1, 1)]
    assert mask_expr(c, "serial") == '"serial"'
    assert select_list(c, ["serial", "name"], frozenset({"name"})) == '"serial", "name"'


def test_many_rows_are_masked_alike(c):
    ids = [f"3701021990010{i:04d}X" for i in range(1000)]
    out = served(c, "id_number", ids)
    assert out == [f"{x[:4]}{'*' * 10}{x[-4:]}" for x in ids]
