"""Serving the API: uvicorn workers (uvloop, httptools), each on a listening socket
of its own bound with SO_REUSEPORT.

uvicorn's ``--workers`` share one listening socket, and keep-alive connections
that open together are mostly accepted by whichever worker wakes first, and stay
with it: under the load bench one worker ran at 100% CPU while the other idled
at 10%. With one socket per worker the kernel spreads new connections over the
workers by their addresses' hash. The supervisor binds every socket before any
worker starts (connections that arrive meanwhile wait in the backlog), hands
each worker its own, and starts a worker again if it dies.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from cityhub.api import metrics
from cityhub.core import logs
from cityhub.core.files import private_files
from cityhub.core.settings import Settings

log = logging.getLogger(__name__)


_UVICORN = {"loop": "uvloop", "http": "httptools"}


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _claim(host: str, port: int) -> int:
    """Fail if anything listens on the port already. SO_REUSEPORT lets every socket that
    sets it share a port: a second hub started on a busy port would silently split the
    traffic with the first. A socket without it cannot bind a port another listens on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of a stopped hub is no owner
        try:
            probe.bind((host, port))
        except OSError as e:
            raise SystemExit(f"cannot serve on {host}:{port}: {e.strerror} (is another hub running there?)") from None
        return probe.getsockname()[1]


APP = "cityhub.api.main:create_app"
"""The app factory each worker calls: it builds its settings from the environment."""


def _server(app: str, log_level: str, metrics_dir: Path | None = None, **kw) -> uvicorn.Server:
    """A uvicorn server with its app built, and the objects of start-up frozen out of the
    garbage collector's full passes (a page allocates thousands of small objects: the
    collector runs less often too). ``metrics_dir``: the workers' shared metric files.
    The log as the settings say (``core.logs``); in JSON, uvicorn's access log too."""
    private_files()
    if metrics_dir is not None:
        metrics.use_multiprocess(metrics_dir)
    cfg = Settings()  # this process's log settings; the app factory builds its own from the same environment
    if cfg.log_format == "json":
        kw.setdefault("log_config", None)  # uvicorn's records go through the hub's handler
    config = uvicorn.Config(app, factory=True, log_level=log_level, **_UVICORN, **kw)
    logs.configure(cfg, uvicorn=cfg.log_format == "json")
    config.load()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    return uvicorn.Server(config)


def _worker(app: str, sock: socket.socket, log_level: str, metrics_dir: Path | None = None) -> None:
    _server(app, log_level, metrics_dir).run(sockets=[sock])


def serve(host: str, port: int, workers: int = 2, app: str = APP, log_level: str = "info",
          metrics_dir: Path | None = None) -> None:
    """Serve until SIGTERM or SIGINT; ``workers`` processes (1: in this process).
    ``metrics_dir`` (the hub's ``<home>/metrics``; None: metrics off or per process):
    emptied now, then every worker counts its requests there (``api.metrics``)."""
    if metrics_dir is not None:
        metrics.prepare_dir(metrics_dir)
    if workers <= 1:
        _server(app, log_level, metrics_dir, host=host, port=port).run()
        return
    if not hasattr(socket, "SO_REUSEPORT"):  # not Linux or BSD: uvicorn's own shared socket
        uvicorn.run(app, factory=True, host=host, port=port, workers=workers, log_level=log_level, **_UVICORN)
        return
    port = _claim(host, port)  # port 0: a free port, for all
    first = _bind(host, port)
    sockets: list[socket.socket | None] = [first, *(_bind(host, port) for _ in range(workers - 1))]
    ctx = mp.get_context("spawn")
    procs: list[mp.Process | None] = [None] * workers
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s: %(message)s")
    log.info("serving %s on http://%s:%d with %d workers, a socket each (SO_REUSEPORT)", app, host, port, workers)
    started = [0.0] * workers
    backoff = [0.0] * workers
    try:
        while not stop.is_set():
            now = time.monotonic()
            for i, p in enumerate(procs):
                if p is not None and p.is_alive():
                    continue
                if p is not None:
                    # a worker that dies young (a bad deploy) is retried ever more slowly
                    backoff[i] = min(30.0, max(1.0, backoff[i] * 2)) if now - started[i] < 10 else 0.0
                    log.warning("worker %d (pid %s) exited with %s: starting it again in %.0f s",
                                i, p.pid, p.exitcode, backoff[i])
                    if metrics_dir is not None:
                        metrics.mark_dead(metrics_dir, p.pid)
                    procs[i] = None
                    started[i] = now + backoff[i]
                    if backoff[i]:  # while it waits, its socket takes no connections: the others get them
                        sockets[i].close()
                        sockets[i] = None
                if now >= started[i]:
                    if sockets[i] is None:
                        sockets[i] = _bind(host, port)
                    procs[i] = ctx.Process(target=_worker, args=(app, sockets[i], log_level, metrics_dir),
                                           name=f"cityhub-api-{i}")
                    procs[i].start()
                    started[i] = now
            stop.wait(0.5)
    finally:
        for p in procs:
            if p is not None and p.is_alive():
                p.terminate()
        for p in procs:
            if p is not None:
                p.join(10)
                if p.is_alive():
                    p.kill()
        for s in sockets:
            if s is not None:
                s.close()


def wait_ready(base: str, timeout: float = 90.0, probes: int = 12) -> None:
    """Return once ``probes`` fresh connections in a row get answers from ``base``:
    the sockets accept before the workers have imported the app, and the kernel may
    hand a new connection to any worker. ``TimeoutError`` if that takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = 0
        for _ in range(probes):
            try:
                ok += httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                pass
        if ok == probes:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the API's workers are not all answering at {base} after {timeout}s")
