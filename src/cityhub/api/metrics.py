"""Prometheus metrics of the API: requests and their latency by route template and
status, counted by a pure ASGI middleware (it is on every request's path: no
``BaseHTTPMiddleware``, one dictionary lookup and two observations per request), and
the ``/metrics`` exposition with the hub's data-derived gauges (``pipelines.hub_metrics``).

``cityhub serve`` runs several worker processes: each writes its counts to files in a
directory private to the hub home (prometheus-client's multiprocess mode, set up by
``use_multiprocess`` in every worker before its app is built, the directory cleaned by
the supervisor at start), so whichever worker answers a scrape reports the whole
hub's counts. An app built in-process (tests, one process) counts in its own registry.

Labels are bounded: the route's template (``/v1/datasets/{dataset}/records``, never the
raw path, which could carry an identifier), the method, the status; a request no route
matched is ``route="unmatched"``.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from cityhub.pipelines.hub_metrics import HubCollector

_multiproc_dir: Path | None = None

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Latency buckets (s): a record page from memory is ~1 ms, an export may take seconds."""


def prepare_dir(path: Path) -> Path:
    """The supervisor's part, before any worker starts: an empty directory, the hub
    user's alone (0700), for the workers' metric files (last run's counts are gone)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def use_multiprocess(path: Path) -> None:
    """A worker's part, before its app is built: its metrics go to files in ``path``.
    prometheus-client takes the directory from ``PROMETHEUS_MULTIPROC_DIR`` (its
    interface: the variable is set for this process only, by the serving code)."""
    global _multiproc_dir
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    values.ValueClass = values.MultiProcessValue()  # if prometheus_client was imported before
    _multiproc_dir = path


def mark_dead(path: Path, pid: int) -> None:
    """The supervisor's part when a worker exits: its live gauges no longer count (its
    counters and histograms do: what it served was served)."""
    multiprocess.mark_process_dead(pid, str(path))


class HttpMetrics:
    """The request counter and latency histogram of one app."""

    def __init__(self):
        self.registry = None if _multiproc_dir else CollectorRegistry()  # None: counted in the files
        kw = {"registry": self.registry}
        self.requests = Counter("cityhub_http_requests", "HTTP requests answered, by route template and status",
                                ["method", "route", "status"], **kw)
        self.latency = Histogram("cityhub_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by route template",
                                 ["method", "route"], buckets=BUCKETS, **kw)
        self._children: dict[tuple[str, str, int], tuple] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (self.requests.labels(method, route, str(status)).inc,
                                          self.latency.labels(method, route).observe)
        pair[0]()
        pair[1](seconds)

    def registry_for_scrape(self, *extra) -> CollectorRegistry:
        """What a scrape reports: every worker's files (multiprocess) or this app's
        registry, and ``extra`` collectors."""
        if self.registry is not None:
            reg = CollectorRegistry()
            reg.register(_Delegate(self.registry))
        else:
            reg = CollectorRegistry()
            multiprocess.MultiProcessCollector(reg, path=str(_multiproc_dir))
        for c in extra:
            reg.register(c)
        return reg

    def exposition(self, *extra) -> tuple[bytes, str]:
        """The text format Prometheus scrapes (with ``extra`` collectors), and its content type."""
        return generate_latest(self.registry_for_scrape(*extra)), CONTENT_TYPE_LATEST


class _Delegate:
    """Another registry's metrics, as one collector of a scrape's registry."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


def route_of(scope: dict) -> str:
    """The template of the route that answered (FastAPI puts it in the scope)."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"


class MetricsMiddleware:
    """Counts every HTTP request once it is answered (status of the response start; 500
    when the app raised before answering)."""

    def __init__(self, app, metrics: HttpMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(scope["method"], route_of(scope), status, time.perf_counter() - start)


def install(app, cfg, lake) -> None:
    """Count the app's requests and give ``/metrics`` what it reports (``cfg.metrics``)."""
    if not cfg.metrics:
        app.state.metrics = None
        return
    app.state.metrics = HttpMetrics()
    app.state.hub_collector = HubCollector(lake)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
