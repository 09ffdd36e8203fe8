"""The browser harness every page test uses: a hub with simulated data served over HTTP
by ``cityhub serve`` (uvicorn, in a subprocess), Debian's Chromium driven by Playwright
(never ``playwright install``: the system browser), signed in as a role through the
hub's own sign-in (``POST /v1/session``: the session and CSRF cookies), with every request
the page makes recorded and any request that goes anywhere but 127.0.0.1 failing the
test (no CDN), and screenshots at 1920x1080 in ``build/screenshots/<page>-<role>.png``.

The world: Dezhou with four simulated days, one in each of four months (2026-08 to
2026-11), each landed through the declared connectors and computed (day, month to date,
year to date), so every indicator has four monthly periods of history; plus the feeds
declared with sample files only. Built once per session (~1 min)."""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import REPO, free_port, serving
from tests.e2e.browser.world import CITY, DECHENG, MONTHS, QIHE, Client, build  # noqa: F401 (the tests' names)

CHROMIUM = "/usr/bin/chromium"  # Debian's (.ci/run installs it)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1920, "height": 1080}
SCREENSHOTS = REPO / "build" / "screenshots"



@dataclass
class Hub:
    base: str
    home: Path
    clients: dict[str, Client] = field(default_factory=dict)

    def api(self, role: str, path: str, **params) -> dict:
        """The API's answer to ``role`` (bearer token), to compare the page with."""
        r = httpx.get(f"{self.base}{path}", params=params,
                      headers={"Authorization": f"Bearer {self.clients[role].token}"}, timeout=30)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def world_home(tmp_path_factory) -> Iterator[tuple[Path, dict[str, Client]]]:
    home = tmp_path_factory.mktemp("browser") / "hub"
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("CITYHUB_")]:
            mp.delenv(var)
        mp.setenv("CITYHUB_HOME", str(home))
        yield home, build(home)


@pytest.fixture(scope="session")
def hub(world_home) -> Iterator[Hub]:
    """The hub over that world, served as ``cityhub serve`` serves it (2 workers)."""
    from cityhub.api.serve import wait_ready

    home, made = world_home
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")} | {"CITYHUB_HOME": str(home)}
    with serving([sys.executable, "-m", "cityhub.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
                  "--workers", "2"], port, env=env):
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        yield Hub(base, home, made)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Chromium under Playwright's sync API, for one module's tests at a time: while it is
    open, its event loop counts as running in this thread, so a later test of another
    module in the same worker that runs asyncio (``asyncio.run``, an async client) would
    fail or hang. pytest closes a module's fixtures before the next module's test."""
    assert Path(CHROMIUM).is_file(), f"no Chromium at {CHROMIUM}: apt-get install chromium (as .ci/run does)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Requests:
    """Every request a page made, redirects included (``seen``, by the context's request
    event); one to anywhere but 127.0.0.1 is kept in ``outside`` and, when the page asked
    for it (not a redirect, which routing does not see), aborted."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.outside: list[str] = []
        self.failed: list[str] = []
        self.watching = False

    @staticmethod
    def local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"

    def request(self, request) -> None:
        self.seen.append(request.url)
        if not self.local(request.url):
            self.outside.append(request.url)

    def route(self, route) -> None:
        if not self.watching:  # routed alone (``context.route("**/*", reqs.route)``): record here
            self.request(route.request)
        if self.local(route.request.url):
            route.continue_()
        else:
            route.abort()

    def watch(self, context) -> None:
        """Record every request of ``context`` and abort those it asks of other hosts."""
        self.watching = True
        context.on("request", self.request)
        context.route("**/*", self.route)


@dataclass
class Session:
    """A signed-in browser context for one role."""
    hub: Hub
    role: str
    context: object
    page: object
    requests: Requests
    signed_in_by: str

    def goto(self, path: str, ready: bool = True, timeout_ms: float = 30_000):
        """Open ``path`` and, with ``ready``, wait for the page's ``window.cityhubReady``."""
        self.page.goto(self.hub.base + path)
        if ready:
            self.page.wait_for_function("document.body && document.body.dataset.ready", timeout=timeout_ms)
            state = self.page.evaluate("document.body.dataset.ready")
            assert state == "1", self.page.evaluate("document.body.dataset.error")
        return self.page

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{self.role}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path


def sign_in(hub: Hub, context, role: str) -> str:
    """Sign ``context`` in as ``role`` through the hub's sign-in (``POST /v1/session``:
    cookies); a hub without it gets the bearer token on every request instead."""
    c = hub.clients[role]
    r = context.request.post(f"{hub.base}/v1/session", form={"client_id": c.client_id, "client_secret": c.secret})
    if r.ok:
        return "session-cookie"
    if r.status in (404, 405):
        context.set_extra_http_headers({"Authorization": f"Bearer {c.token}"})
        return "bearer-header"
    raise AssertionError(f"sign-in as {role} failed: {r.status} {r.text()}")


@pytest.fixture
def open_as(hub, browser) -> Iterator:
    """``open_as(role)`` -> a signed-in ``Session``; at the end, every request it made
    must have stayed on 127.0.0.1."""
    made: list[Session] = []

    def _open(role: str | None) -> Session:
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
        reqs = Requests()
        reqs.watch(context)
        how = sign_in(hub, context, role) if role else "anonymous"
        page = context.new_page()
        page.on("pageerror", lambda e: reqs.failed.append(f"page error: {e}"))
        s = Session(hub, role or "anonymous", context, page, reqs, how)
        made.append(s)
        return s

    yield _open
    for s in made:
        s.context.close()
    for s in made:
        assert s.requests.outside == [], f"requests left 127.0.0.1 as {s.role}: {s.requests.outside}"
        assert s.requests.failed == [], s.requests.failed


def clean_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
