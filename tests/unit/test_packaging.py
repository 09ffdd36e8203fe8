"""pyproject.toml lists the packages (not found automatically: the declarations in
``schemas/`` are mapped in as ``cityhub.schemas``); a package left off the list, or a
declaration no package-data pattern matches, would be missing from the wheel while the
editable install of the checkout still works. ``tests/e2e/test_wheel.py`` builds the
wheel and runs it; this checks the list itself, fast."""
from __future__ import annotations

import tomllib
from glob import glob
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setuptools_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _packages_under(root: Path, name: str) -> set[str]:
    """Every directory with an ``__init__.py`` under ``root`` (``root`` itself included), as
    the dotted package name it gets when ``root`` is package ``name``."""
    return {".".join([name, *init.parent.relative_to(root).parts]) for init in root.rglob("__init__.py")
            if "__pycache__" not in init.parts}


def test_the_packages_are_exactly_those_under_src_plus_the_declarations(setuptools_config):
    listed = setuptools_config["packages"]
    assert len(listed) == len(set(listed)), "a package is listed twice"
    found = _packages_under(REPO / "src" / "cityhub", "cityhub") | _packages_under(REPO / "schemas", "cityhub.schemas")
    assert "cityhub.schemas" in found
    assert set(listed) == found, {"not listed": sorted(found - set(listed)), "no such package": sorted(set(listed) - found)}


def test_the_declarations_package_is_mapped_to_schemas(setuptools_config):
    assert setuptools_config["package-dir"] == {"": "src", "cityhub.schemas": "schemas"}


def test_every_folder_of_modules_under_src_is_a_package():
    """A folder of modules without ``__init__.py`` would be a namespace package: importable
    from the checkout, missing from the wheel."""
    without = sorted(str(d.relative_to(REPO)) for d in {p.parent for p in (REPO / "src" / "cityhub").rglob("*.py")}
                     if "__pycache__" not in d.parts and not (d / "__init__.py").is_file())
    assert without == []


def test_every_declaration_file_matches_the_package_data_patterns(setuptools_config):
    """Matched the way setuptools' build_py matches them: ``glob(recursive=True)`` under
    the package's folder."""
    patterns = setuptools_config["package-data"]["cityhub.schemas"]
    root = REPO / "schemas"
    shipped = {Path(f).resolve() for pattern in patterns for f in glob(str(root / pattern), recursive=True)}
    declarations = {p.resolve() for p in root.rglob("*.yaml")} | {p.resolve() for p in root.rglob("*.yml")}
    assert declarations, "no declaration files found"
    assert sorted(str(p.relative_to(root)) for p in declarations - shipped) == []
