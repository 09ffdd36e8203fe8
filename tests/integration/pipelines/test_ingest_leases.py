"""Two ingests on one hub never run the same connector at once: the second one skips
it, naming the holder; a killed holder's lease is taken at once on its host, and one
held from another host is waited out until it lapses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HOLD = """
import sys, time
from datetime import timedelta
from cityhub.core.settings import Settings
from cityhub.pipelines.ingest import leases
with leases.held(Settings(), sys.argv[1], ttl=timedelta(seconds=float(sys.argv[2]))) as busy:
    print(busy or "held", flush=True)
    time.sleep(600)
"""
CLI = str(Path(sys.executable).parent / "cityhub")
EVENT = {"event_id": "e1", "device_id": "37140200001320000001", "civil_code": "371402", "status": "ON",
         "event_time": "2026-11-22T08:00:00"}


def ingest(*names: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "ingest", *names], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "250"})


def test_a_second_ingest_skips_a_connector_another_process_runs(hub_home):
    drop = hub_home / "drop" / "cameras" / "status"
    drop.mkdir(parents=True)
    (drop / "status_1.jsonl").write_text(json.dumps(EVENT) + "\n", encoding="utf-8")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, "camera_status_drop", "1.5"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = ingest("camera_status_drop")
        assert second.returncode == 0, second.stdout + second.stderr  # skipped is not failed
        assert "already running elsewhere" in second.stdout and "skipped" in second.stdout
        assert (drop / "status_1.jsonl").exists()  # not touched while the other one runs
        time.sleep(2)  # longer than the lease: the heartbeat keeps it held
        assert "already running elsewhere" in ingest("camera_status_drop").stdout
    finally:
        holder.kill()  # a crash: no release
        holder.wait()
    # the killed holder's lease is taken at once (its process is gone), not after it lapses
    third = ingest("camera_status_drop")
    assert third.returncode == 0 and "already running" not in third.stdout, third.stdout
    assert not (drop / "status_1.jsonl").exists() and (drop / "archive" / "status_1.jsonl").exists()


def test_a_finished_run_releases_its_lease(hub_home):
    hub_home.mkdir(parents=True)
    first = subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(600)", "pass"), "camera_status_drop",
                            "600"], capture_output=True, text=True, timeout=120)
    assert first.stdout.strip() == "held", first.stderr
    again = ingest("camera_status_drop")
    assert again.returncode == 0 and "already running" not in again.stdout, again.stdout


def test_a_lease_held_from_another_host_is_respected_until_it_lapses(lake):
    from datetime import timedelta

    from sqlalchemy import insert, update

    from cityhub.core.time import now_cst
    from cityhub.lake.hubdb import connector_leases, engine
    from cityhub.pipelines.ingest.runner import run

    drop = lake.cfg.drop_root / "cameras" / "status"
    drop.mkdir(parents=True)
    (drop / "status_1.jsonl").write_text(json.dumps(EVENT) + "\n", encoding="utf-8")
    with engine(lake.cfg.hub_db_uri).begin() as con:
        con.execute(insert(connector_leases).values(connector="camera_status_drop", owner="airflow-7:42:abc",
                                                    expires_at=now_cst() + timedelta(minutes=1)))
    report = run(lake, "camera_status_drop")
    assert report.units == 0 and "airflow-7:42:abc" in report.skipped
    with engine(lake.cfg.hub_db_uri).begin() as con:
        con.execute(update(connector_leases).values(expires_at=now_cst() - timedelta(seconds=1)))
    assert run(lake, "camera_status_drop").landed == 1
