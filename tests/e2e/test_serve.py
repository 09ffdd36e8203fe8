"""``cityhub serve``: every worker takes its share of connections, a worker that
dies is started again while the others keep answering, and an admin's catalogue
change made through one worker reaches every worker within the catalogue's TTL."""
from __future__ import annotations

import os
import signal
import sys
import time

import httpx
import psutil

from cityhub.access.catalogue import TTL_S
from cityhub.api.serve import wait_ready
from tests.conftest import free_port, serving
from tests.e2e.workers import served_by_workers
from tests.support import auth, token


def test_connections_spread_over_workers_and_a_dead_worker_comes_back(hub_home):
    with served_by_workers(hub_home) as served:
        base, workers = served.base, served.workers

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
            alive = [w for w in served.live_workers() if w.pid != workers[0].pid]
            if len(alive) == 2:
                break
            time.sleep(0.2)
        assert len(alive) == 2, "the supervisor did not start the dead worker again"
        wait_ready(base)
        assert httpx.get(f"{base}/healthz").status_code == 200


def _fresh(base: str, n: int, method: str, path: str, **kw) -> list[httpx.Response]:
    """``n`` requests, each on a new connection (spread over the workers by SO_REUSEPORT)."""
    out = []
    for _ in range(n):
        with httpx.Client(base_url=base, timeout=30) as c:
            out.append(c.request(method, path, **kw))
    return out


def test_a_catalogue_change_reaches_every_worker(api_server, cfg, decl):
    h = auth(token(cfg, decl, "city-admin", "admin"))
    url = "/v1/catalog/categories/ps.parking_lots"
    # every worker reads (and caches) the catalogue without the category
    assert {r.status_code for r in _fresh(api_server, 24, "GET", url, headers=h)} == {404}
    new = {"id": "ps.parking_lots", "name_zh": "公共停车场", "name_en": "Public car parks", "owner": "public_security",
           "share_type": "unconditional", "open_type": "unconditional", "update_cycle": "daily",
           "fields": [{"name": "lot_id"}, {"name": "spaces", "type": "int64"}]}
    r = httpx.put(f"{api_server}{url}", headers=h, json=new, timeout=30)
    assert r.status_code == 201, r.text
    time.sleep(TTL_S + 0.1)  # API workers re-read the catalogue within its TTL
    got = _fresh(api_server, 24, "GET", url, headers=h)
    assert {r.status_code for r in got} == {200}, [r.text for r in got if r.status_code != 200]
    assert all([f["name"] for f in r.json()["fields"]] == ["lot_id", "spaces"] for r in got)


def test_a_second_hub_on_a_port_in_use_fails_instead_of_sharing_it(hub_home):
    import subprocess

    port = free_port()
    env = {**os.environ, "CITYHUB_HOME": str(hub_home)}
    cmd = [sys.executable, "-m", "cityhub.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "2"]
    with serving(cmd, port, env=env):
        wait_ready(f"http://127.0.0.1:{port}")
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert f"cannot serve on 127.0.0.1:{port}" in second.stderr and "another hub" in second.stderr
