"""Benchmark: rows/s per file and HTTP connector, end to end to committed rows
(read or fetch, decode, map, type, validate with Great Expectations, commit).

    .venv/bin/python bench/connector_ingest.py [--only NAME ...]

Each connector gets a realistic delivery from its simulator, at a size where
fixed costs do not dominate, into a fresh lake. Target: >= 50,000 rows/s each.
The one-off Great Expectations import and parser-pool start are done first and
excluded. The HTTP variants are served by the simulators in a process of their
own on this same 2-core machine, so the server's CPU competes with the connector's.
Settings are built per run (``Settings(home=<fresh temporary folder>)``, an HTTP
source's URL with ``cfg.with_connector(name, url=...)``) and passed in.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from cityhub.connectors.formats.gb28181 import parser_pool
from cityhub.core.settings import Settings
from cityhub.declarations import load
from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run
from cityhub.pipelines.landing.quality import _gx

DAY = date(2026, 11, 22)


NAMES = ("camera_registry", "camera_catalog_drop", "camera_status_drop", "camera_catalog_http",
         "traffic_intersections_drop", "traffic_intersections_http", "traffic_signal_events_drop",
         "medical_institutions_drop", "medical_institutions_http", "medical_visits_drop",
         "social_security_records_drop")


def _served_elsewhere(code: str):
    """Start a simulator's HTTP server in its own process (as the real platform is
    another machine); returns its URL (for ``cfg.with_connector(name, url=...)``)
    and stop()."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", code.format(port=port)], cwd=Path(__file__).resolve().parents[1])
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return f"http://127.0.0.1:{port}", proc.terminate


# the serve expression carries a {port} placeholder, filled by _served_elsewhere
SERVE = """
import time
from datetime import date, timedelta
from cityhub_sim import cameras, medical, traffic
DAY = date(2026, 11, 22)
{make}
server, url = {serve}
time.sleep(3600)
"""


def _dropped(write):
    """deliver(cfg) for a file drop: ``write(drop_root)``; the settings stay as they are."""
    def deliver(cfg: Settings):
        write(cfg.drop_root)
        return cfg, lambda: None
    return deliver


def _served(name: str, make: str, serve: str):
    """deliver(cfg) for an HTTP source: the simulator served in its own process, and
    settings pointing connector ``name`` at it."""
    def deliver(cfg: Settings):
        url, stop = _served_elsewhere(SERVE.format(make=make, serve=serve))
        return cfg.with_connector(name, url=url), stop
    return deliver


def deliveries(wanted: str):
    """name -> (description, deliver(cfg) -> (cfg, stop()), prerequisite connectors), for
    the feed of ``wanted`` only: one simulated world in memory at a time, as in a
    connector process (a heap full of other worlds slows every allocation)."""
    from cityhub_sim import cameras

    def cam(parts, **kw):
        w = cameras.generate(cameras.SimConfig(day=DAY, fault_rate=0.005, **kw))
        return w, _dropped(lambda drop: cameras.write_drop(w, drop, parts=parts))

    out = {}
    feed = wanted.split("_")[0]
    if feed != "camera":
        return _others(wanted, feed)
    w, d = cam(("registry",), cameras_per_county=9100)
    out["camera_registry"] = (f"{len(w.registry):,} cameras, CSV", d, [])
    w, d = cam(("catalog",), cameras_per_county=10000, page_size=500)
    out["camera_catalog_drop"] = (f"{len(w.catalog_items):,} devices, GB/T 28181 XML GB18030", d, [])
    w, d = cam(("status",), cameras_per_county=9100, events_per_camera=3)
    out["camera_status_drop"] = (f"{len(w.events):,} events, JSON lines", d, [])

    cam_http = _served("camera_catalog_http",
                       make="w = cameras.generate(cameras.SimConfig(day=DAY, fault_rate=0.005, "
                            "cameras_per_county=10000, page_size=500))",
                       serve="cameras.serve_catalog(w.catalog_pages, port={port})")
    out["camera_catalog_http"] = ("100,958 devices over HTTP (server in its own process)", cam_http, [])
    return out


def _others(wanted: str, feed: str):
    from cityhub_sim import medical, social_security, traffic

    if feed == "traffic":
        return _traffic(traffic)
    if feed == "medical":
        return _medical(medical, wanted)
    return _social(social_security)


def _traffic(traffic):
    out = {}
    tw = traffic.generate(traffic.TrafficConfig(day=DAY, intersections_per_county=9000, fault_rate=0.005))

    traffic_drop = _dropped(lambda drop: traffic.write_drop(tw, drop))
    traffic_http = _served(
        "traffic_intersections_http",
        make="w = traffic.generate(traffic.TrafficConfig(day=DAY, intersections_per_county=9000, fault_rate=0.005))",
        serve="traffic.serve_inventory(w, port={port})")
    out["traffic_intersections_drop"] = (f"{len(tw.intersections):,} intersections, JSON", traffic_drop, [])
    out["traffic_intersections_http"] = (f"{len(tw.intersections):,} intersections, paged JSON over HTTP",
                                         traffic_http, [])
    out["traffic_signal_events_drop"] = (f"{len(tw.events):,} controller events, JSON lines", traffic_drop,
                                         ["traffic_intersections_drop"])
    return out


def _medical(medical, wanted: str = ""):
    """The registry at a provincial export's size (Shandong has ~85,000 medical
    institutions: 8,600 per county here gives ~95,000 Organizations), so fixed costs do
    not dominate; the visits bench keeps its registry of 1,800 per county (its CSV rows
    grow with the registry)."""
    out = {}
    per_county = 1800 if wanted == "medical_visits_drop" else 8600
    mw = medical.generate(medical.MedicalConfig(start=DAY - timedelta(days=29), days=30,
                                                institutions_per_county=per_county, fault_rate=0.005))
    make = ("w = medical.generate(medical.MedicalConfig(start=DAY - timedelta(days=29), days=30, "
            f"institutions_per_county={per_county}, fault_rate=0.005))")

    # (the registry alone for its own benches: a month of visits at this size is millions of CSV rows)
    med_drop = _dropped(lambda drop: medical.write_drop(mw, drop, days=None if per_county == 1800 else []))
    med_http = _served("medical_institutions_http", make=make, serve="medical.serve_registry(w, port={port})")
    size = f"{len(mw.organizations):,} FHIR Organizations"
    out["medical_institutions_drop"] = (f"{size} in {len(mw.bundles)} Bundle files, a provincial registry's size",
                                        med_drop, [])
    out["medical_institutions_http"] = (f"{size} over HTTP, pages of 500, a provincial registry's size", med_http, [])
    out["medical_visits_drop"] = ("30 days of visit counts, CSV", med_drop, ["medical_institutions_drop"])
    return out


def _social(social_security):
    out = {}
    sw = social_security.generate(social_security.SocialSecurityConfig(start=DAY - timedelta(days=9), days=10,
                                                                       records_per_day=12000, fault_rate=0.005))

    ss_drop = _dropped(lambda drop: social_security.write_drop(sw, drop))
    out["social_security_records_drop"] = ("10 days of records, GB18030 CSV", ss_drop, [])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    _gx()  # the Great Expectations import: once per process
    parser_pool(os.cpu_count() or 1).submit(int).result()  # worker processes start once per process
    decl = load(Settings().declarations)

    for name in NAMES:
        if args.only and name not in args.only:
            continue
        what, deliver, before = deliveries(name)[name]
        with tempfile.TemporaryDirectory() as home:
            cfg, stop = deliver(Settings(home=home))
            try:
                lake = Lake(cfg, decl)
                for b in before:
                    run(lake, b)
                t = time.perf_counter()
                r = run(lake, name)
                dt = time.perf_counter() - t
            finally:
                stop()
            if r.skipped:
                raise SystemExit(f"{name} did not run: {r.skipped}")
            rows = r.received
            print(f"{name:30s} {rows:>10,} rows in {dt:6.2f} s = {rows / dt:>9,.0f} rows/s  "
                  f"(landed {r.landed:,}, quarantined {r.quarantined:,}; {what})", flush=True)


if __name__ == "__main__":
    main()
