"""Compressed topics, as departments' producers write them: librdkafka (confluent-kafka)
and kafka-python producers, each codec, through a real broker (tansu) into the lake,
every event exactly once and as sent. The hub consumes with librdkafka; kafka-python
reads the topic apart to prove its batches were stored compressed as asked."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, datetime

import kafka.record.default_records as records
import pytest
from confluent_kafka import Producer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cityhub.connectors.sources.kafka import ensure_topic
from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run
from cityhub_sim.cameras import SimConfig, event_line, generate

DAY = date(2026, 11, 22)
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def produce_librdkafka(bootstrap: str, topic: str, lines: list[tuple[bytes, bytes]], codec: str) -> None:
    failed = []
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20, "acks": "all"})
    for key, value in lines:
        p.produce(topic, key=key, value=value, on_delivery=lambda err, _msg: err and failed.append(err))
        p.poll(0)
    assert p.flush(30) == 0 and not failed, failed


def produce_kafka_python(bootstrap: str, topic: str, lines: list[tuple[bytes, bytes]], codec: str) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=None if codec == "none" else codec,
                      linger_ms=20, acks="all")
    try:
        for key, value in lines:
            p.send(topic, key=key, value=value)
        p.flush(30)
    finally:
        p.close()


def stored_codecs(bootstrap: str, topic: str, n: int) -> None:
    """Reads the whole topic with kafka-python (whose decompressors ``decoded`` counts)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        c.assign([TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))])
        c.seek_to_beginning()
        got = 0
        while got < n:
            polled = c.poll(timeout_ms=2000)
            assert polled, f"kafka-python read {got} of {n} records"
            got += sum(len(m) for m in polled.values())
    finally:
        c.close()


@pytest.fixture
def decoded(monkeypatch) -> Counter:
    """Calls of each of kafka-python's decompressors: proof the batches were compressed as asked."""
    calls = Counter()
    for codec in CODECS[1:]:
        real = getattr(records, f"{codec}_decode")
        monkeypatch.setattr(records, f"{codec}_decode",
                            lambda data, _real=real, _c=codec: calls.update([_c]) or _real(data))
    return calls


@pytest.mark.parametrize("producer", [produce_librdkafka, produce_kafka_python], ids=["librdkafka", "kafka-python"])
@pytest.mark.parametrize("codec", CODECS)
def test_compressed_events_land_exactly(cfg, decl, kafka_broker, decoded, producer, codec):
    topic = f"status-{codec}-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_broker, topic, partitions=3)
    lake = Lake(cfg.model_copy(update={"kafka_bootstrap": kafka_broker})
                .with_connector("camera_status_kafka", topic=topic), decl)
    events = generate(SimConfig(cameras_per_county=20, key_areas_per_county=4, day=DAY, fault_rate=0)).events
    producer(kafka_broker, topic, [(e["device_id"].encode(), event_line(e).encode()) for e in events], codec)

    report = run(lake, "camera_status_kafka")

    assert (report.landed, report.quarantined) == (len(events), 0)
    got = lake.query("SELECT event_id, device_id, status, event_time FROM camera_status ORDER BY event_id",
                     ["camera_status"]).to_pylist()
    sent = sorted(({"event_id": e["event_id"], "device_id": e["device_id"], "status": e["status"],
                    "event_time": datetime.fromisoformat(e["event_time"]).replace(tzinfo=None)} for e in events),
                  key=lambda r: r["event_id"])
    assert got == sent
    stored_codecs(kafka_broker, topic, len(events))
    assert set(decoded) == (set() if codec == "none" else {codec})
