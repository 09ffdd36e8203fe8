"""Benchmark: rows/s per file and HTTP connector, end to end to committed rows
(read or fetch, decode, map, type, validate with Great Expectations, commit).

    .venv/bin/python bench/connector_ingest.py [--only NAME ...]

Each connector gets a realistic delivery from its simulator, at a size where
fixed costs do not dominate, into a fresh lake. Target: >= 50,000 rows/s each.
What a connector process pays once (the Great Expectations and pyiceberg Arrow I/O
imports, the parser pool's start: ``warm_up``) is done first and excluded. The
simulators run in processes of their own, as a department's systems are other
machines: a drop is written by one before the clock starts, and the HTTP variants
are served by one on this same 2-core machine, so the server's CPU competes with
the connector's. The servers render their pages before they answer (the camera
platform's catalogue, the registry's FHIR pages of the default size), as a platform's
server is another machine: what competes is serving the pages, not building them.
Settings are built per run (``Settings(home=<fresh temporary folder>)``, an HTTP
source's URL with ``cfg.with_connector(name, url=...)``) and passed in.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cityhub.connectors.formats.gb28181 import parser_pool
from cityhub.core.settings import Settings
from cityhub.declarations import load
from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run
from cityhub.pipelines.landing.quality import _gx

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


# the department's side, in a process of its own: ``{make}`` builds the world ``w``
SIMULATE = """
import sys, time
from datetime import date, timedelta
from pathlib import Path
from cityhub_sim import cameras, medical, social_security, traffic
DAY = date(2026, 11, 22)
{make}
"""
# the serve expression carries a {port} placeholder, filled by _served_elsewhere
SERVE = SIMULATE + """
server, url = {serve}
time.sleep(3600)
"""


def _dropped(make: str, write: str):
    """deliver(cfg) for a file drop: the simulator writes it (``write``, an expression of
    ``w`` and ``drop``) from a process of its own, so the connector's heap holds none of
    the simulated world (a full collection would walk it, which no real connector does)."""
    def deliver(cfg: Settings):
        code = SIMULATE.format(make=make) + f"drop = Path(sys.argv[1])\n{write}\n"
        subprocess.run([sys.executable, "-c", code, str(cfg.drop_root)], check=True,
                       cwd=Path(__file__).resolve().parents[1])
        return cfg, lambda: None
    return deliver


def _served(name: str, make: str, serve: str):
    """deliver(cfg) for an HTTP source: the simulator served in its own process, and
    the connector's URL pointed at it."""
    def deliver(cfg: Settings):
        url, stop = _served_elsewhere(SERVE.format(make=make, serve=serve))
        return cfg.with_connector(name, url=url), stop
    return deliver


def deliveries(wanted: str):
    """name -> (description, deliver(cfg) -> (cfg, stop()), prerequisite connectors).
    Every world is simulated in another process: what a connector process holds is
    the hub's own heap only."""
    cam = "w = cameras.generate(cameras.SimConfig(day=DAY, fault_rate=0.005, {}))"
    catalog = cam.format("cameras_per_county=10000, page_size=500")
    traffic = "w = traffic.generate(traffic.TrafficConfig(day=DAY, intersections_per_county=9000, fault_rate=0.005))"
    # the registry at a provincial export's size (Shandong has ~85,000 medical institutions:
    # 8,600 per county here gives ~95,000 Organizations), so fixed costs do not dominate; the
    # visits bench keeps its registry of 1,800 per county (its CSV rows grow with the registry)
    medical = ("w = medical.generate(medical.MedicalConfig(start=DAY - timedelta(days=29), days=30, "
               "institutions_per_county={}, fault_rate=0.005))")
    registry = medical.format(8600)
    social = ("w = social_security.generate(social_security.SocialSecurityConfig(start=DAY - timedelta(days=9), "
              "days=10, records_per_day=12000, fault_rate=0.005))")
    traffic_drop = _dropped(traffic, "traffic.write_drop(w, drop)")
    out = {
        "camera_registry": ("~91,000 cameras, CSV", _dropped(
            cam.format("cameras_per_county=9100"), "cameras.write_drop(w, drop, parts=('registry',))"), []),
        "camera_catalog_drop": ("~101,000 devices, GB/T 28181 XML GB18030, pages of 500", _dropped(
            catalog, "cameras.write_drop(w, drop, parts=('catalog',))"), []),
        "camera_status_drop": ("camera status events, JSON lines", _dropped(
            cam.format("cameras_per_county=9100, events_per_camera=3"),
            "cameras.write_drop(w, drop, parts=('status',))"), []),
        "camera_catalog_http": ("~101,000 devices over HTTP, pages of 500", _served(
            "camera_catalog_http", catalog, "cameras.serve_catalog(w.catalog_pages, port={port})"), []),
        "traffic_intersections_drop": ("intersections, JSON", traffic_drop, []),
        "traffic_intersections_http": ("intersections, paged JSON over HTTP", _served(
            "traffic_intersections_http", traffic, "traffic.serve_inventory(w, port={port})"), []),
        "traffic_signal_events_drop": ("controller events, JSON lines", traffic_drop,
                                       ["traffic_intersections_drop"]),
        "medical_institutions_drop": ("~95,000 FHIR Organizations in Bundle files of 500, a provincial "
                                      "registry's size", _dropped(registry, "medical.write_drop(w, drop, days=[])"),
                                      []),
        "medical_institutions_http": ("~95,000 FHIR Organizations over HTTP, pages of 500", _served(
            "medical_institutions_http", registry, "medical.serve_registry(w, port={port}, rendered_ahead=True)"), []),
        # (a month of visits at the registry's provincial size would be millions of CSV rows)
        "medical_visits_drop": ("30 days of visit counts, CSV", _dropped(
            medical.format(1800), "medical.write_drop(w, drop)"), ["medical_institutions_drop"]),
        "social_security_records_drop": ("10 days of records, GB18030 CSV", _dropped(
            social, "social_security.write_drop(w, drop)"), []),
    }
    return {wanted: out[wanted]} if wanted in out else out


def warm_up() -> float:
    """What a connector process pays once, before its first run; returns its seconds."""
    t = time.perf_counter()
    _gx()  # the Great Expectations import
    import pyiceberg.io.pyarrow  # noqa: F401  # the lake's Arrow I/O, imported by the first commit
    parser_pool(os.cpu_count() or 1).submit(int).result()  # the parser pool's worker processes
    return time.perf_counter() - t


def _timed(name: str, deliver, before: list[str], decl):
    """One delivery of ``name`` into a fresh lake: (seconds, report)."""
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
    return dt, r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--repeat", type=int, default=5,
                    help="deliveries per connector, each into a fresh lake (default 5: the median of the "
                         "four after the first moves less with the host's load than that of two)")
    args = ap.parse_args()
    print(f"one-off start-up (imports, parser pool), excluded: {warm_up():.2f} s", flush=True)
    print("rows/s: the process's first delivery of the connector (it also pays the first use of "
          "GE's metrics, DuckDB and the Iceberg writer), then the median and best of the others "
          "(a connector process's steady state; the machine's load moves single runs a lot)", flush=True)
    decl = load(Settings().declarations)

    for name in NAMES:
        if args.only and name not in args.only:
            continue
        what, deliver, before = deliveries(name)[name]
        runs = [_timed(name, deliver, before, decl) for _ in range(max(1, args.repeat))]
        rows, r = runs[0][1].received, runs[0][1]
        rates = [rep.received / dt for dt, rep in runs]
        then = sorted(rates[1:])
        steady = f"median {statistics.median(then):>9,.0f}  best {then[-1]:>9,.0f}" if then else ""
        print(f"{name:30s} {rows:>10,} rows  first {rates[0]:>9,.0f}  {steady} rows/s  "
              f"(landed {r.landed:,}, quarantined {r.quarantined:,}; {what})", flush=True)


if __name__ == "__main__":
    main()
