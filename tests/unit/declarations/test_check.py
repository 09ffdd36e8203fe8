"""``cityhub check`` validates the whole declaration set: 0 when it is sound, 1 naming
every problem of every broken file (file, line, path, what is wrong)."""
from __future__ import annotations

import shutil

from typer.testing import CliRunner

from cityhub.cli.main import app
from cityhub.declarations.loading import packaged_root


def check(env: dict) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["check"], env={"COLUMNS": "200", **env})
    return r.exit_code, r.output


def test_the_installed_declarations_pass(tmp_path):
    code, out = check({"CITYHUB_HOME": str(tmp_path)})
    assert code == 0, out
    assert "ok:" in out and "connectors" in out


def test_a_broken_file_fails_naming_every_problem(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(packaged_root(), root)
    path = root / "connectors" / "camera_registry.yaml"
    text = path.read_text(encoding="utf-8").replace("freshness_hours: 36", "freshness_hours: soon\ncolour: red")
    path.write_text(text, encoding="utf-8")
    code, out = check({"CITYHUB_HOME": str(tmp_path), "CITYHUB_DECLARATIONS": str(root)})
    assert code == 1, out
    assert "connectors/camera_registry.yaml" in out
    assert "freshness_hours: Input should be a valid number" in out
    assert "colour: unknown key 'colour'" in out


def test_an_undeclared_city_fails(tmp_path):
    code, out = check({"CITYHUB_HOME": str(tmp_path), "CITYHUB_CITY": "379900"})
    assert code == 1 and "CITYHUB_CITY=379900 is not declared" in out


def test_a_mapping_function_that_does_not_exist_fails(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(packaged_root(), root)
    path = root / "connectors" / "camera_registry.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("cameras:registry", "cameras:registri"),
                    encoding="utf-8")
    code, out = check({"CITYHUB_HOME": str(tmp_path), "CITYHUB_DECLARATIONS": str(root)})
    assert code == 1 and "cameras:registri" in out and "cannot be found" in out
