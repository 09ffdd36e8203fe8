"""``open_data:`` in ``catalog.yaml``: the licence and contact open data is described
with to other portals, checked like every declaration."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cityhub.declarations import load
from cityhub.declarations.loading import packaged_root


@pytest.fixture
def schemas(tmp_path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(packaged_root(), root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return root


def edit(root: Path, old: str, new: str) -> None:
    path = root / "catalog.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_installed_catalogue_declares_a_licence_and_a_contact():
    od = load().catalogue.open_data
    assert od.licence is not None and od.licence.id == "cc-by"
    assert od.licence.uri == "https://creativecommons.org/licenses/by/4.0/"
    assert od.contact == "big_data_bureau" and od.contact_email is None


def test_an_unknown_contact_is_named_and_left_out_the_rest_stays(schemas):
    edit(schemas, "  contact: big_data_bureau\n", "  contact: open_data_office\n")
    decl = load(schemas)
    (p,) = decl.problems
    assert (p.file, p.path) == ("catalog.yaml", "open_data.contact") and "open_data_office" in p.message
    assert decl.catalogue.open_data.contact is None and decl.catalogue.open_data.licence is not None
    assert len(decl.catalogue.categories) >= 60


def test_a_licence_needs_a_uri_and_a_usable_id(schemas):
    edit(schemas, "    uri: https://creativecommons.org/licenses/by/4.0/\n", "    uri: CC BY 4.0\n")
    edit(schemas, "    id: cc-by\n", "    id: cc by\n")
    decl = load(schemas)
    assert {p.path for p in decl.problems} == {"open_data.licence.uri", "open_data.licence.id"}
    assert all(p.line for p in decl.problems)
    # the catalogue itself stands: only the open-data description is left out (no licence claimed)
    assert decl.catalogue.open_data.licence is None and len(decl.catalogue.categories) >= 60
    assert "open_data" in decl.disabled


def test_without_open_data_no_licence_is_claimed(schemas):
    path = schemas / "catalog.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("\nopen_data:")
    end = text.index("\ndepartments:")
    path.write_text(text[:start] + "\n" + text[end:], encoding="utf-8")
    decl = load(schemas)
    assert decl.problems == ()
    assert decl.catalogue.open_data.licence is None and decl.catalogue.open_data.contact is None
