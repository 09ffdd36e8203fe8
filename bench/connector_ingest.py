"""Benchmark: rows/s per file and HTTP connector, end to end to committed rows
(read or fetch, decode, map, type, validate with Great Expectations, commit).

    .venv/bin/python bench/connector_ingest.py [--only NAME ...]

Each connector gets a realistic delivery from its simulator, at a size where
fixed costs do not dominate, into a fresh lake. Target: >= 50,000 rows/s each.
The one-off Great Expectations import and parser-pool start are done first and
excluded. The HTTP variants are served by the simulators in this same process,
so the server's CPU is counted against the connector on this 2-core machine.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

DAY = date(2026, 11, 22)


def deliveries():
    """name -> (description, deliver(drop_root) -> stop(), prerequisite connectors)"""
    from hub.simulator import cameras, medical, social_security, traffic

    def cam(parts, **kw):
        w = cameras.generate(cameras.SimConfig(day=DAY, fault_rate=0.005, **kw))
        return w, lambda drop: (cameras.write_drop(w, drop, parts=parts), (lambda: None))[1]

    out = {}
    w, d = cam(("registry",), cameras_per_county=9100)
    out["camera_registry"] = (f"{len(w.registry):,} cameras, CSV", d, [])
    w, d = cam(("catalog",), cameras_per_county=10000, page_size=500)
    out["camera_catalog_drop"] = (f"{len(w.catalog_items):,} devices, GB/T 28181 XML GB18030", d, [])
    w, d = cam(("status",), cameras_per_county=9100, events_per_camera=3)
    out["camera_status_drop"] = (f"{len(w.events):,} events, JSON lines", d, [])

    def cam_http(drop):
        server, url = cameras.serve_catalog(w_http.catalog_pages)
        os.environ["CITYHUB_CAMERA_CATALOG_HTTP_URL"] = url
        return server.shutdown
    w_http = cameras.generate(cameras.SimConfig(day=DAY, fault_rate=0.005, cameras_per_county=10000, page_size=500))
    out["camera_catalog_http"] = (f"{len(w_http.catalog_items):,} devices over HTTP", cam_http, [])

    tw = traffic.generate(traffic.TrafficConfig(day=DAY, intersections_per_county=9000, fault_rate=0.005))

    def traffic_drop(drop):
        traffic.write_drop(tw, drop)
        return lambda: None

    def traffic_http(drop):
        server, url = traffic.serve_inventory(tw)
        os.environ["CITYHUB_TRAFFIC_INTERSECTIONS_HTTP_URL"] = url
        return server.shutdown
    out["traffic_intersections_drop"] = (f"{len(tw.intersections):,} intersections, JSON", traffic_drop, [])
    out["traffic_intersections_http"] = (f"{len(tw.intersections):,} intersections, paged JSON over HTTP",
                                         traffic_http, [])
    out["traffic_signal_events_drop"] = (f"{len(tw.events):,} controller events, JSON lines", traffic_drop,
                                         ["traffic_intersections_drop"])

    mw = medical.generate(medical.MedicalConfig(start=DAY - timedelta(days=29), days=30,
                                                institutions_per_county=1800, fault_rate=0.005))

    def med_drop(drop):
        medical.write_drop(mw, drop)
        return lambda: None

    def med_http(drop):
        server, url = medical.serve_registry(mw)
        os.environ["CITYHUB_MEDICAL_INSTITUTIONS_HTTP_URL"] = url
        return server.shutdown
    out["medical_institutions_drop"] = (f"{len(mw.organizations):,} FHIR Organizations", med_drop, [])
    out["medical_institutions_http"] = (f"{len(mw.organizations):,} FHIR Organizations over HTTP", med_http, [])
    out["medical_visits_drop"] = ("30 days of visit counts, CSV", med_drop, ["medical_institutions_drop"])

    sw = social_security.generate(social_security.SocialSecurityConfig(start=DAY - timedelta(days=9), days=10,
                                                                       records_per_day=12000, fault_rate=0.005))

    def ss_drop(drop):
        social_security.write_drop(sw, drop)
        return lambda: None
    out["social_security_records_drop"] = ("10 days of records, GB18030 CSV", ss_drop, [])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    from connectors.gb28181 import parser_pool
    from hub import quality
    quality._gx()
    parser_pool(os.cpu_count() or 1).submit(int).result()  # worker processes start once per process
    from connectors.runner import run
    from hub.config import settings
    from hub.lake import Lake

    for name, (what, deliver, before) in deliveries().items():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory() as home:
            os.environ["CITYHUB_HOME"] = home
            cfg = settings()
            lake = Lake(cfg)
            stop = deliver(Path(cfg.drop_root))
            try:
                for b in before:
                    run(b, lake, cfg)
                t = time.perf_counter()
                r = run(name, lake, cfg)
                dt = time.perf_counter() - t
            finally:
                stop()
            rows = r.received
            print(f"{name:30s} {rows:>10,} rows in {dt:6.2f} s = {rows / dt:>9,.0f} rows/s  "
                  f"(landed {r.landed:,}, quarantined {r.quarantined:,}; {what})", flush=True)


if __name__ == "__main__":
    main()
