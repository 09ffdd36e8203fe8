"""What goes wrong with real topics, through a real broker (tansu): records that are
not events, fetches the client cannot read, messages deleted before they were read.
None of it blocks the topic silently, and none of it is lost without a trace."""
from __future__ import annotations

import base64
import uuid
from datetime import date

import kafka.record.default_records as records
import pytest
from kafka import KafkaProducer
from rich.console import Console

from cityhub.cli.render import run_table
from cityhub.connectors.sources import kafka as source
from cityhub.core.errors import SourceError
from cityhub.lake import Lake
from cityhub.pipelines.ingest import runs
from cityhub.pipelines.ingest.runner import run
from cityhub_sim.cameras import SimConfig, event_line, generate

DAY = date(2026, 11, 22)


@pytest.fixture
def topic(kafka_broker) -> str:
    name = f"status-{uuid.uuid4().hex[:8]}"
    source.ensure_topic(kafka_broker, name, partitions=1)
    return name


@pytest.fixture
def lake(cfg, decl, kafka_broker, topic) -> Lake:
    fed = cfg.model_copy(update={"kafka_bootstrap": kafka_broker}).with_connector("camera_status_kafka", topic=topic)
    return Lake(fed, decl)


def events(n: int) -> list[dict]:
    return generate(SimConfig(cameras_per_county=10, key_areas_per_county=2, day=DAY, fault_rate=0)).events[:n]


def send(bootstrap: str, topic: str, values: list[bytes], compression: str | None = None) -> list[str]:
    """``topic/partition/offset`` of each value, as the broker stored it."""
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=compression, linger_ms=20, acks="all")
    try:
        meta = [f.get(timeout=30) for f in [p.send(topic, value=v) for v in values]]
    finally:
        p.close()
    return [f"{m.topic}/{m.partition}/{m.offset}" for m in meta]


def landed_ids(lake) -> list[str]:
    return lake.query("SELECT event_id FROM camera_status", ["camera_status"])["event_id"].to_pylist()


def test_the_consumer_reads_committed_records_only(cfg, kafka_broker, topic):
    # tansu does not filter aborted transactions (its fetches return them), so what can be
    # checked here is that the hub asks librdkafka for read_committed; a Kafka broker then filters.
    with source.Topic(kafka_broker, topic, "cityhub.test", 100) as t:
        assert t.config["isolation.level"] == "read_committed"
        # and only the lake moves its offsets: nothing is committed or reset behind its back
        assert (t.config["enable.auto.commit"], t.config["auto.offset.reset"]) == (False, "error")


def test_records_that_are_not_events_are_quarantined_with_where_they_were_and_the_topic_moves_on(
        lake, kafka_broker, topic):
    good = events(6)
    bad = [b'{"event_id": "e-cut", "sta',                           # bad JSON
           b'["not", "an", "object"]',                              # wrong shape
           b'{"event_id": "e-bytes", "status": "\xff\xfe"}',       # not UTF-8
           b'{"device_id": "37142200001320000006"}']                # an object without the event's fields
    values = [event_line(good[0]).encode(), *bad[:2], event_line(good[1]).encode(), *bad[2:],
              *(event_line(e).encode() for e in good[2:])]
    where = send(kafka_broker, topic, values)

    report = run(lake, "camera_status_kafka")

    assert sorted(landed_ids(lake)) == sorted(e["event_id"] for e in good)
    q = lake.query("SELECT source, raw, reason FROM quarantine", ["quarantine"]).to_pylist()
    by_source = {r["source"]: r for r in q}
    bad_at = [where[1], where[2], where[4], where[5]]
    assert set(by_source) == set(bad_at) and report.quarantined == len(bad)
    for at, value in zip(bad_at, bad):
        raw = by_source[at]["raw"]
        assert (base64.b64decode(raw) if "not UTF-8" in by_source[at]["reason"] else raw.encode()) == value
    assert lake.state("camera_status", "camera_status_kafka")["offsets"] == {f"{topic}:0": len(values)}
    # the next events land: no bad record holds the topic back
    later = generate(SimConfig(cameras_per_county=10, key_areas_per_county=2, day=date(2026, 11, 23),
                               fault_rate=0)).events[:3]
    send(kafka_broker, topic, [event_line(e).encode() for e in later])
    again = run(lake, "camera_status_kafka")
    assert (again.landed, again.quarantined) == (3, 0)


def test_a_fetch_the_client_cannot_decompress_fails_the_run_with_the_reason_and_loses_nothing(
        lake, kafka_broker, topic, monkeypatch):
    sent = events(30)
    send(kafka_broker, topic, [event_line(e).encode() for e in sent[:20]], compression="lz4")
    # a producer that flags its batch lz4 but writes bytes no lz4 decoder reads
    monkeypatch.setattr(records, "lz4_encode", lambda data: b"\x04\x22\x4d\x18 not lz4")
    [bad_at, *_] = send(kafka_broker, topic, [event_line(e).encode() for e in sent[20:25]], compression="lz4")
    monkeypatch.undo()
    send(kafka_broker, topic, [event_line(e).encode() for e in sent[25:]], compression="lz4")
    bad_offset = int(bad_at.rsplit("/", 1)[1])

    for _ in range(2):  # the same batch fails every run: nothing after it is taken, nothing is skipped
        with pytest.raises(SourceError, match=rf"{topic}.*could not read a fetch at partition@offset "
                                              rf"0@{bad_offset} .*_BAD_COMPRESSION.*Decompression"):
            run(lake, "camera_status_kafka")
        [last] = runs.recent(lake.cfg, "camera_status_kafka", limit=1)
        assert last["status"] == "failed" and topic in last["error"] and "_BAD_COMPRESSION" in last["error"]
        # the records before the batch landed, with offsets that stop right before it
        assert sorted(landed_ids(lake)) == sorted(e["event_id"] for e in sent[:20])
        assert lake.state("camera_status", "camera_status_kafka")["offsets"] == {f"{topic}:0": bad_offset}


def test_messages_deleted_before_they_were_read_are_a_finding_of_the_run(lake, kafka_broker, topic, monkeypatch):
    sent = events(10)
    send(kafka_broker, topic, [event_line(e).encode() for e in sent[:4]])
    assert run(lake, "camera_status_kafka").landed == 4
    send(kafka_broker, topic, [event_line(e).encode() for e in sent[4:]])
    # tansu implements neither DeleteRecords nor retention, so the broker's earliest offset
    # is answered as a broker would after retention deleted offsets 4-6 unread
    real = source.Topic.bounds
    monkeypatch.setattr(source.Topic, "bounds",
                        lambda self, parts: {p: (max(low, 7), high) for p, (low, high) in real(self, parts).items()})

    report = run(lake, "camera_status_kafka")

    reason = f"retention_gap: {topic}:0 offsets 4-6 were deleted by the broker before they were read"
    assert [g.reason() for g in report.gaps] == [reason]
    [last] = runs.recent(lake.cfg, "camera_status_kafka", limit=1)
    assert last["status"] == "ok" and last["reasons"] == {reason: 3}
    assert report.landed == 3 and sorted(landed_ids(lake)) == sorted(e["event_id"] for e in sent[:4] + sent[7:])
    shown = Console(width=400, record=True)
    shown.print(run_table({"camera_status_kafka": report}))  # what `cityhub ingest` prints
    assert reason in shown.export_text()
