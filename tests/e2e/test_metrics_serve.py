"""``/metrics`` of ``cityhub serve`` with 2 workers over HTTP: whichever worker answers a
scrape reports the whole hub's request counts (prometheus-client's multiprocess files,
private to the hub home), a worker killed and started again loses none of them, and a
connector's rows after an ingest (by the ``cityhub`` command, another process) equal
the hub's run records."""
from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cityhub.api.serve import wait_ready
from cityhub.core.settings import Settings
from cityhub.declarations import load
from cityhub.lake import Lake
from cityhub.pipelines.hub_metrics import HubCollector
from cityhub.pipelines.ingest import runs
from tests.e2e.workers import served_by_workers
from tests.integration.pipelines.test_corrected_deliveries import (
    REGISTRY,
    camera,
    deliver,
)

HEALTHZ = ("cityhub_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))


def _held_by(workers, port: int, timeout: float = 10.0) -> int:
    """The pid of the worker that accepted the connection from local ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w in workers:
            if any(k.raddr and k.raddr.port == port for k in w.net_connections("tcp")):
                return w.pid
        time.sleep(0.05)
    raise TimeoutError(f"no worker holds the connection from port {port}")


def _scrape_from_each(workers, port: int) -> dict[int, dict]:
    """A scrape answered by each worker: connections are opened until every worker holds one."""
    out, pending = {}, []
    try:
        while len(out) < len(workers):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            pending.append(s)
            pid = _held_by(workers, s.getsockname()[1])
            if pid in out:
                continue
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            if b"chunked" in head.lower():
                body = _unchunk(body)
            out[pid] = {(x.name, tuple(sorted(x.labels.items()))): x.value
                        for fam in text_string_to_metric_families(body.decode()) for x in fam.samples}
    finally:
        for s in pending:
            s.close()
    return out


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, body = out + rest[:n], rest[n + 2:]
    return out


def test_every_worker_reports_the_whole_hubs_counts_and_the_run_records(hub_home):
    env = {**os.environ, "CITYHUB_HOME": str(hub_home)}
    with served_by_workers(hub_home) as served:
        port, base, workers = served.port, served.base, served.workers
        files = hub_home / "metrics"
        assert stat.S_IMODE(files.stat().st_mode) == 0o700

        def healthz_count():
            return {pid: m.get(HEALTHZ) for pid, m in _scrape_from_each(served.live_workers(), port).items()}

        # probes wait_ready gave up on while the workers started are answered late: wait for quiet
        before, deadline = healthz_count(), time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(1.0)
            again = healthz_count()
            if again == before:
                break
            before = again
        assert len(set(before.values())) == 1, before  # both workers report the same total
        served_by = set()
        for _ in range(30):  # fresh connections: spread over both workers
            with httpx.Client(base_url=base) as c:
                assert c.get("/healthz").status_code == 200
        for w in workers:
            if any(f.name.endswith(f"_{w.pid}.db") for f in files.iterdir()):
                served_by.add(w.pid)
        assert served_by == {w.pid for w in workers}  # each counted in its own file
        after = healthz_count()
        assert set(after.values()) == {next(iter(before.values())) + 30}, after

        # a worker killed: its counts stay in the hub's total, the one started instead adds to them
        os.kill(workers[0].pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len([w for w in served.live_workers() if w.pid != workers[0].pid]) < 2:
            time.sleep(0.2)
        wait_ready(base, probes=4)
        now = healthz_count()
        assert len(set(now.values())) == 1 and next(iter(now.values())) >= next(iter(after.values())), now

        # an ingest by another process: rows per connector are the run records' sums
        cfg = Settings()
        lake = Lake(cfg, load())
        deliver(lake, "registry_20261122.csv", [camera(1), camera(2), camera(3, region="371425")])
        r = subprocess.run([sys.executable, "-m", "cityhub.cli.main", "ingest", REGISTRY], env=env,
                           capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        records = runs.recent(cfg, REGISTRY)
        assert records and sum(x["landed"] for x in records) == 2
        time.sleep(HubCollector(lake).ttl_s + 0.2)  # the workers' cached reads of the hub lapse
        for pid, m in _scrape_from_each(served.live_workers(), port).items():
            for metric in ("landed", "quarantined", "received", "corrected"):
                key = (f"cityhub_connector_rows_{metric}_total", (("connector", REGISTRY),))
                assert m.get(key) == sum(x[metric] for x in records), (pid, metric)
            assert m[("cityhub_connector_runs_total", (("connector", REGISTRY), ("status", "ok")))] == len(records)
            assert m[("cityhub_connector_stale", (("connector", REGISTRY),))] == 0
            assert m[("cityhub_lake_snapshots", (("table", REGISTRY),))] >= 1
