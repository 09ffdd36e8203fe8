"""``cityhub ingest`` runs every declared connector; one whose declaration is broken is
listed as not run and the exit code says so, and naming it says why it cannot run."""
from __future__ import annotations

import shutil

from typer.testing import CliRunner

from cityhub.cli.main import app
from cityhub.declarations.loading import packaged_root


def test_a_broken_connector_is_listed_and_fails_the_run_while_the_rest_run(hub_home, tmp_path):
    schemas = tmp_path / "schemas"
    shutil.copytree(packaged_root(), schemas)
    spec = schemas / "connectors" / "camera_registry.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("kind: file_drop", "kind: file_dorp"), encoding="utf-8")
    env = {"COLUMNS": "250", "CITYHUB_HOME": str(hub_home), "CITYHUB_DECLARATIONS": str(schemas)}

    r = CliRunner().invoke(app, ["ingest"], env=env)
    assert r.exit_code == 1, r.output
    assert "camera_registry" in r.output and "declaration broken" in r.output and "file_dorp" in r.output
    assert "camera_key_areas" in r.output  # the others ran (nothing to take, so 0 rows each)

    r = CliRunner().invoke(app, ["ingest", "camera_registry"], env=env)
    assert r.exit_code == 2
    assert "no connector 'camera_registry': it is broken" in r.output

    r = CliRunner().invoke(app, ["connectors", "status", "--json"], env=env)
    assert r.exit_code == 0 and '"declaration broken: connectors/camera_registry.yaml' in r.output
