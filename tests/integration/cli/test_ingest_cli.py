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


def test_a_connector_failing_at_run_time_is_listed_while_the_next_one_lands(hub_home):
    """The first connector's source refuses the hub (HTTP 401) mid-run; the one after it
    still lands its drop, the failure is listed, and the exit code is 1."""
    from cityhub_sim.common import serve_http

    server, url = serve_http({"/catalog": lambda q: (401, b'{"error": "token expired"}', "application/json")})
    drop = hub_home / "drop" / "cameras" / "status"
    env = {"COLUMNS": "250", "CITYHUB_HOME": str(hub_home), "CITYHUB_DROP": str(hub_home / "drop"),
           "CITYHUB_CAMERA_CATALOG_HTTP_URL": url}
    drop.mkdir(parents=True)
    (drop / "status_1.jsonl").write_text(
        '{"event_id": "e1", "device_id": "37140200001320000001", "civil_code": "371402", "status": "ON", '
        '"event_time": "2026-11-22T08:00:00"}\n', encoding="utf-8")
    try:
        r = CliRunner().invoke(app, ["ingest", "camera_catalog_http", "camera_status_drop"], env=env)
    finally:
        server.shutdown()
    assert r.exit_code == 1, r.output
    failed = [line for line in r.output.splitlines() if "camera_catalog_http" in line]
    assert failed and "failed" in failed[0] and "401" in r.output
    landed = [line for line in r.output.splitlines() if "camera_status_drop" in line]
    assert landed and landed[0].split("│")[4].strip() == "1", r.output  # its one row landed


def test_what_ingest_writes_is_readable_by_the_hub_user_alone(cfg, hub_home):
    """Lake files, the hub DB and archived deliveries hold personal data: 0600 files,
    0700 folders (the `cityhub` script as an operator runs it, in a process of its own)."""
    import os
    import stat
    import subprocess
    import sys

    from cityhub_sim import social_security

    sw = social_security.generate(social_security.SocialSecurityConfig(days=1, records_per_day=50))
    social_security.write_drop(sw, cfg.drop_root)
    done = subprocess.run([sys.executable, "-m", "cityhub.cli.main", "ingest", "social_security_records_drop"],
                          env={**os.environ, "CITYHUB_HOME": str(hub_home)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    made = list(hub_home.rglob("*"))  # the drop folders are the simulator's (this process): not judged
    parquet = [p for p in made if p.suffix == ".parquet"]
    archived = [p for p in made if "archive" in p.parts and p.is_file()]
    assert parquet and archived and (hub_home / "hub.db").exists()
    for p in [*parquet, hub_home / "hub.db", *archived]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, (p, oct(p.stat().st_mode))
    for d in (q for q in made if q.is_dir() and ("lake" in q.parts or "archive" in q.parts)):
        assert stat.S_IMODE(d.stat().st_mode) & 0o077 == 0, (d, oct(d.stat().st_mode))
