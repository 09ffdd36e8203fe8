"""`cityhub serve --workers N` in a process of its own, over a test's hub home, and the
worker processes its supervisor runs (the multi-worker serve and metrics tests)."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

from cityhub.api.serve import wait_ready
from tests.conftest import free_port, serving


def worker_processes(pid: int) -> list[psutil.Process]:
    """The live worker processes of the supervisor ``pid``."""
    out = []
    for p in psutil.Process(pid).children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:  # gone, or a zombie not yet reaped
            pass
    return out


@dataclass
class Served:
    proc: object
    """The supervisor process."""
    port: int
    base: str
    workers: list[psutil.Process]
    """The workers once ready."""

    def live_workers(self) -> list[psutil.Process]:
        return worker_processes(self.proc.pid)


@contextmanager
def served_by_workers(hub_home, workers: int = 2) -> Iterator[Served]:
    """The hub served by ``workers`` worker processes on a free loopback port, ready."""
    port = free_port()
    env = {**os.environ, "CITYHUB_HOME": str(hub_home)}
    with serving([sys.executable, "-m", "cityhub.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
                  "--workers", str(workers)], port, env=env) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        found = worker_processes(proc.pid)
        assert len(found) == workers
        yield Served(proc, port, base, found)
