"""Corrected deliveries: a re-delivered file (same name or same keys) with changed rows
replaces the landed versions — the newest version of a key wins, the replaced rows stay
readable at the earlier snapshot, ``/changes`` reports the correction as an upsert — and
the run, the CLI and ``connectors status`` count the corrected rows. An identical
re-delivery adds nothing; within one delivery the newest version of an item stands."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityhub.cli.main import app
from cityhub.connectors.sources import file_drop
from cityhub.lake import Lake
from cityhub.pipelines.ingest import runs
from cityhub.pipelines.ingest.runner import run
from cityhub.pipelines.ingest.status import status
from tests.support import auth, token

REGISTRY = "camera_registry"
HEADER = "device_id,name,region,township_code,key_area_id,resolution,longitude,latitude,owner,install_date,address"
DECHENG = "371402"


def camera(n: int, name: str | None = None, region: str = DECHENG) -> str:
    """A registry line; ``region`` other than the device's county spoils it (prefix mismatch)."""
    return (f"{DECHENG}0000131{n:07d},{name or f'camera {n}'},{region},,,1920x1080,116.30,37.45,"
            f"police,2020-01-0{1 + n % 9},road {n}")


def drop(lake: Lake, connector: str = REGISTRY) -> Path:
    where = file_drop.folder(lake.decl.connector(connector), lake.cfg)
    where.mkdir(parents=True, exist_ok=True)
    return where


def deliver(lake: Lake, file: str, lines: list[str]) -> Path:
    p = drop(lake) / file
    p.write_text(HEADER + "\n" + "".join(line + "\n" for line in lines), encoding="utf-8")
    return p


def names(lake: Lake, snapshot: int | None = None) -> dict[str, str]:
    con, _ = lake.connect([REGISTRY], {REGISTRY: snapshot} if snapshot else None)
    try:
        return dict(con.execute(f"SELECT device_id, name FROM {REGISTRY}").fetchall())
    finally:
        con.close()


def device(n: int) -> str:
    return f"{DECHENG}0000131{n:07d}"


def changes(api, tok: str, since: str | None = None) -> tuple[list[dict], list[dict], str]:
    upserts, deletes = [], []
    while True:
        r = api.get(f"/v1/datasets/{REGISTRY}/changes", headers=auth(tok),
                    params={"limit": 1000, **({"since": since} if since else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        upserts += body["records"]
        deletes += body["deleted"]
        since = body["next_cursor"]
        if not body["has_more"]:
            return upserts, deletes, since


def test_a_corrected_file_replaces_the_landed_row_and_history_keeps_the_old_one(lake, api, cfg, decl):
    tok = token(cfg, decl, "decheng-app", "county", DECHENG)
    deliver(lake, "registry_20261122.csv", [camera(n) for n in range(1, 6)])
    first = run(lake, REGISTRY)
    assert (first.landed, first.corrected, first.already_landed) == (5, 0, 0)
    before = lake.snapshot_id(REGISTRY)
    _, _, since = changes(api, tok)

    # the department sends the day's registry again, under the same name, one name fixed
    deliver(lake, "registry_20261122.csv", [camera(n, "gate 3 (fixed)" if n == 3 else None) for n in range(1, 6)])
    second = run(lake, REGISTRY)
    assert (second.landed, second.corrected, second.already_landed, second.quarantined) == (1, 1, 4, 0)

    now = names(lake)
    assert len(now) == 5 and now[device(3)] == "gate 3 (fixed)"
    assert lake.query(f"SELECT count(*) AS n FROM {REGISTRY}", [REGISTRY])["n"][0].as_py() == 5  # replaced, not added
    assert names(lake, before)[device(3)] == "camera 3"  # the earlier snapshot still has it

    upserts, deletes, _ = changes(api, tok, since)
    assert [(r["device_id"], r["name"]) for r in upserts] == [(device(3), "gate 3 (fixed)")] and not deletes

    # the run record, connectors status and the CLI say how many rows were corrected
    assert runs.recent(cfg, REGISTRY)[0]["corrected"] == 1
    assert {r["connector"]: r for r in status(lake)}[REGISTRY]["corrected"] == 1
    fixed = {3: "gate 3 (fixed)", 4: "gate 4 (fixed)"}
    deliver(lake, "registry_20261122.csv", [camera(n, fixed.get(n)) for n in range(1, 6)])
    r = CliRunner().invoke(app, ["ingest", REGISTRY], env={"COLUMNS": "250", "CITYHUB_HOME": str(cfg.home)})
    assert r.exit_code == 0, r.output
    header = next(line for line in r.output.splitlines() if "corrected" in line)
    row = next(line for line in r.output.splitlines() if REGISTRY in line)
    cells = dict(zip([c.strip() for c in re.split("[│┃]", header)], [c.strip() for c in row.split("│")]))
    assert (cells["landed"], cells["corrected"], cells["already landed"]) == ("1", "1", "4"), r.output


def test_an_identical_redelivery_adds_and_corrects_nothing(lake):
    lines = [camera(n) for n in range(1, 6)]
    deliver(lake, "registry_20261122.csv", lines)
    assert run(lake, REGISTRY).landed == 5
    snap = lake.snapshot_id(REGISTRY)

    deliver(lake, "registry_20261122.csv", lines)  # same name, same bytes: taken already
    same_name = run(lake, REGISTRY)
    assert (same_name.landed, same_name.corrected, same_name.quarantined) == (0, 0, 0)
    deliver(lake, "registry_20261122_resent.csv", lines)  # another name, same rows
    renamed = run(lake, REGISTRY)
    assert (renamed.landed, renamed.corrected, renamed.already_landed, renamed.quarantined) == (0, 0, 5, 0)
    assert lake.query(f"SELECT count(*) AS n FROM {REGISTRY}", [REGISTRY])["n"][0].as_py() == 5
    assert names(lake) == names(lake, snap)


def test_a_crash_around_the_correction_neither_loses_nor_duplicates(lake, monkeypatch):
    deliver(lake, "registry_20261122.csv", [camera(n) for n in range(1, 6)])
    run(lake, REGISTRY)
    fixed = [camera(n, "fixed" if n == 2 else None) for n in range(1, 6)]

    # before the data commit: nothing changed, the next run corrects
    deliver(lake, "registry_20261122.csv", fixed)
    with monkeypatch.context() as m:
        m.setattr(Lake, "replace", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt("power cut")))
        with pytest.raises(KeyboardInterrupt):
            run(lake, REGISTRY)
    assert names(lake)[device(2)] == "camera 2"
    again = run(lake, REGISTRY)
    assert (again.landed, again.corrected) == (1, 1)

    # after the commit, before the file is archived: the next run archives it, lands nothing
    fixed = [camera(n, "fixed again" if n == 2 else None) for n in range(1, 6)]
    deliver(lake, "registry_20261122.csv", fixed)
    with monkeypatch.context() as m:
        m.setattr(file_drop, "archive", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt("power cut")))
        with pytest.raises(KeyboardInterrupt):
            run(lake, REGISTRY)
    after = run(lake, REGISTRY)
    assert (after.units, after.landed, after.corrected) == (0, 0, 0)
    assert not (drop(lake) / "registry_20261122.csv").exists()
    rows = lake.query(f"SELECT device_id, name FROM {REGISTRY}", [REGISTRY]).to_pylist()
    assert len(rows) == 5 and {r["device_id"]: r["name"] for r in rows}[device(2)] == "fixed again"


def test_within_one_delivery_the_newest_version_stands_and_the_older_is_quarantined(lake):
    deliver(lake, "registry_20261122.csv",
            [camera(1), camera(2, "first try"), camera(3), camera(2, "second try"), camera(1)])
    report = run(lake, REGISTRY)
    assert (report.landed, report.corrected, report.quarantined) == (3, 1, 2)
    assert names(lake)[device(2)] == "second try"
    q = lake.query("SELECT record_key, reason, raw FROM quarantine ORDER BY record_key", ["quarantine"]).to_pylist()
    assert [(r["record_key"].split("|")[0], r["reason"].split(" ")[1]) for r in q] == [
        (device(1), f"device_id+as_of={device(1)}|2026-11-22"), (device(2), f"device_id+as_of={device(2)}|2026-11-22")]
    assert "repeats the item at registry_20261122.csv" in q[0]["reason"]
    assert "older version" in q[1]["reason"] and "first try" in q[1]["raw"]


def intersection(updated_at: str, name: str) -> dict:
    return {"id": "I1", "name": name, "region": DECHENG, "major_road": "Dongfeng Rd", "minor_road": "Hubin Rd",
            "road_class": "major", "signalised": True, "epolice": False, "control_mode": "fixed_time",
            "online": True, "updated_at": updated_at}


def test_within_one_delivery_a_declared_version_field_decides_not_the_row_order(lake):
    """traffic_intersections lists each intersection once per export, its versions told apart by
    updated_at (its key beyond its batch key): the later updated_at stands wherever it is."""
    spec = lake.decl.connector("traffic_intersections_drop")
    where = file_drop.folder(spec, lake.cfg)
    where.mkdir(parents=True, exist_ok=True)
    (where / "inventory_20261122.json").write_text(json.dumps({"items": [
        intersection("2026-11-22T10:00:00", "newer"), intersection("2026-11-22T08:00:00", "older")]}), encoding="utf-8")
    report = run(lake, spec.name)
    assert (report.landed, report.corrected, report.quarantined) == (1, 1, 1)
    rows = lake.query("SELECT name, updated_at FROM traffic_intersections", ["traffic_intersections"]).to_pylist()
    assert [(r["name"], str(r["updated_at"])) for r in rows] == [("newer", "2026-11-22 10:00:00")]
    q = lake.query("SELECT reason, raw FROM quarantine", ["quarantine"]).to_pylist()
    assert len(q) == 1 and "older version" in q[0]["reason"] and "older" in q[0]["raw"]


def test_a_correction_lands_for_a_key_whose_first_version_was_quarantined(lake):
    deliver(lake, "registry_20261122.csv", [camera(1), camera(2, region="371425")])  # 2: prefix mismatch
    first = run(lake, REGISTRY)
    assert (first.landed, first.quarantined) == (1, 1)
    deliver(lake, "registry_20261122.csv", [camera(1), camera(2, "fixed")])
    second = run(lake, REGISTRY)
    # nothing of key 2 was landed, so it lands as new; key 1 is unchanged
    assert (second.landed, second.corrected, second.already_landed, second.quarantined) == (1, 0, 1, 0)
    assert names(lake) == {device(1): "camera 1", device(2): "fixed"}


def test_the_fhir_drop_takes_bulk_data_ndjson_beside_bundles(lake):
    """A FHIR Bulk Data ``$export`` file (``Organization....ndjson``, one resource a line) in
    the registry drop lands like a Bundle file does; nothing else in the folder is taken."""
    from cityhub_sim.medical import MedicalConfig, generate

    world = generate(MedicalConfig(institutions_per_county=4, fault_rate=0, bundle_size=20))
    spec = lake.decl.connector("medical_institutions_drop")
    where = file_drop.folder(spec, lake.cfg)
    where.mkdir(parents=True, exist_ok=True)
    bundle, resources = world.organizations[:20], world.organizations[20:]  # bundles[0]: the first 20
    (where / "organizations_371400_20261122_b0001.json").write_bytes(world.bundles[0])
    (where / "Organization_371400_20261122.ndjson").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in resources), encoding="utf-8")
    (where / "notes_20261122.txt").write_text("not a delivery", encoding="utf-8")

    report = run(lake, spec.name)
    assert (report.landed, report.quarantined) == (len(bundle) + len(resources), 0)
    landed = set(lake.query("SELECT uscc FROM medical_institutions", ["medical_institutions"])["uscc"].to_pylist())
    assert {r["identifier"][0]["value"] for r in resources} <= landed
    assert (where / "notes_20261122.txt").exists() and not (where / "Organization_371400_20261122.ndjson").exists()


def test_an_http_catalogue_fetched_again_with_a_changed_status_corrects_that_device(lake, cfg, decl):
    """The HTTP connectors land through the same path: a second fetch of the day's catalogue
    where one camera went OFF replaces that camera's row; the rest is already landed."""
    from datetime import date

    from cityhub_sim.cameras import SimConfig, generate, serve_catalog

    day = date(2026, 11, 22)
    world = generate(SimConfig(cameras_per_county=5, key_areas_per_county=2, day=day, fault_rate=0, page_size=20))
    pages = list(world.catalog_pages)
    changed = pages[0].replace(b"<Status>ON</Status>", b"<Status>OFF</Status>", 1)
    assert changed != pages[0]
    reports = []
    for port, served in ((18711, pages), (18712, [changed, *pages[1:]])):
        server, url = serve_catalog(served, port=port)
        try:
            reports.append(run(Lake(cfg.with_connector("camera_catalog_http", url=url), decl),
                               "camera_catalog_http", as_of=day))
        finally:
            server.shutdown()
    first, second = reports
    assert first.landed > 1 and first.corrected == 0
    assert (second.landed, second.corrected, second.already_landed) == (1, 1, first.landed - 1)
    rows = lake.query("SELECT status, count(*) AS n FROM camera_catalog GROUP BY status", ["camera_catalog"])
    assert sum(rows["n"].to_pylist()) == first.landed
