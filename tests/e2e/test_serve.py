"""``cityhub serve``: every worker takes its share of connections, and a worker
that dies is started again while the others keep answering."""
from __future__ import annotations

import os
import signal
import sys
import time

import httpx
import psutil

from cityhub.api.serve import wait_ready
from tests.conftest import free_port, serving


def _workers(pid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.Process(pid).children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:  # gone, or a zombie not yet reaped
            pass
    return out


def test_connections_spread_over_workers_and_a_dead_worker_comes_back(hub_home):
    port = free_port()
    env = {**os.environ, "CITYHUB_HOME": str(hub_home)}
    with serving([sys.executable, "-m", "cityhub.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
                  "--workers", "2"], port, env=env) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        workers = _workers(proc.pid)
        assert len(workers) == 2

        clients = [httpx.Client(base_url=base) for _ in range(24)]  # keep-alive connections
        try:
            for c in clients:
                assert c.get("/healthz").status_code == 200
            held = {w.pid: sum(1 for k in w.net_connections("tcp") if k.status == psutil.CONN_ESTABLISHED)
                    for w in workers}
            assert all(n > 0 for n in held.values()), held
        finally:
            for c in clients:
                c.close()

        os.kill(workers[0].pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alive = [w for w in _workers(proc.pid) if w.pid != workers[0].pid]
            if len(alive) == 2:
                break
            time.sleep(0.2)
        assert len(alive) == 2, "the supervisor did not start the dead worker again"
        wait_ready(base)
        assert httpx.get(f"{base}/healthz").status_code == 200
