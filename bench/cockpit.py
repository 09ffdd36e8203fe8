"""How long the cockpit (驾驶舱) takes to become interactive in a real browser: from
navigation to ``window.cityhubReady`` (every request answered, every chart drawn), for
Dezhou (the city and 11 counties, every indicator, four monthly periods of history; the
browser tests' world, ``tests/e2e/browser/world.py``), served by ``cityhub serve`` (two
workers) and opened by Debian's Chromium through Playwright, signed in as the scoring
layer. Prints each run and the median beside the 1 s target.

    .venv/bin/python bench/cockpit.py [--runs 10] [--home DIR]

``--home`` keeps the world between runs (built once, ~1 min)."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import free_port, wait_port
from tests.e2e.browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.e2e.browser.world import build

TARGET_S = 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--home", type=Path, help="hub home to build the world in (kept); default a temporary one")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="cityhub-cockpit-")) / "hub"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")} | {"CITYHUB_HOME": str(home)}
    os.environ.clear()
    os.environ.update(env)  # the world is built with this process's settings: the same home
    marker = home / "cockpit-bench-clients.json"
    t = time.perf_counter()
    if marker.is_file():
        import json
        clients = json.loads(marker.read_text())
        print(f"world: reusing {home}")
    else:
        import json
        clients = {k: vars(v) for k, v in build(home).items()}
        marker.write_text(json.dumps(clients))
        print(f"world: built in {time.perf_counter() - t:.1f} s at {home}")

    from playwright.sync_api import sync_playwright

    from cityhub.api.serve import wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "cityhub.cli.main", "serve", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc=server)
        wait_ready(base)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            ctx = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
            c = clients["scoring"]
            r = ctx.request.post(f"{base}/v1/session", form={"client_id": c["client_id"], "client_secret": c["secret"]})
            if not r.ok:  # a hub without the sign-in: the bearer token instead
                ctx.set_extra_http_headers({"Authorization": f"Bearer {c['token']}"})
            page = ctx.new_page()
            times, data = [], []
            for i in range(args.runs + 1):  # the first warms the hub's and the browser's caches
                page.goto(base + "/")
                page.wait_for_function("document.body.dataset.ready", timeout=30_000)
                assert page.evaluate("document.body.dataset.ready") == "1", page.evaluate("document.body.dataset.error")
                ms, data_ms = page.evaluate("[window.cityhubReadyAt, window.cityhubDataAt]")
                label = "warm-up" if i == 0 else f"run {i}"
                print(f"  {label:8} {ms / 1000:.3f} s  (API answers in at {data_ms / 1000:.3f} s, then drawing)")
                if i:
                    times.append(ms / 1000)
                    data.append(data_ms / 1000)
            regions = page.locator("#compare-data tr").count()
            indicators = page.locator("#indicator-table tbody tr").count()
            months = page.locator("#trend-data tr:first-child td").count()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    med = statistics.median(times)
    print(f"cockpit interactive (navigation -> charts drawn, data loaded), {regions} regions x {indicators} "
          f"indicators x {months} months: median {med:.3f} s, best {min(times):.3f} s, worst {max(times):.3f} s "
          f"over {len(times)} runs (median {statistics.median(data):.3f} s of it waiting for the API); "
          f"target {TARGET_S:.1f} s: {'met' if med <= TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
