"""Benchmark: peak memory of landing one big delivered file, per drop format.

    .venv/bin/python bench/big_file_memory.py [--mb 200] [--only NAME ...] [--keep DIR]

For each file-drop connector below, a file of about ``--mb`` MB is written in its
format (records from the connector's simulator, its faults included, repeated with unique keys), and the
connector is run over it in a child process of its own (``run`` of the ingest runner,
as ``cityhub ingest NAME`` does). The child's peak RSS (``ru_maxrss`` of that child,
read with ``os.wait4``: the same figure ``getrusage(RUSAGE_CHILDREN)`` gives after one
child) is printed beside the file's size, with the growth over a baseline (the same
connector run over a tiny file, so imports, Great Expectations and the lake's first
commit are counted there) and rows/s of the run (imports excluded). Target (issue 12):
growth <= 4x the file's size.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

DAY = date(2026, 11, 22)
FAULT_RATE = 0.005
"""The simulators' faults (malformed lines, changed types, unknown codes), as in real deliveries."""
TAG = f"dezhou_{DAY:%Y%m%d}"

CHILD = """
import json, resource, sys, time
from cityhub.core.settings import Settings
from cityhub.declarations import load
from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run
from cityhub.pipelines.landing.quality import _gx
_gx()  # the Great Expectations import: once per process, not the run's time
cfg = Settings(home=sys.argv[1])
lake = Lake(cfg, load(cfg.declarations))
t = time.perf_counter()
r = run(lake, sys.argv[2])
dt = time.perf_counter() - t
print(json.dumps({"received": r.received, "landed": r.landed, "quarantined": r.quarantined,
                  "seconds": dt, "skipped": r.skipped, "reasons": r.land.reasons if r.land else {}}))
"""


def _traffic_records(n_template: int = 2000) -> list[dict]:
    from cityhub_sim import traffic
    w = traffic.generate(traffic.TrafficConfig(day=DAY, intersections_per_county=n_template // 11 + 1,
                                               fault_rate=FAULT_RATE))
    return w.intersections


def write_intersections(folder: Path, size: int) -> int:
    """``{"exported_at": ..., "items": [...]}`` as the signal platform exports it."""
    tpl = _traffic_records()
    path = folder / "traffic" / "intersections" / f"intersections_{TAG}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("wb") as f:
        f.write(f'{{"exported_at": "{DAY.isoformat()}T01:30:00+08:00", "items": ['.encode())
        written = 0
        while written < size:
            r = dict(tpl[n % len(tpl)], id=f"TS{tpl[n % len(tpl)].get('region')}-{n:08d}")
            line = (b", " if n else b"") + json.dumps(r, ensure_ascii=False).encode("utf-8")
            f.write(line)
            written += len(line)
            n += 1
        f.write(b"]}")
    return n


def write_status(folder: Path, size: int) -> int:
    """Camera status events, JSON lines."""
    from cityhub_sim import cameras
    w = cameras.generate(cameras.SimConfig(day=DAY, fault_rate=FAULT_RATE, cameras_per_county=200,
                                           events_per_camera=3))
    tpl = w.events
    path = folder / "cameras" / "status" / f"status_{TAG}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    n = written = 0
    with path.open("wb") as f:
        while written < size:
            e = tpl[n % len(tpl)]
            line = (e["_raw"] if "_raw" in e  # a malformed line, as delivered
                    else json.dumps(dict(e, event_id=f"{e.get('device_id')}-{n}"), ensure_ascii=False)).encode() + b"\n"
            f.write(line)
            written += len(line)
            n += 1
    return n


def write_registry(folder: Path, size: int) -> int:
    """The camera registry CSV (UTF-8), one row per camera, unique 20-digit device IDs."""
    import csv
    import io

    from cityhub_sim import cameras
    w = cameras.generate(cameras.SimConfig(day=DAY, fault_rate=FAULT_RATE, cameras_per_county=200))
    tpl = w.registry
    fields = list(tpl[0])
    path = folder / "cameras" / "registry" / f"registry_{TAG}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    n = written = 0
    with path.open("wb") as f:
        f.write((",".join(fields) + "\n").encode())
        while written < size:
            buf = io.StringIO(newline="")
            wr = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
            for _ in range(1000):
                r = tpl[n % len(tpl)]
                wr.writerow(dict(r, device_id=f"{(r['device_id'] or '')[:13]}{n:07d}"))
                n += 1
            data = buf.getvalue().encode("utf-8")
            f.write(data)
            written += len(data)
    return n


def write_social(folder: Path, size: int) -> int:
    """Social-security records as the bureau's office software exports them (GB18030, CRLF)."""
    from datetime import timedelta

    from cityhub_sim import social_security as ss
    w = ss.generate(ss.SocialSecurityConfig(start=DAY - timedelta(days=1), days=1, records_per_day=5000,
                                            fault_rate=FAULT_RATE))
    tpl = ss.day_rows(w, w.days[0])
    path = folder / "social_security" / "records" / ss.file_name(w.config, w.days[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    n = written = 0
    with path.open("wb") as f:
        while written < size:
            rows = []
            for _ in range(1000):
                r = tpl[n % len(tpl)]
                rows.append(dict(r, **{ss.COLUMNS[0]: f"{r[ss.COLUMNS[0]]}-{n}"}))
                n += 1
            data = ss.csv_bytes(rows)
            if written:
                data = data.split(b"\r\n", 1)[1]  # the header once
            f.write(data)
            written += len(data)
    return n


WRITERS = {
    "traffic_intersections_drop": ("JSON document, records at items", write_intersections),
    "camera_status_drop": ("JSON lines", write_status),
    "camera_registry": ("CSV UTF-8", write_registry),
    "social_security_records_drop": ("CSV GB18030", write_social),
}


def measure(name: str, home: Path, pool: str | None = None) -> tuple[dict, int]:
    """Run connector ``name`` over what ``home/drop`` holds, in a child; (its report, peak RSS bytes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    if pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = pool  # pyarrow's allocator: mimalloc by default, keeps freed pages
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home), name], stdout=subprocess.PIPE, env=env,
                            cwd=Path(__file__).resolve().parents[1])
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{name}: the child failed ({proc.returncode})")
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--tmp", default=None, help="where the files are written (default: the system's temp dir)")
    ap.add_argument("--arrow-pool", choices=["mimalloc", "jemalloc", "system"], help="pyarrow's memory pool")
    args = ap.parse_args()
    mb = 1 << 20
    print(f"{'connector':30s} {'format':34s} {'file MB':>8s} {'rows':>10s} {'peak MB':>8s} {'base MB':>8s} "
          f"{'growth':>8s} {'x file':>6s} {'rows/s':>9s}", flush=True)
    for name, (what, write) in WRITERS.items():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            small, big = Path(tmp) / "small", Path(tmp) / "big"
            write(small / "drop", 64 << 10)
            _, base = measure(name, small, args.arrow_pool)
            shutil.rmtree(small)
            rows = write(big / "drop", int(args.mb * mb))
            size = sum(p.stat().st_size for p in (big / "drop").rglob("*") if p.is_file())
            t = time.perf_counter()
            report, peak = measure(name, big, args.arrow_pool)
            if report["received"] != rows:
                print(f"  ! {name}: {rows:,} rows written, {report['received']:,} received", flush=True)
            growth = peak - base
            print(f"{name:30s} {what:34s} {size / mb:8.1f} {rows:>10,} {peak / mb:8.0f} {base / mb:8.0f} "
                  f"{growth / mb:8.0f} {growth / size:6.1f} {rows / report['seconds']:>9,.0f}"
                  f"   (landed {report['landed']:,}, quarantined {report['quarantined']:,}; "
                  f"child {time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
