"""Lake maintenance (``cityhub.pipelines.maintenance``, ``cityhub lake maintain``): the
evidence of every stored indicator value reads the same after snapshots expire and files
go; what the retention keeps is kept; orphans go only once old; compaction is no change
in the change feed; the files it writes are the hub user's alone; and all of it on the
S3-compatible object store too."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from cityhub.core.errors import InvalidRequest
from cityhub.pipelines.indicators.engine import compute, latest
from cityhub.pipelines.indicators.evidence import evidence
from cityhub.pipelines.ingest.runner import run
from cityhub.pipelines.maintenance import (
    Policy,
    compact,
    evidence_snapshots,
    lake_usage,
    maintain,
)
from cityhub.read.records import Query, changes
from cityhub.read.snapshots import SnapshotCache
from tests.integration.lake.test_object_store import BUCKET, _bucket_files, object_store  # noqa: F401 (a fixture)
from tests.integration.pipelines.indicators.cameras import (
    AREAS,
    CATALOGUE_AT,
    EVENTS,
    REGISTRY,
    ingest_cameras,
    write_catalogue,
    write_status,
)

DAY = date(2026, 11, 22)
STATUS = "camera_status"
DELIVERIES = 10
REGIONS = ("371400", "371402", "371425")


def _deliver(lake, i: int) -> None:
    """One small status delivery (an event feed's file), landed by its connector."""
    write_status(lake.cfg.drop_root, f"status_371400_20261122_{i:03d}.jsonl",
                 [(f"X{i}", "37140200001310000002", "ON" if i % 2 else "OFF", f"2026-11-22T{8 + i % 12:02d}:30:00+08:00")])
    assert run(lake, "camera_status_drop").landed == 1


@pytest.fixture
def busy_lake(lake):
    """The camera world landed, #4 and #5 computed now and then between many small status
    deliveries: values name snapshots that are neither the first nor the current one."""
    drop = lake.cfg.drop_root / "cameras"
    for sub in ("key_areas", "registry"):
        (drop / sub).mkdir(parents=True, exist_ok=True)
    (drop / "key_areas" / "key_areas_371400_20261122.csv").write_text(AREAS, encoding="utf-8")
    (drop / "registry" / "registry_371400_20261122.csv").write_text(REGISTRY, encoding="utf-8")
    write_catalogue(lake.cfg.drop_root, "catalog_371400_20261122_p0001.xml", CATALOGUE_AT)
    write_status(lake.cfg.drop_root, "status_371400_20261122.jsonl", EVENTS)
    ingest_cameras(lake)
    compute(lake, DAY, codes=["4", "5"], kinds=("day",))
    for i in range(DELIVERIES):
        _deliver(lake, i)
        if i in (3, 6):
            compute(lake, DAY, codes=["4", "5"], kinds=("day",))
    return lake


def _snapshots(lake, name: str) -> list:
    return sorted(lake.table(name).metadata.snapshots, key=lambda s: s.sequence_number)


def _as_of(lake, name: str, sid: int) -> str:
    """A digest of every row of ``name`` at snapshot ``sid``, in one order."""
    con, _ = lake.connect([name], {name: sid})
    try:
        rows = con.sql(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()
    finally:
        con.close()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _every_value_as_of(lake) -> dict:
    """For every stored value (every computation, not only the latest), the rows of each
    of its inputs at the snapshot it names: what its evidence re-reads."""
    values = lake.query("SELECT code, region, period, computed_at, inputs FROM indicator_values",
                        ["indicator_values"]).to_pylist()
    assert values
    named = {(t, sid) for v in values for t, sid in json.loads(v["inputs"]).items() if sid is not None}
    digests = {(t, sid): _as_of(lake, t, sid) for t, sid in named}
    return {(v["code"], v["region"], v["period"], v["computed_at"], t): digests[t, sid]
            for v in values for t, sid in json.loads(v["inputs"]).items() if sid is not None}


def _latest_evidence(lake) -> dict:
    """The evidence pages of the latest values of the city and two counties, every part and
    side the route answers."""
    out = {}
    for v in (v for region in REGIONS for v in latest(lake, region=region)):
        parts = [None] + [x["code"] for x in json.loads(v["components"] or "[]")]
        for part in parts:
            for side in ("numerator", "denominator"):
                try:
                    ev = evidence(lake, v["code"], v["region"], v["period"], side, component=part, limit=10_000)
                except InvalidRequest:
                    continue
                out[v["code"], v["region"], v["period"], part, side] = ev
    return out


def test_the_evidence_of_every_stored_value_is_identical_after_maintenance(busy_lake):
    lake = busy_lake
    named = evidence_snapshots(lake)
    snaps_before = {n: [s.snapshot_id for s in _snapshots(lake, n)] for n in (STATUS, "camera_catalog")}
    assert len(snaps_before[STATUS]) > DELIVERIES and len(named[STATUS]) == 3  # three computations
    as_of, pages = _every_value_as_of(lake), _latest_evidence(lake)
    assert len(pages) > 10 and any(p["rows"] for p in pages.values())
    usage, before_files = lake_usage(lake), lake.files(STATUS)

    report = maintain(lake, Policy(retention=timedelta(0), min_age=timedelta(0)))

    by_table = {t.table: t for t in report.tables}
    status = by_table[STATUS]
    assert status.compacted_files >= DELIVERIES and status.written_files == 1
    # the first computation named the first snapshot, kept as such; the two later ones kept as evidence
    assert status.expired and status.deleted and status.kept_as_evidence == 2
    # the small files of the deliveries after the last computation were reached by expired
    # snapshots only (the compacted file holds their rows now): they went; the earlier ones
    # stay for the values naming them
    assert sorted(os.path.basename(p) for p in status.deleted if p.endswith(".parquet")) == sorted(
        os.path.basename(p) for p in set(before_files) - {f for sid in named[STATUS] for f in lake.files(STATUS, sid)})
    assert len([p for p in status.deleted if p.endswith(".parquet")]) == DELIVERIES - 7
    after = lake_usage(lake)
    assert after["manifests"][0] < usage["manifests"][0]
    assert after["metadata"][0] < usage["metadata"][0]  # the previous versions listing expired snapshots
    # nothing the evidence reads went: every input at every named snapshot reads the same rows
    assert _every_value_as_of(lake) == as_of
    assert _latest_evidence(lake) == pages
    # kept: every named snapshot, the first and the current one; the rest expired
    kept = {s.snapshot_id for s in _snapshots(lake, STATUS)}
    current = lake.snapshot_id(STATUS)
    assert named[STATUS] <= kept and snaps_before[STATUS][0] in kept and current in kept
    assert kept == named[STATUS] | {snaps_before[STATUS][0], current}
    assert set(status.expired) == set(snaps_before[STATUS]) - kept
    # what is left reads: every kept snapshot's files exist
    for sid in kept:
        assert all(os.path.exists(f) for f in lake.files(STATUS, sid))
    # a second run finds nothing more to do
    again = {t.table: t for t in maintain(lake, Policy(retention=timedelta(0), min_age=timedelta(0))).tables}
    assert not again[STATUS].expired and not again[STATUS].deleted and not again[STATUS].orphans


def test_snapshots_current_within_the_retention_are_kept_and_older_ones_expire(busy_lake):
    lake = busy_lake
    snaps = _snapshots(lake, STATUS)
    named, first, current = evidence_snapshots(lake)[STATUS], snaps[0].snapshot_id, snaps[-1].snapshot_id
    # the retention reaches back to when snapshot k stopped being current: k and later stay
    k = len(snaps) - 4
    now = datetime.now(UTC)
    horizon = datetime.fromtimestamp(snaps[k + 1].timestamp_ms / 1000, UTC)
    policy = Policy(retention=now - horizon, min_age=timedelta(0))

    dry = maintain(lake, policy, now=now, dry_run=True, tables=[STATUS]).tables[0]
    assert [s.snapshot_id for s in _snapshots(lake, STATUS)] == [s.snapshot_id for s in snaps]  # dry: nothing
    report = maintain(lake, policy, now=now, tables=[STATUS]).tables[0]

    kept = {s.snapshot_id for s in _snapshots(lake, STATUS)}
    young = {s.snapshot_id for s in snaps[k:]}
    old = {s.snapshot_id for s in snaps[:k]}
    assert young <= kept and named <= kept and {first, current} <= kept
    assert old - named - {first} and not (old - named - {first}) & kept
    assert set(report.expired) == old - named - {first} == set(dry.expired)


def test_orphans_older_than_the_safety_age_go_and_young_ones_stay(busy_lake):
    lake = busy_lake
    data = os.path.join(lake.table(STATUS).location().removeprefix("file://"), "data")
    old, young = os.path.join(data, "00000-0-orphan-old.parquet"), os.path.join(data, "00000-0-orphan-young.parquet")
    for path in (old, young):
        with open(path, "wb") as fh:
            fh.write(b"PAR1 never committed")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    snaps = [s.snapshot_id for s in _snapshots(lake, STATUS)]

    report = maintain(lake, Policy(min_age=timedelta(days=1)), tables=[STATUS]).tables[0]  # default retention

    assert not os.path.exists(old) and os.path.exists(young)
    assert report.orphans == [old] and report.young_orphans == 1
    # everything here is younger than the retention: no snapshot expired, and every one reads
    assert not report.expired and not report.deleted
    assert [s.snapshot_id for s in _snapshots(lake, STATUS)][:len(snaps)] == snaps  # and the compaction's
    for sid in snaps:
        assert all(os.path.exists(f) for f in lake.files(STATUS, sid))


def test_compaction_is_no_change_in_the_change_feed(busy_lake):
    lake = busy_lake
    before = lake.files(STATUS)
    assert len(before) > DELIVERIES
    rows_before = lake.query(f'SELECT * FROM "{STATUS}" ORDER BY ALL', [STATUS])
    q = Query(dataset=STATUS)
    page = changes(SnapshotCache(lake), q, limit=10_000, since=None)
    assert not page.has_more and page.rows.num_rows == rows_before.num_rows
    since = page.next_cursor

    report = compact(lake, STATUS, Policy())

    after = lake.files(STATUS)
    assert report.compacted_files == len(before) and report.written_files == 1 and len(after) == 1
    assert lake.query(f'SELECT * FROM "{STATUS}" ORDER BY ALL', [STATUS]).equals(rows_before)
    summary = lake.table(STATUS).current_snapshot().summary
    assert summary["cityhub.connector"] == "compaction"
    feed = changes(SnapshotCache(lake), q, limit=10_000, since=since)
    assert feed.rows.num_rows == 0 and feed.extra["files_removed"] == len(before) and feed.extra["files"] == 1
    # a delivery after it is the one change
    _deliver(lake, 99)
    feed = changes(SnapshotCache(lake), q, limit=10_000, since=feed.next_cursor)
    assert feed.rows.column("event_id").to_pylist() == ["X99"]


def test_the_quarantine_keeps_no_history_past_the_safety_age(busy_lake):
    """Items ``quarantine expire`` removed leave the lake at the next maintenance, not a
    retention later: no kept snapshot of the quarantine holds them; other tables keep theirs."""
    from cityhub.core.time import now_cst
    from cityhub.pipelines import quarantine

    lake = busy_lake
    write_status(lake.cfg.drop_root, "status_371400_20261122_bad.jsonl",
                 [("BAD-1", "37140200001310000002", "MAYBE", "not a time")])
    assert run(lake, "camera_status_drop").quarantined == 1
    assert quarantine.expire(lake, 1, now=now_cst() + timedelta(days=2)) >= 1
    status = [s.snapshot_id for s in _snapshots(lake, STATUS)]

    report = maintain(lake, Policy(min_age=timedelta(0)))  # the default retention

    kept = _snapshots(lake, "quarantine")
    assert len(kept) == 1 and {t.table: t for t in report.tables}["quarantine"].expired
    for s in kept:
        con, _ = lake.connect(["quarantine"], {"quarantine": s.snapshot_id})
        try:
            assert con.execute("SELECT count(*) FROM quarantine").fetchall() == [(0,)]
        finally:
            con.close()
    assert [s.snapshot_id for s in _snapshots(lake, STATUS)][:len(status)] == status


def test_a_table_with_few_small_files_is_left_alone(busy_lake):
    assert compact(busy_lake, "key_areas", Policy()).compacted_files == 0


def test_cityhub_lake_maintain_dry_run_then_for_real_keeps_files_private(busy_lake, hub_home):
    lake = busy_lake
    env = {**os.environ, "CITYHUB_HOME": str(hub_home), "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "cityhub.cli.main", "lake", "maintain", *args], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    usage = lake_usage(lake)
    root = lake.table(STATUS).location().removeprefix("file://")
    old = {os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs}  # made by this test's process
    dry = cli("--dry-run", "--retention-days", "0", "--min-age-hours", "0")
    assert "would delete" in dry.stdout and STATUS in dry.stdout
    assert lake_usage(lake) == usage  # nothing changed

    done = cli("--retention-days", "0", "--min-age-hours", "0", "--json")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["expired"] > 0 and summary["deleted_files"] > 0 and summary["bytes_freed"] > 0
    assert lake_usage(lake)["manifests"][0] < usage["manifests"][0]
    # the compacted file and the new metadata are the hub user's alone
    made = [p for p in (os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs) if p not in old]
    newest = max(made, key=os.path.getmtime)
    assert any(p.endswith(".parquet") for p in made) and any(p.endswith(".avro") for p in made)
    for p in made:
        assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0, (p, oct(os.stat(p).st_mode))
    assert newest.endswith(".metadata.json")

    bad = subprocess.run([sys.executable, "-m", "cityhub.cli.main", "lake", "maintain", "no_such_table"], env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and "no table 'no_such_table'" in bad.stdout + bad.stderr


def test_maintenance_on_object_storage(object_store, hub_home, monkeypatch):  # noqa: F811 (the fixture)
    """The same on the S3-compatible object store (SeaweedFS on loopback, the fixture of
    ``tests/integration/lake/test_object_store.py``): files listed and deleted through
    pyiceberg's own FileIO file system, with the endpoint and credentials of the settings."""
    from cityhub.core.settings import Settings
    from cityhub.lake import Lake

    store = object_store
    monkeypatch.setenv("CITYHUB_LAKE", f"s3://{BUCKET}/maintenance")
    monkeypatch.setenv("CITYHUB_S3_ENDPOINT", store["endpoint"])
    monkeypatch.setenv("CITYHUB_S3_ACCESS_KEY_ID", store["key"])
    monkeypatch.setenv("CITYHUB_S3_SECRET_ACCESS_KEY", store["secret"])
    lake = Lake(Settings())
    write_catalogue(lake.cfg.drop_root, "catalog_371400_20261122_p0001.xml", CATALOGUE_AT)
    for sub, name, text in (("key_areas", "key_areas_371400_20261122.csv", AREAS),
                            ("registry", "registry_371400_20261122.csv", REGISTRY)):
        (lake.cfg.drop_root / "cameras" / sub).mkdir(parents=True, exist_ok=True)
        (lake.cfg.drop_root / "cameras" / sub / name).write_text(text, encoding="utf-8")
    write_status(lake.cfg.drop_root, "status_371400_20261122.jsonl", EVENTS)
    ingest_cameras(lake)
    compute(lake, DAY, codes=["4"], kinds=("day",))
    for i in range(DELIVERIES):
        _deliver(lake, i)
    as_of = _every_value_as_of(lake)
    before = _bucket_files(store, "maintenance")
    assert before and lake.table(STATUS).location().startswith("s3://")

    report = {t.table: t for t in maintain(lake, Policy(retention=timedelta(0), min_age=timedelta(0))).tables}

    status = report[STATUS]
    assert status.compacted_files == DELIVERIES + 1 and status.expired and status.deleted
    after = _bucket_files(store, "maintenance")
    gone = {p.split("://", 1)[-1] for p in status.deleted}
    assert gone and gone <= set(before) and not gone & set(after)
    assert len(after) < len(before)
    assert _every_value_as_of(lake) == as_of


def test_a_long_running_reader_learns_that_a_snapshot_it_saw_expired(busy_lake):
    """The API's snapshot cache takes a snapshot once seen as existing only for a while:
    after maintenance expires it, a cursor naming it is refused (``known`` is False), and
    its file list is forgotten, instead of a read of deleted files."""
    lake = busy_lake
    old = _snapshots(lake, STATUS)[1].snapshot_id  # neither the first nor the current one
    assert old not in evidence_snapshots(lake)[STATUS]
    cache = SnapshotCache(lake, recheck=3600)
    assert cache.known(STATUS, old) and cache.files(STATUS, old)
    maintain(lake, Policy(retention=timedelta(0), min_age=timedelta(0)), tables=[STATUS])
    assert cache.known(STATUS, old)  # within the recheck window: the remembered answer
    cache.recheck = 0  # the window has passed
    assert not cache.known(STATUS, old)
    assert (STATUS, old) not in cache._files
