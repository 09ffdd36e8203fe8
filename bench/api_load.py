"""Benchmark: the data API under county load over a 10-million-row lake.

    .venv/bin/python bench/api_load.py [--rows 10000000] [--keep DIR] [--duration 20] [--connections 32]

Builds ``camera_status`` (events) in a temporary hub lake: rows generated
columnar (numpy + pyarrow) for 100k cameras in Dezhou's 11 counties over 30
days, committed through ``Lake.commit`` in ~2M-row batches (the commit sorts by
the contract's ``sort_by``). ``--keep DIR`` keeps the hub home in DIR and reuses
a lake built there before. Not timed against any target; printed for reference.

Then serves the API as ``cityhub serve`` does (``cityhub.api.serve``: uvicorn, 2 workers
with a SO_REUSEPORT socket each, uvloop, httptools; each worker builds the app with the
factory ``cityhub.api.main:create_app`` from its environment, which this script gives
the same hub home and settings as its own ``Settings``) and
measures, with rate limits lifted and long-lived tokens:

1. county pages: ``--connections`` keep-alive connections (default 32) of a county
   client (371425, which holds 10% of the rows) asking
   ``GET /v1/datasets/camera_status/records?limit=100``, plain, with ``status=OFF``,
   with ``event_time=ge:...``, and following ``next_cursor`` for some, for
   ``--duration`` seconds after a warm-up; requests/s and p50/p90/p99 latency
   (target p99 <= 100 ms). The load generator is a raw HTTP/1.1 client on asyncio
   streams in its own process; it shares the 2 cores with the server, so its own
   CPU use is printed alongside the server's.
2. Arrow export: ``GET .../export?format=arrow`` of the county's slice (~1M rows
   at the default size) with the county token, rows/s to the last byte
   (target >= 2,500,000 rows/s), and paging ``records?limit=10000&format=arrow``
   along ``X-Next-Cursor``.

``--breakdown`` also times the parts of one county page in this process
(token check, grants, snapshot/files, DuckDB query, JSON, audit insert).

``--metrics-overhead ROUNDS`` instead measures what ``/metrics`` costs (target: <= 5% more
server CPU per request): the county-pages load of 1. for ``--duration`` seconds against
a server with metrics on (``CITYHUB_METRICS=true``, the workers' multiprocess files in
``<home>/metrics``, as ``cityhub serve`` runs it, and a Prometheus-like scrape of
``/metrics`` every 15 s during the load, after a few to warm every worker up, as a running
Prometheus would have) and one with them off (``CITYHUB_METRICS=false``),
ROUNDS times each, alternating which goes first; prints the server's CPU per request of
each round, the medians, and the overhead.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITY = "371400"  # Dezhou: the county below and the 11 counties the rows are spread over
COUNTY = "371425"
START = datetime(2026, 11, 1)
DAYS = 30
CAMERAS = 100_000
DATASET = "camera_status"
RECORDS = f"/v1/datasets/{DATASET}/records"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"the API is not listening on {port} after {timeout}s")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


# -- the dataset ----------------------------------------------------------------------

def _devices(counties: list[str]):
    """100k camera ids (20 digits, prefixed by their county as GB/T 28181 ids are),
    10% of them in COUNTY and the rest spread evenly over the other counties."""
    import numpy as np
    import pyarrow as pa

    others = [c for c in counties if c != COUNTY]
    county_of = np.empty(CAMERAS, dtype=np.int8)
    n_home = CAMERAS // 10
    county_of[:n_home] = counties.index(COUNTY)
    county_of[n_home:] = np.array([counties.index(c) for c in others], dtype=np.int8)[
        np.arange(CAMERAS - n_home) % len(others)]
    ids = pa.array([f"{counties[county_of[i]]}0000131{i:07d}" for i in range(CAMERAS)], pa.string())
    return county_of, ids


def _chunk(rng, lo: int, hi: int, day0: float, day1: float, counties, county_of, device_ids):
    """Rows lo..hi-1: events of random cameras at random times in [day0, day1) days."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = hi - lo
    dev = rng.integers(0, CAMERAS, n)
    start_us = int(START.timestamp() * 1e6)
    t = start_us + (rng.uniform(day0, day1, n) * 86_400e6).astype(np.int64)
    t -= t % 1_000_000  # whole seconds, as devices report them
    devs = device_ids.take(pa.array(dev))
    seq = pc.cast(pa.array(np.arange(lo, hi, dtype=np.int64)), pa.string())
    return pa.table({
        "event_id": pc.binary_join_element_wise(devs, seq, "-"),
        "device_id": devs,
        "region": pa.array(counties, pa.string()).take(pa.array(county_of[dev])),
        "status": pa.array(["ON", "OFF"], pa.string()).take(pa.array((rng.random(n) < 1 / 13).astype(np.int8))),
        "event_time": pa.array(t, pa.timestamp("us")),
        "received_at": pa.array(t + rng.integers(1, 30, n) * 1_000_000, pa.timestamp("us")),
    })


def lake_rows(lake) -> int:
    if not lake.exists(DATASET):
        return 0
    snap = lake.table(DATASET).current_snapshot()
    return int(snap.summary["total-records"]) if snap else 0


def build(lake, rows: int, chunk: int, row_group_rows: int | None = None, sort_by: str | None = None) -> None:
    import dataclasses

    import numpy as np

    from cityhub.lake import Lake, tables

    if row_group_rows:  # what-if: other Parquet row groups than the lake's (TABLE_PROPERTIES: 32,768 rows)
        # Lake.commit puts its TABLE_PROPERTIES back on every commit: the what-if changes them in this process
        tables.TABLE_PROPERTIES["write.parquet.row-group-limit"] = str(row_group_rows)
        print(f"  (what-if) Parquet row groups of {row_group_rows:,} rows")
    if sort_by:  # what-if: another sort order on write than the contract's (a lake over changed declarations)
        decl = lake.decl
        c = decl.contract(DATASET).model_copy(update={"sort_by": tuple(sort_by.split(","))})
        lake = Lake(lake.cfg, dataclasses.replace(decl, contracts={**decl.contracts, DATASET: c}))
        print(f"  (what-if) sorting on write by {sort_by}")

    counties = list(lake.decl.city(lake.cfg.city).counties)
    county_of, device_ids = _devices(counties)
    rng = np.random.default_rng(20261122)
    chunks = max(1, round(rows / chunk))
    bounds = [rows * i // chunks for i in range(chunks + 1)]
    t0 = time.perf_counter()
    gen = commit = 0.0
    for i in range(chunks):
        t = time.perf_counter()
        # each batch is a later stretch of the month, as daily deliveries would be
        table = _chunk(rng, bounds[i], bounds[i + 1], DAYS * i / chunks, DAYS * (i + 1) / chunks,
                       counties, county_of, device_ids)
        gen += time.perf_counter() - t
        t = time.perf_counter()
        lake.commit(DATASET, table, connector="bench", batch_id=f"bench-{uuid.uuid4().hex[:8]}")
        commit += time.perf_counter() - t
        print(f"  committed {bounds[i + 1]:,} / {rows:,} rows", flush=True)
    dt = time.perf_counter() - t0
    print(f"built {rows:,} rows in {chunks} commits in {dt:.1f} s (generate {gen:.1f} s, commit {commit:.1f} s: "
          f"{rows / commit:,.0f} rows/s through Lake.commit)")


def describe(lake) -> None:
    import pyarrow.parquet as pq

    files = lake.files(DATASET)
    groups = sum(pq.ParquetFile(f).metadata.num_row_groups for f in files)
    size = sum(os.path.getsize(f) for f in files)
    print(f"lake: {lake_rows(lake):,} rows of {DATASET} in {len(files)} Parquet files, {groups} row groups, "
          f"{size / 1e6:,.0f} MB")


# -- the load generator (its own process) -----------------------------------------------

class _Conn:
    """One keep-alive HTTP/1.1 connection: just enough protocol for the bench."""

    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n".encode()
        self.reader = self.writer = None

    async def get(self, path: str) -> tuple[int, dict, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await self.reader.read()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _next_cursor(body: bytes) -> str | None:
    i = body.find(b'"next_cursor":"')
    if i < 0:
        return None
    i += len(b'"next_cursor":"')
    return body[i:body.index(b'"', i)].decode()


async def _load(q, host: str, port: int, token: str, connections: int, warmup: float, duration: float,
                mix: dict[str, float], seed: int) -> dict:
    """Closed loop: each connection sends its next request as soon as the last one is
    answered. Counts answers that arrive within the measured window; requests still
    unanswered when it ends are reported with their age (they are not hidden)."""
    rng = random.Random(seed)
    kinds, weights = zip(*mix.items())
    t_start = time.perf_counter()
    t_measure, t_end = t_start + warmup, t_start + warmup + duration
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    errors: dict[str, int] = {}
    rows = [0]
    pending: dict[int, float] = {}

    def path_for(kind: str, cursor: str | None) -> str:
        if kind == "follow" and cursor:
            return f"{RECORDS}?limit=100&cursor={cursor}"
        if kind == "status":
            return f"{RECORDS}?limit=100&status=OFF"
        if kind == "time":
            at = START + timedelta(seconds=rng.randrange(DAYS * 86_400))
            return f"{RECORDS}?limit=100&event_time=ge:{at:%Y-%m-%dT%H:%M:%S}"
        return f"{RECORDS}?limit=100"

    async def worker(i: int) -> None:
        conn = _Conn(host, port, token)
        cursor, depth = None, 0
        try:
            while True:
                kind = rng.choices(kinds, weights)[0]
                if kind == "follow" and not cursor:
                    kind = "plain"
                t0 = pending[i] = time.perf_counter()
                try:
                    status, _, body = await conn.get(path_for(kind, cursor))
                except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                    conn.close()
                    status, body = type(e).__name__, b""
                t1 = time.perf_counter()
                del pending[i]
                if kind in ("plain", "follow") and status == 200:
                    cursor, depth = _next_cursor(body), depth + 1
                    if depth >= 5:
                        cursor, depth = None, 0
                if t_measure <= t1 < t_end:
                    if status == 200:
                        lat[kind].append(t1 - t0)
                        rows[0] += 100 if b'"count":100' in body else 0
                    else:
                        errors[f"{kind}:{status}"] = errors.get(f"{kind}:{status}", 0) + 1
        finally:
            conn.close()

    tasks = [asyncio.create_task(worker(i)) for i in range(connections)]
    await asyncio.sleep(max(0.0, t_measure - time.perf_counter()))
    q.put("start")
    cpu0 = time.process_time()
    await asyncio.sleep(max(0.0, t_end - time.perf_counter()))
    cpu = time.process_time() - cpu0
    waiting = sorted(t_end - t for t in pending.values())
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"lat": lat, "errors": errors, "wall": duration, "cpu": cpu, "rows": rows[0], "waiting": waiting}


def _load_process(q, *args) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    q.put(asyncio.run(_load(q, *args)))


def _busy() -> float:
    """CPU seconds the whole machine has been busy (to see other processes' load)."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def _proc_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of a process and of each of its children (the uvicorn workers)."""
    import psutil

    p = psutil.Process(pid)
    out = {}
    for x in [p, *p.children(recursive=True)]:
        try:
            t = x.cpu_times()
            out[x.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def _connections_per_worker(pid: int) -> list[int]:
    """How the kernel spread the load's connections over the workers' sockets."""
    import psutil

    out = []
    for x in psutil.Process(pid).children():
        try:
            n = sum(1 for k in x.net_connections("tcp") if k.status == psutil.CONN_ESTABLISHED)
        except psutil.Error:
            continue
        if n:
            out.append(n)
    return sorted(out, reverse=True)


def run_load(base_port: int, server_pid: int, token: str, args) -> None:
    mix = {"plain": 0.4, "follow": 0.2, "status": 0.2, "time": 0.2}
    if args.mix:
        mix = {k: float(v) for k, v in (part.split("=") for part in args.mix.split(","))}
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_load_process, args=(q, "127.0.0.1", base_port, token, args.connections,
                                                    args.warmup, args.duration, mix, 1))
    proc.start()
    assert q.get() == "start"
    s0, t0, b0 = _proc_cpu(server_pid), time.perf_counter(), _busy()
    split = _connections_per_worker(server_pid)
    res = q.get()
    s1, t1, b1 = _proc_cpu(server_pid), time.perf_counter(), _busy()
    per_worker = sorted(((s1[k] - s0.get(k, 0.0)) / (t1 - t0) for k in s1 if k != server_pid), reverse=True)
    s0, s1 = sum(s0.values()), sum(s1.values())
    proc.join()
    every = [x for v in res["lat"].values() for x in v]
    n = len(every)
    ms = lambda v, p: pct(v, p) * 1000  # noqa: E731
    p99 = ms(every, 99)
    # unanswered requests count against the target with the age they had reached (a lower bound)
    verdict = "met" if ms(every + res["waiting"], 99) <= 100 else "MISSED"
    print(f"county pages ({args.connections} connections, {args.duration:.0f} s after {args.warmup:.0f} s warm-up, "
          f"mix {', '.join(f'{k} {v:g}' for k, v in mix.items())}):")
    print(f"  {n:,} requests = {n / res['wall']:,.0f} requests/s ({res['rows'] / res['wall']:,.0f} rows/s); "
          f"p50 {ms(every, 50):.0f} ms, p90 {ms(every, 90):.0f} ms, p99 {p99:.0f} ms, max {ms(every, 100):.0f} ms "
          f"(target p99 <= 100 ms: {verdict})")
    for k, v in res["lat"].items():
        if v:
            print(f"    {k:7s} {len(v):7,d} requests, p50 {ms(v, 50):6.0f} ms, p90 {ms(v, 90):6.0f} ms, "
                  f"p99 {ms(v, 99):6.0f} ms")
    if res["waiting"]:
        print(f"  {len(res['waiting'])} requests still unanswered at the end, waiting for up to "
              f"{res['waiting'][-1] * 1000:,.0f} ms (not in the percentiles above, which they would raise)")
    if res["errors"]:
        print(f"  non-200 answers: {res['errors']}")
    server_cpu, busy = (s1 - s0) / (t1 - t0), (b1 - b0) / (t1 - t0)
    print(f"  CPU (100% = one core, {os.cpu_count()} cores): load client {res['cpu'] / res['wall']:.0%}, "
          f"server ({args.workers} workers) {server_cpu:.0%} ({' + '.join(f'{w:.0%}' for w in per_worker)}), whole machine {busy:.0%} "
          f"(other processes ~{max(0.0, busy - server_cpu - res['cpu'] / res['wall']):.0%}); "
          f"connections per worker {' / '.join(map(str, split))}")


# -- export and paging --------------------------------------------------------------------

def run_export(base: str, token: str, repeat: int) -> None:
    import httpx
    import pyarrow as pa

    headers = {"Authorization": f"Bearer {token}"}
    times, rows, size = [], 0, 0
    with httpx.Client(base_url=base, timeout=600) as client:
        for _ in range(repeat):
            parts = []
            t = time.perf_counter()
            with client.stream("GET", f"/v1/datasets/{DATASET}/export", params={"format": "arrow"},
                               headers=headers) as r:
                assert r.status_code == 200, r.read()
                for chunk in r.iter_raw(1 << 20):
                    parts.append(chunk)
            times.append(time.perf_counter() - t)
            data = b"".join(parts)
            size = len(data)
            rows = pa.ipc.open_stream(data).read_all().num_rows
    best, med = min(times), sorted(times)[len(times) // 2]
    print(f"Arrow export (county {COUNTY}, format=arrow): {rows:,} rows, {size / 1e6:,.0f} MB; "
          f"best {best:.2f} s = {rows / best:,.0f} rows/s, median {med:.2f} s = {rows / med:,.0f} rows/s "
          f"of {repeat} (target >= 2,500,000 rows/s: {'met' if rows / med >= 2.5e6 else 'MISSED'})")


def run_paging(base: str, token: str, max_rows: int, max_seconds: float) -> None:
    import httpx
    import pyarrow as pa

    headers = {"Authorization": f"Bearer {token}"}
    rows = pages = 0
    cursor, lat = None, []
    t0 = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as client:
        while rows < max_rows and time.perf_counter() - t0 < max_seconds:
            t = time.perf_counter()
            r = client.get(RECORDS, params={"limit": 10_000, "format": "arrow", **({"cursor": cursor} if cursor else {})},
                           headers=headers)
            lat.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            rows += pa.ipc.open_stream(r.content).read_all().num_rows
            pages += 1
            cursor = r.headers.get("x-next-cursor")
            if not cursor:
                break
    dt = time.perf_counter() - t0
    print(f"Arrow paging (records?limit=10000&format=arrow along X-Next-Cursor, one client): {rows:,} rows in "
          f"{pages} pages in {dt:.1f} s = {rows / dt:,.0f} rows/s; per page p50 {pct(lat, 50) * 1000:.0f} ms, "
          f"p99 {pct(lat, 99) * 1000:.0f} ms{'' if cursor is None else ' (stopped early)'}")


# -- where one page's time goes (in process) ------------------------------------------------

def breakdown(lake, token: str, n: int = 50) -> None:
    """Time each part of a county page the way the route does it, in this process."""
    from cityhub.access import audit, catalogue, grants
    from cityhub.access.clients import authenticate
    from cityhub.api import formats
    from cityhub.api.responses import json_response
    from cityhub.read import records
    from cityhub.read.snapshots import SnapshotCache

    cfg, decl = lake.cfg, lake.decl
    cache = SnapshotCache(lake)
    c = decl.contract(DATASET)
    parts: dict[str, list[float]] = {}

    def timed(name, fn, *a, **kw):
        t = time.perf_counter()
        out = fn(*a, **kw)
        parts.setdefault(name, []).append(time.perf_counter() - t)
        return out

    for i in range(n + 5):
        if i == 5:
            parts.clear()
        p = timed("authenticate (JWT + client row)", authenticate, cfg, token)
        cat = timed("catalogue.category_of", lambda: catalogue.current(cfg, decl).category_of(DATASET))
        acc = timed("grants.access (live grants query)", grants.access, cfg, decl, p, cat, DATASET)
        q = records.Query(DATASET, regions=acc.regions, unmasked=acc.unmasked)
        sid = timed("snapshot id (1 s TTL)", cache.current, DATASET)
        files = timed("planned files (cached per snapshot)", cache.files, DATASET, sid)
        rows, _ = timed("page query (sorted runs, else DuckDB)", records._page, c, q, list(files), 100, None, cfg)
        page = records.Page(rows=rows, next_cursor="x", snapshot_id=sid)
        timed("JSON (rows + dumps)", lambda: json_response({"records": formats.rows(page.rows)}))
        timed("audit.record (insert + commit)", audit.record, cfg, p, "records", dataset=DATASET, category=cat.id,
              filters={"bench": True}, rows=rows.num_rows)
    total = sum(sum(v) for v in parts.values()) / n
    print(f"one county page (limit=100), in process, mean of {n}: {total * 1000:.1f} ms")
    for k, v in sorted(parts.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {k:38s} {sum(v) / n * 1000:7.2f} ms  ({sum(v) / n / total:.0%})")


# -- main ------------------------------------------------------------------------------------

# -- metrics overhead ------------------------------------------------------------------

def _serve(port: int, workers: int, app: str, env: dict, log, metrics_dir: Path | None) -> subprocess.Popen:
    """The API as ``cityhub serve`` serves it, metrics on (``metrics_dir``) or off."""
    where = f"Path({str(metrics_dir)!r})" if metrics_dir else "None"
    code = ("from pathlib import Path; from cityhub.api.serve import serve; "
            f"serve('127.0.0.1', {port}, {workers}, app={app!r}, log_level='warning', metrics_dir={where})")
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO, env={**os.environ, **env, "CITYHUB_METRICS": "true" if metrics_dir else "false"},
        stdout=log, stderr=log)


def _scraper(base: str, stop, every_s: float, out: list) -> None:
    """Scrape /metrics every ``every_s`` (the first at once), as Prometheus would."""
    import httpx

    while True:
        t = time.perf_counter()
        r = httpx.get(f"{base}/metrics", timeout=30)
        out.append((r.status_code, len(r.content), time.perf_counter() - t))
        if stop.wait(every_s):
            return


def _one_round(port: int, server_pid: int, token: str, args, mix: dict, scrape: bool) -> dict:
    """The county-pages load once: requests answered and the server's CPU seconds."""
    import threading

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_load_process, args=(q, "127.0.0.1", port, token, args.connections,
                                                    args.warmup, args.duration, mix, 1))
    proc.start()
    assert q.get() == "start"
    scrapes: list = []
    stop = threading.Event()
    scraper = threading.Thread(target=_scraper, args=(f"http://127.0.0.1:{port}", stop, 15.0, scrapes))
    s0, t0 = sum(_proc_cpu(server_pid).values()), time.perf_counter()
    if scrape:
        scraper.start()
    res = q.get()
    s1, t1 = sum(_proc_cpu(server_pid).values()), time.perf_counter()
    stop.set()
    if scrape:
        scraper.join()
    proc.join()
    n = sum(len(v) for v in res["lat"].values())
    every = [x for v in res["lat"].values() for x in v]
    return {"n": n, "cpu": s1 - s0, "wall": t1 - t0, "p99": pct(every, 99), "errors": res["errors"],
            "scrapes": scrapes}


def run_metrics_overhead(home: Path, env: dict, token: str, args) -> None:
    mix = {"plain": 0.4, "follow": 0.2, "status": 0.2, "time": 0.2}
    if args.mix:
        mix = {k: float(v) for k, v in (part.split("=") for part in args.mix.split(","))}
    per_request: dict[str, list[float]] = {"on": [], "off": []}
    print(f"metrics overhead: {args.metrics_overhead} rounds of {args.duration:.0f} s each with metrics on and off "
          f"({args.connections} connections, {args.workers} workers, a scrape of /metrics every 15 s when on)")
    with open(home / "api-bench.log", "ab") as log:
        for i in range(args.metrics_overhead):
            for mode in (("on", "off") if i % 2 == 0 else ("off", "on")):
                _measure_one(i, mode, home, env, token, args, mix, log, per_request)
    _report_overhead(per_request, args.metrics_overhead, home)


def _measure_one(i: int, mode: str, home: Path, env: dict, token: str, args, mix: dict, log,
                 per_request: dict[str, list[float]]) -> None:
    """One round with metrics ``mode`` (on / off) on a server of its own."""
    from cityhub.api.serve import wait_ready

    port = free_port()
    server = _serve(port, args.workers, args.app, env, log, home / "metrics" if mode == "on" else None)
    try:
        wait_port(port, server)
        wait_ready(f"http://127.0.0.1:{port}")
        if mode == "on":  # Prometheus scrapes from the start: each worker's first read of the hub is behind it
            import httpx

            for _ in range(4 * args.workers):
                httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60)
        r = _one_round(port, server.pid, token, args, mix, scrape=mode == "on")
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    us = r["cpu"] / r["n"] * 1e6
    per_request[mode].append(us)
    scraped = "; ".join(f"/metrics {code} {size:,} B in {t * 1000:.0f} ms" for code, size, t in r["scrapes"])
    print(f"  round {i + 1} metrics {mode:3s}: {r['n']:7,d} requests, {r['n'] / r['wall']:6,.0f}/s, "
          f"server CPU {r['cpu']:.2f} s = {us:6.0f} us/request, p99 {r['p99'] * 1000:.0f} ms"
          + (f", errors {r['errors']}" if r["errors"] else "") + (f" ({scraped})" if scraped else ""), flush=True)


def _report_overhead(per_request: dict[str, list[float]], rounds: int, home: Path) -> None:
    import statistics

    on, off = statistics.median(per_request["on"]), statistics.median(per_request["off"])
    overhead = (on - off) / off * 100
    print(f"  server CPU per request, median of {rounds} rounds: metrics on {on:.0f} us, "
          f"off {off:.0f} us: overhead {overhead:+.1f}% (target <= 5%: {'met' if overhead <= 5 else 'MISSED'})")
    mw = _middleware_cost(home / "metrics-micro")
    print(f"  the middleware alone (in this process, multiprocess files, 200,000 requests to a bare ASGI app): "
          f"{mw:.1f} us of CPU per request = {mw / off * 100:.2f}% of a page's {off:.0f} us")


def _middleware_cost(where: Path, n: int = 200_000) -> float:
    """CPU microseconds the metrics middleware adds to one request, apart from the machine's load."""
    import asyncio

    from cityhub.api import metrics

    metrics.prepare_dir(where)
    metrics.use_multiprocess(where)
    counted = metrics.MetricsMiddleware(None, metrics.HttpMetrics())
    route = type("Route", (), {"path_format": "/v1/datasets/camera_status/records"})()

    async def app(scope, receive, send):
        scope["route"] = route
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b""})

    async def send(_message):
        pass

    counted.app = app

    async def run(handler) -> float:
        scope = {"type": "http", "method": "GET"}
        t = time.process_time()
        for _ in range(n):
            await handler(scope, None, send)
        return time.process_time() - t

    bare, with_metrics = asyncio.run(run(app)), asyncio.run(run(counted))
    shutil.rmtree(where, ignore_errors=True)
    return (with_metrics - bare) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=2_000_000, help="rows per commit")
    ap.add_argument("--keep", metavar="DIR", help="hub home to keep (and reuse if its lake is built)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mix", help="request mix, e.g. plain=0.4,follow=0.2,status=0.2,time=0.2")
    ap.add_argument("--export-repeat", type=int, default=3)
    ap.add_argument("--page-rows", type=int, default=1_000_000, help="rows to page through with limit=10000")
    ap.add_argument("--page-seconds", type=float, default=60.0)
    ap.add_argument("--skip", action="append", default=[], choices=["load", "export", "paging"])
    ap.add_argument("--breakdown", action="store_true", help="also time the parts of one page in process")
    ap.add_argument("--metrics-overhead", type=int, metavar="ROUNDS", default=0,
                    help="instead: server CPU per request with /metrics on and off, ROUNDS rounds each")
    ap.add_argument("--app", default="cityhub.api.main:create_app",
                    help="ASGI app factory to serve, module:callable, called with no arguments in each worker "
                         "(e.g. a patched one to compare)")
    ap.add_argument("--app-dir", help="folder to import --app from (put first on the workers' PYTHONPATH)")
    ap.add_argument("--row-group-rows", type=int, help="what-if: Parquet row-group limit for a newly built lake")
    ap.add_argument("--sort-by", help="what-if: sort order on write for a newly built lake, e.g. region,event_id")
    args = ap.parse_args()

    home = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="cityhub-apibench-"))

    # the hub is imported here, not at the top: the load generator is a spawned process that
    # imports this module again, and needs none of it
    from cityhub.access import clients
    from cityhub.api.serve import wait_ready
    from cityhub.core.settings import Settings
    from cityhub.lake import Lake

    # everything under the bench's own home (whatever CITYHUB_LAKE, _CATALOG_URI, _DB_URI or _CITY
    # say), rate limits lifted, tokens that outlive the run
    cfg = Settings(home=home, lake_uri="", catalog_uri="", hub_db_uri="", city=CITY, token_ttl_s=86400,
                   rate_limit="100000000/minute", open_rate_limit="100000000/minute")
    # the API's workers build their settings from their environment (create_app): the same ones
    env = {"CITYHUB_HOME": str(cfg.home), "CITYHUB_LAKE": cfg.lake_uri, "CITYHUB_CATALOG_URI": cfg.catalog_uri,
           "CITYHUB_DB_URI": cfg.hub_db_uri, "CITYHUB_CITY": cfg.city, "CITYHUB_TOKEN_TTL_S": str(cfg.token_ttl_s),
           "CITYHUB_RATE_LIMIT": cfg.rate_limit, "CITYHUB_OPEN_RATE_LIMIT": cfg.open_rate_limit}
    if args.app_dir:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(args.app_dir).resolve()),
                                                          os.environ.get("PYTHONPATH")]))

    server = None
    try:
        lake = Lake(cfg)
        have = lake_rows(lake)
        if have and args.keep:
            print(f"reusing the lake in {home} ({have:,} rows; --rows {args.rows:,} ignored)")
        else:
            if have:
                raise SystemExit(f"{home} already has a lake with {have:,} rows")
            print(f"building {args.rows:,} rows of {DATASET} in {home}")
            build(lake, args.rows, args.chunk, args.row_group_rows, args.sort_by)
        describe(lake)

        tag = uuid.uuid4().hex[:6]
        county, _ = clients.create(cfg, lake.decl, f"bench-county-{tag}", "county", region=COUNTY)
        token = clients.issue_token(cfg, county)

        if args.metrics_overhead:
            run_metrics_overhead(home, env, token, args)
            return

        port = free_port()
        log = open(home / "api-bench.log", "ab")
        # served as `cityhub serve` serves it (cityhub.api.serve: a SO_REUSEPORT socket per worker)
        server = subprocess.Popen(
            [sys.executable, "-c", "from cityhub.api.serve import serve; "
             f"serve('127.0.0.1', {port}, {args.workers}, app={args.app!r}, log_level='warning')"],
            cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=log)
        wait_port(port, server)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        print(f"API: {args.app} served by cityhub.api.serve (uvicorn, {args.workers} workers with a socket each, "
              f"uvloop, httptools) on {base} (log: {home / 'api-bench.log'})")

        if args.breakdown:
            breakdown(lake, token)
        if "load" not in args.skip:
            run_load(port, server.pid, token, args)
        if "export" not in args.skip:
            run_export(base, token, args.export_repeat)
        if "paging" not in args.skip:
            run_paging(base, token, args.page_rows, args.page_seconds)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
