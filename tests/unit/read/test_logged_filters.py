"""Personal values in the filters the audit log keeps (``cityhub.read.masking``): masked
by the field's declared mask, in Python exactly as SQL masks rows, refused queries and
served filters alike; a citizen ID number is masked whatever field it was typed into."""
from __future__ import annotations

import duckdb
import pytest

from cityhub.core.identifiers import id_check_char
from cityhub.read.masking import MASKS, logged_filters, mask_ids, mask_text

ID = "37142519800101123" + id_check_char("37142519800101123")
ID_MASKED = ID[:4] + "*" * 10 + ID[-4:]


@pytest.mark.parametrize("kind", sorted(MASKS))
@pytest.mark.parametrize("value", ["", "a", "张", "张三", "欧阳娜娜", "1380013", "13800138000", "+8613800138000",
                                   "37142519800101", "371425198001011", ID, "x" * 40])
def test_python_masks_as_sql_does(kind, value):
    sql = duckdb.execute(f"SELECT {MASKS[kind].format(c='v')} FROM (SELECT ?::VARCHAR AS v)", [value]).fetchone()[0]
    assert mask_text(kind, value) == sql


@pytest.fixture(scope="module")
def ssr(decl):
    return decl.contract("social_security_records")   # id_number, name, phone personal; serial, channel not


def test_a_refused_query_keeps_names_and_masks_personal_values(ssr):
    logged = logged_filters(ssr, {"region": "371425", "query": [
        ("id_number", ID), ("id_number", f"in:{ID},{ID[:-1]}0"), ("name", "ge:张三丰"), ("phone", "13800138000"),
        ("channel", "web"), ("serial", f"ne:{ID}"), ("idno", ID), ("limit", "10"), ("fields", f"serial,{ID}")]})
    assert logged == {"region": "371425", "query": [
        ["id_number", ID_MASKED], ["id_number", f"in:{ID_MASKED},{ID[:4]}{'*' * 10}{ID[-4:-1]}0"],
        ["name", "ge:张**"], ["phone", "138****8000"],
        ["channel", "web"],                      # not personal: as asked
        ["serial", f"ne:{ID_MASKED}"],            # not personal, but an ID number typed into it
        ["idno", "***"],                         # no field of the dataset: nothing says what it holds
        ["limit", "10"], ["fields", f"serial,{ID_MASKED}"]]}


def test_served_filters_mask_personal_values_too(ssr):
    # a grant that names a field in clear lets it be filtered on; the log still masks it
    logged = logged_filters(ssr, {"where": [["id_number", "eq", [ID]], ["channel", "in", ["web", "app"]],
                                            ["serial", "eq", [ID]]], "unmasked": ["id_number"], "limit": 5})
    assert logged == {"where": [["id_number", "eq", [ID_MASKED]], ["channel", "in", ["web", "app"]],
                                ["serial", "eq", [ID_MASKED]]], "unmasked": ["id_number"], "limit": 5}


def test_a_long_query_is_cut_after_masking(ssr):
    logged = logged_filters(ssr, {"query": [("id_number", ID * 30)] + [("x", "y")] * 100})
    assert logged["query"][0][1].startswith(ID[:4] + "*") and len(logged["query"][0][1]) == 200
    assert len(logged["query"]) == 50


def test_only_valid_citizen_ids_are_masked_outside_personal_fields():
    assert mask_ids(f"a {ID} b") == f"a {ID_MASKED} b"
    assert mask_ids(ID[:-1] + ("0" if ID[-1] != "0" else "1")) != ID_MASKED    # a wrong check character
    assert mask_ids("371425198001011234567") == "371425198001011234567"         # part of a longer number
    assert mask_ids("2026-11-22") == "2026-11-22"
