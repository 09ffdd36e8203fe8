"""Camera connectors end to end on simulated feeds: every injected fault lands in
quarantine with its reason, good rows land, re-runs add nothing, and a crash
between the quarantine commit and the data commit neither loses nor duplicates."""
from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run, run_all
from cityhub_sim.cameras import SimConfig, generate, serve_catalog, write_drop

DAY = date(2026, 11, 22)
EXPECTED_CODE = {
    "duplicate_item": "duplicate_key",
    "device_id_length": "device_id_length",
    "device_id_prefix_mismatch": "device_id_prefix_mismatch",
    "unknown_civil_code": "unknown_civil_code",
    "missing_status": "missing_status",
    "duplicate_event": "duplicate_key",
}


@pytest.fixture
def world(cfg):
    w = generate(SimConfig(cameras_per_county=40, key_areas_per_county=8, day=DAY, fault_rate=0.03))
    write_drop(w, cfg.drop_root)
    return w


def camera_connectors(decl) -> list[str]:
    return [n for n in decl.connectors if n.startswith("camera_")]


def ingest_cameras(lake: Lake) -> dict:
    """Every camera connector (those configured: no catalogue URL, no broker here)."""
    reports, failed = run_all(lake, camera_connectors(lake.decl))
    assert not failed, failed
    return reports


def counts(lake, table: str) -> int:
    return lake.query(f"SELECT count(*) AS n FROM {table}", [table])["n"][0].as_py()


def quarantine(lake, dataset: str) -> list[dict]:
    return lake.query("SELECT * FROM quarantine WHERE dataset = ?", ["quarantine"], [dataset]).to_pylist()


def codes(row: dict) -> set[str]:
    return {r.split(":", 1)[0] for r in row["reason"].split("; ")}


def test_every_catalog_fault_is_quarantined_with_its_reason(lake, world):
    ingest_cameras(lake)
    rows = quarantine(lake, "camera_catalog")
    by_device = {}
    for r in rows:
        if r["record_key"]:
            by_device.setdefault(r["record_key"].split("|")[0], []).append(r)
    faults = [f for f in world.faults if f["source"] == "catalog"]
    for f in faults:
        if f["kind"] in EXPECTED_CODE:
            hits = by_device.get(f["key"], [])
            assert any(EXPECTED_CODE[f["kind"]] in codes(r) for r in hits), (f, hits)
            assert all(r["raw"].startswith("<Item>") for r in hits)
    page_rows = {r["source"]: r for r in rows if r["record_key"] is None}
    for f in faults:
        if f["kind"] in ("truncated_xml", "wrong_encoding_declaration"):
            src = f"catalog_371400_20261122_p{f['key']:04d}.xml"
            want = "malformed_xml" if f["kind"] == "truncated_xml" else "wrong_encoding"
            assert codes(page_rows[src]) == {want}
            assert page_rows[src]["raw"]  # the page as received
    # nothing but the injected faults is refused, and every other item landed
    assert len(rows) == len(faults)
    size = world.config.page_size
    bad_pages = [f["key"] for f in faults if f["kind"] in ("truncated_xml", "wrong_encoding_declaration")]
    on_bad_pages = sum(len(world.catalog_items[(k - 1) * size:k * size]) for k in bad_pages)
    item_faults = sum(1 for f in faults if f["kind"] in EXPECTED_CODE)
    assert counts(lake, "camera_catalog") == len(world.catalog_items) - on_bad_pages - item_faults


def test_event_faults_quarantined_late_and_out_of_order_land(lake, world):
    ingest_cameras(lake)
    rows = quarantine(lake, "camera_status")
    faults = [f for f in world.faults if f["source"] == "events"]
    by_key = {}
    for r in rows:
        by_key.setdefault(r["record_key"], []).append(r)
    for f in faults:
        if f["kind"] == "duplicate_event":
            assert any("duplicate_key" in codes(r) for r in by_key[f["key"]]), f
    malformed = [f for f in faults if f["kind"] == "malformed_event"]
    unreadable = [r for r in rows if "malformed_json" in codes(r)]
    incomplete = [r for r in rows if codes(r) & {"missing_event_id", "missing_device_id", "missing_status",
                                                 "missing_event_time"}]
    assert len(unreadable) + len(incomplete) == len(malformed)
    assert all(r["raw"] for r in unreadable)
    assert len(rows) == len(malformed) + sum(1 for f in faults if f["kind"] == "duplicate_event")
    landed = set(lake.query("SELECT event_id FROM camera_status", ["camera_status"])["event_id"].to_pylist())
    for f in faults:
        if f["expect"] == "land":
            assert f["key"] in landed, f
    # what landed is every well-formed event exactly once
    good = {e["event_id"] for e in world.events if "_raw" not in e}
    assert landed == good
    assert counts(lake, "camera_status") == len(good)


def test_rerun_adds_nothing(lake, world):
    first = ingest_cameras(lake)
    before = {t: counts(lake, t) for t in ("key_areas", "camera_registry", "camera_catalog", "camera_status",
                                           "quarantine")}
    second = ingest_cameras(lake)
    after = {t: counts(lake, t) for t in before}
    assert before == after
    assert all(r.landed == r.quarantined == 0 and r.units == 0 for r in second.values())
    assert first["camera_registry"].landed == len(world.registry)


def test_http_catalogue_lands_like_the_drop_and_is_idempotent(lake, world, cfg, decl):
    server, url = serve_catalog(world.catalog_pages)
    served = Lake(cfg.with_connector("camera_catalog_http", url=url), decl)
    try:
        r1 = run(served, "camera_catalog_http", as_of=DAY)
        r2 = run(served, "camera_catalog_http", as_of=DAY)
    finally:
        server.shutdown()
    n_faults = sum(1 for f in world.faults if f["source"] == "catalog")
    assert r1.quarantined == n_faults and r1.landed > 0
    assert r2.landed == 0 and r2.quarantined == 0
    assert counts(lake, "camera_catalog") == r1.landed
    # the file drop of the same fetch adds nothing new: same devices, same day
    r3 = run(lake, "camera_catalog_drop")
    assert r3.landed == 0 and r3.already_landed == r1.landed
    # a second delivery of the same faults is recorded against its own source
    assert r3.quarantined == n_faults
    assert counts(lake, "quarantine") == 2 * n_faults


def test_crash_between_quarantine_and_data_commit_replays_cleanly(lake, world, monkeypatch):
    real = Lake.commit
    calls = Counter()

    def crashing(self, name, rows, **kw):
        calls[name] += 1
        if name == "camera_status":
            raise RuntimeError("simulated crash after the quarantine commit")
        return real(self, name, rows, **kw)

    monkeypatch.setattr(Lake, "commit", crashing)
    with pytest.raises(RuntimeError):
        run(lake, "camera_status_drop")
    monkeypatch.setattr(Lake, "commit", real)
    assert calls["quarantine"] == 1
    q_after_crash = counts(lake, "quarantine")
    assert q_after_crash > 0
    assert lake.snapshot_id("camera_status") is None  # nothing half-written

    report = run(lake, "camera_status_drop")
    good = {e["event_id"] for e in world.events if "_raw" not in e}
    assert counts(lake, "camera_status") == len(good) == report.landed
    assert counts(lake, "quarantine") == q_after_crash  # the replay did not quarantine twice


def test_two_writers_landing_the_same_delivery_at_once_add_it_once(lake, world):
    """Two processes (say a retried Airflow task and a manual run) take the same
    files concurrently: the commit that loses the race re-checks against the
    winner's rows instead of adding them again. (Processes, not threads: what
    matters is two writers that share nothing but the lake and its catalogue.)"""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "cityhub.cli.main", "ingest", "camera_registry", "camera_status_drop"]
    procs = [subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    assert counts(lake, "camera_registry") == len(world.registry)
    good = {e["event_id"] for e in world.events if "_raw" not in e}
    assert counts(lake, "camera_status") == len(good)
    ids = lake.query("SELECT count(DISTINCT event_id) AS n FROM camera_status", ["camera_status"])["n"][0].as_py()
    assert ids == len(good)


def test_a_rival_commit_between_check_and_commit_is_caught(lake, world, monkeypatch):
    """Deterministically: another writer lands the same rows after this batch was
    checked against the lake but before it commits. The commit must notice that
    the table moved, check again, and add nothing twice."""
    from cityhub.pipelines.landing import commit as landing

    real_assess = landing.assess
    state = {"rival_done": False}

    def assess_then_rival(lake_, batch):
        a = real_assess(lake_, batch)
        if not state["rival_done"] and batch.dataset == "camera_registry":
            state["rival_done"] = True
            rival = real_assess(lake_, batch)
            lake_.commit(batch.dataset, rival.rows, connector="rival", batch_id="rival")
        return a

    monkeypatch.setattr(landing, "assess", assess_then_rival)
    report = run(lake, "camera_registry")
    assert state["rival_done"]
    assert counts(lake, "camera_registry") == len(world.registry)
    assert report.landed == 0 and report.already_landed == len(world.registry)


def deliver_events(lake: Lake, file: str, events: list[dict]) -> None:
    import json

    from cityhub.connectors.sources import file_drop

    where = file_drop.folder(lake.decl.connector("camera_status_drop"), lake.cfg)
    where.mkdir(parents=True, exist_ok=True)
    (where / file).write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


def test_an_event_delivered_again_is_already_landed_not_quarantined(lake, world):
    """A producer re-sends events in a later file (a retried upload): identical events are
    counted as already landed, nothing is quarantined and nothing lands twice."""
    run(lake, "camera_status_drop")
    rows, q = counts(lake, "camera_status"), counts(lake, "quarantine")
    good = [e for e in world.events if "_raw" not in e]
    again = [good[0], good[len(good) // 2], good[-1]]
    deliver_events(lake, "status_resend_1.jsonl", again)
    report = run(lake, "camera_status_drop")
    assert (report.landed, report.already_landed, report.quarantined, report.corrected) == (0, 3, 0, 0)
    assert (counts(lake, "camera_status"), counts(lake, "quarantine")) == (rows, q)


def test_a_changed_event_whose_time_moved_outside_its_batch_corrects_the_landed_one(lake, world):
    """The landed row of an event is found by its id wherever it landed, not only within the
    new delivery's own time range: an event re-sent with its status and time corrected to
    the next day (a delivery holding only that day) replaces the landed row, it does not
    land beside it; the first version stays readable at the earlier snapshot."""
    run(lake, "camera_status_drop")
    before = lake.snapshot_id("camera_status")
    rows = counts(lake, "camera_status")
    ev = next(e for e in world.events if "_raw" not in e)
    fixed = {**ev, "status": "OFF" if ev["status"] == "ON" else "ON",
             "event_time": ev["event_time"].replace(f"{DAY:%Y-%m-%d}", "2026-11-23")}
    assert fixed["event_time"] != ev["event_time"]
    deliver_events(lake, "status_fix_20261123.jsonl", [fixed])
    report = run(lake, "camera_status_drop")
    assert (report.landed, report.corrected, report.already_landed, report.quarantined) == (1, 1, 0, 0)
    assert counts(lake, "camera_status") == rows
    now = lake.query("SELECT status, event_time FROM camera_status WHERE event_id = ?", ["camera_status"],
                     [ev["event_id"]]).to_pylist()
    assert len(now) == 1 and now[0]["status"] == fixed["status"] and now[0]["event_time"].day == 23
    con, _ = lake.connect(["camera_status"], {"camera_status": before})
    try:
        old = con.execute("SELECT status FROM camera_status WHERE event_id = ?", [ev["event_id"]]).fetchall()
    finally:
        con.close()
    assert old == [(ev["status"],)]


def test_the_key_lookup_reads_only_the_files_that_may_hold_the_keys(lake, world):
    """Looking up a delivery's event ids plans only the data files whose event_id bounds
    may hold them (Iceberg's column statistics), not the whole table."""
    import pyarrow as pa

    from cityhub.pipelines.landing.commit import key_lookup_filter

    from cityhub.connectors.sources import file_drop

    for f in file_drop.folder(lake.decl.connector("camera_status_drop"), lake.cfg).glob("*.jsonl"):
        f.unlink()  # the day's file of the simulated world: delivered here in two halves instead
    good = sorted({e["event_id"]: e for e in world.events if "_raw" not in e}.values(), key=lambda e: e["event_id"])
    # split between two counties: the ids then differ within the 16 characters Iceberg keeps as bounds
    counties = sorted({e["event_id"][:6] for e in good})
    half = next(i for i, e in enumerate(good) if e["event_id"][:6] == counties[len(counties) // 2])
    deliver_events(lake, "status_low.jsonl", good[:half])
    run(lake, "camera_status_drop")
    low = set(lake.files("camera_status"))
    deliver_events(lake, "status_high.jsonl", good[half:])
    run(lake, "camera_status_drop")
    every = set(lake.files("camera_status"))
    c = lake.decl.contract("camera_status")
    for batch in ([good[-1]["event_id"]], [e["event_id"] for e in good[half:]]):  # the In, then the range
        planned = set(lake.files("camera_status", row_filter=key_lookup_filter(c, pa.table({"event_id": batch}))))
        assert planned and planned <= every - low, batch[:3]
    first = pa.table({"event_id": [good[0]["event_id"]]})
    planned = set(lake.files("camera_status", row_filter=key_lookup_filter(c, first)))
    assert planned and planned <= low
