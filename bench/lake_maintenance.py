"""Benchmark: the lake of a hub that ran 500 ingest cycles, before and after ``cityhub lake
maintain`` (``cityhub.pipelines.maintenance.maintain``).

    .venv/bin/python bench/lake_maintenance.py [--cycles 500] [--events 50] [--compute-every 50]
                                               [--mode commit|connector] [--keep DIR]

In a temporary hub home (or --keep DIR, emptied first) the simulator's camera world is
landed by its connectors (key areas, registry, catalogue; ~20 cameras per county), then
--cycles ingest cycles each deliver --events of the simulator's camera status events
(the event feed: a small delivery every few minutes in production). ``--mode commit``
(default) lands each delivery as the landing's commit does it, one ``Lake.commit`` with the
connector's state; ``--mode connector`` writes each as a JSON-lines file and runs the
``camera_status_drop`` connector on it (staging, Great Expectations checks, the commit:
~1 s a cycle here, so 500 cycles take ~10 minutes). Every --compute-every cycles
indicators #4 and #5 are computed, as the hourly indicators DAG would: their values name
the snapshots they read, which maintenance must keep.

Then it prints the lake's files and bytes (data, manifests, metadata) and times two runs:
``maintain`` with the default retention (366 days: nothing here is old enough to expire,
so this is compaction and clean-up), and ``maintain`` as a run a cycle later would find
the lake (retention 0 and no safety age: only the current, the first and the evidence
snapshots stay), with the figures after each; and the time of an ingest cycle before and after (10 cycles
each: a commit reads and rewrites its table's metadata, which lists every snapshot).
Most of the run is the cycles slowing down as snapshots pile up (~8 minutes for 500 on
this shared 2-core machine; --cycles 200 takes ~1.5).

The hub's settings are built here: ``Settings(home=<the bench's home>)`` with the lake, the
catalogue, the hub database and the drop folders all under it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from cityhub.core.files import private_files
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.lake import Lake
from cityhub.pipelines.indicators.engine import compute
from cityhub.pipelines.ingest.runner import run, run_all
from cityhub.pipelines.maintenance import Policy, lake_usage, maintain

DAY = date(2026, 11, 22)


def _hub(home: Path) -> Lake:
    cfg = Settings(home=home, lake_uri=str(home / "lake"), catalog_uri=f"sqlite:///{home / 'catalog.db'}",
                   hub_db_uri=f"sqlite:///{home / 'hub.db'}", drop_root=home / "drop", city="371400")
    return Lake(cfg)


def _world(lake: Lake) -> list[dict]:
    from cityhub_sim.cameras import SimConfig, generate, write_drop

    world = generate(SimConfig(day=DAY, cameras_per_county=20, key_areas_per_county=4, fault_rate=0.0))
    write_drop(world, lake.cfg.drop_root, parts=("key_areas", "registry", "catalog"))
    _, failed = run_all(lake, ["camera_key_areas", "camera_registry", "camera_catalog_drop"])
    assert not failed, failed
    return [e for e in world.events if "_raw" not in e]


def _deliver(lake: Lake, events: list[dict], cycle: int, mode: str) -> None:
    batch = [{**e, "event_id": f"{e['event_id']}-{cycle}"} for e in events]
    if mode == "connector":
        folder = lake.cfg.drop_root / "cameras" / "status"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"status_371400_{cycle:05d}.jsonl").write_text(
            "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in batch), encoding="utf-8")
        report = run(lake, "camera_status_drop")
        assert report.landed == len(batch), (report.landed, report.quarantined)
        return
    received = now_cst().replace(tzinfo=None)
    rows = pa.Table.from_pylist([{
        "event_id": e["event_id"], "device_id": e["device_id"], "region": e["civil_code"], "status": e["status"],
        "event_time": datetime.fromisoformat(e["event_time"]).replace(tzinfo=None), "received_at": received,
    } for e in batch])
    lake.commit("camera_status", rows, connector="camera_status_drop", batch_id=f"bench:{cycle}",
                state={"delivered": f"status_371400_{cycle:05d}"})


def _usage(lake: Lake, title: str) -> dict:
    u = lake_usage(lake)
    snaps = sum(len(lake.table(n).metadata.snapshots) for n in ("camera_status", "indicator_values"))
    print(f"{title:<34} {u['total'][0]:>6} files {u['total'][1] / 1e6:>8.2f} MB   (data {u['data'][0]} files "
          f"{u['data'][1] / 1e6:.2f} MB, manifests {u['manifests'][0]} / {u['manifests'][1] / 1e6:.2f} MB, "
          f"metadata {u['metadata'][0]} / {u['metadata'][1] / 1e6:.2f} MB; camera_status + indicator_values "
          f"snapshots {snaps})")
    return u


def _maintain(lake: Lake, policy: Policy, title: str) -> None:
    t = time.perf_counter()
    report = maintain(lake, policy)
    took = time.perf_counter() - t
    s = report.as_dict()
    compacted = sum(x["compacted_files"] for x in s["tables"])
    written = sum(x["written_files"] for x in s["tables"])
    print(f"maintain ({title}): {took:.2f} s; compacted {compacted} -> {written} files, expired {s['expired']} "
          f"snapshots, deleted {s['deleted_files']} files ({s['bytes_freed'] / 1e6:.2f} MB)")


def _cycles(lake: Lake, events: list[dict], a, first: int, n: int = 10) -> float:
    """Mean time of ``n`` more ingest cycles (a commit reads and rewrites the table's
    metadata, which lists every snapshot: cycles slow down as snapshots pile up)."""
    t = time.perf_counter()
    for cycle in range(first, first + n):
        start = cycle * a.events % max(1, len(events) - a.events)
        _deliver(lake, events[start:start + a.events], cycle, a.mode)
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=500)
    ap.add_argument("--events", type=int, default=50, help="status events per delivery")
    ap.add_argument("--compute-every", type=int, default=50, help="compute indicators every N cycles (0: never)")
    ap.add_argument("--mode", choices=("commit", "connector"), default="commit")
    ap.add_argument("--keep", type=Path, help="hub home to use (emptied first) and keep")
    a = ap.parse_args()
    private_files()
    home = a.keep or Path(tempfile.mkdtemp(prefix="cityhub-maint-"))
    if a.keep:
        shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    try:
        lake = _hub(home)
        events = _world(lake)
        t = time.perf_counter()
        computed = 0
        for cycle in range(a.cycles):
            start = cycle * a.events % max(1, len(events) - a.events)
            _deliver(lake, events[start:start + a.events], cycle, a.mode)
            if a.compute_every and (cycle + 1) % a.compute_every == 0:
                compute(lake, DAY, codes=["4", "5"], kinds=("day",))
                computed += 1
            if (cycle + 1) % 100 == 0:
                print(f"  {cycle + 1} cycles, {time.perf_counter() - t:.0f} s", file=sys.stderr)
        print(f"{a.cycles} ingest cycles of {a.events} events ({a.mode}), indicators computed {computed} times: "
              f"{time.perf_counter() - t:.0f} s")
        print(f"an ingest cycle before maintain: {_cycles(lake, events, a, a.cycles) * 1000:.0f} ms")
        _usage(lake, "before maintain")
        _maintain(lake, Policy.from_settings(lake.cfg), "default retention, 366 days; safety age 1 day")
        _usage(lake, "after maintain (default)")
        _maintain(lake, Policy(retention=timedelta(0), min_age=timedelta(0)), "a cycle later: retention 0")
        _usage(lake, "after maintain (a cycle later)")
        print(f"an ingest cycle after maintain: {_cycles(lake, events, a, a.cycles + 10) * 1000:.0f} ms")
    finally:
        if not a.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
