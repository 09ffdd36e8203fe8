"""A contract's new version that adds fields evolves the lake's table: rows landed before
read the new fields as null, rows landed after carry them; a new required field is refused."""
from __future__ import annotations

import shutil
from datetime import date

import pyarrow as pa
import pytest

from cityhub.core.errors import DeclarationError
from cityhub.declarations import load
from cityhub.declarations.loading import packaged_root
from cityhub.lake import Lake

TOWNSHIP = "  - name: township_code\n"


def declarations(tmp_path, name: str, with_township: bool, required: bool = False):
    root = tmp_path / name
    shutil.copytree(packaged_root(), root)
    path = root / "contracts" / "key_areas.yaml"
    text = path.read_text(encoding="utf-8")
    head, tail = text.split(TOWNSHIP)
    block = TOWNSHIP + tail
    if not with_township:
        text = head.replace("version: 2", "version: 1")
    elif required:
        text = head + block.replace("nullable: true", "nullable: false", 1)
    path.write_text(text, encoding="utf-8")
    return load(root)


def rows(decl, day: date, township: str | None) -> pa.Table:
    c = decl.contract("key_areas")
    row = {"area_id": f"A{day.day}", "name": "车站", "kind": "station", "region": "371402", "longitude": 116.3,
           "latitude": 37.4, "as_of": day}
    if c.has("township_code"):
        row["township_code"] = township
    return pa.Table.from_pylist([row], schema=c.arrow_schema())


def test_an_added_field_evolves_the_table_and_old_rows_read_it_as_null(cfg, tmp_path):
    v1 = declarations(tmp_path, "v1", with_township=False)
    assert not v1.contract("key_areas").has("township_code")
    old = Lake(cfg, v1)
    old.commit("key_areas", rows(v1, date(2026, 11, 21), None), connector="t", batch_id="1")

    v2 = declarations(tmp_path, "v2", with_township=True)
    new = Lake(cfg, v2)
    # before anything lands under v2, the old files already read with the new field
    assert new.query("SELECT township_code FROM key_areas", ["key_areas"]).to_pylist() == [{"township_code": None}]
    new.commit("key_areas", rows(v2, date(2026, 11, 22), "371402001"), connector="t", batch_id="2")
    assert "township_code" in new.table("key_areas").schema().column_names
    got = new.query("SELECT area_id, township_code FROM key_areas ORDER BY area_id", ["key_areas"]).to_pylist()
    assert got == [{"area_id": "A21", "township_code": None}, {"area_id": "A22", "township_code": "371402001"}]


def test_a_new_required_field_is_refused_naming_it(cfg, tmp_path):
    v1 = declarations(tmp_path, "v1", with_township=False)
    Lake(cfg, v1).commit("key_areas", rows(v1, date(2026, 11, 21), None), connector="t", batch_id="1")
    v2 = declarations(tmp_path, "v2", with_township=True, required=True)
    with pytest.raises(DeclarationError) as e:
        Lake(cfg, v2).table("key_areas")
    assert "adds required field(s) township_code" in e.value.detail
