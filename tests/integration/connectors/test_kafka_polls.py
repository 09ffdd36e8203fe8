"""The Kafka source's polls through a real broker (tansu): each poll at most
``max_records`` messages, every message once and in offset order per partition, each
with where it came from, and offsets that resume right after it."""
from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cityhub.connectors.sources import kafka as source
from cityhub.core.errors import SourceError


@pytest.fixture
def topic(kafka_broker) -> str:
    name = f"polls-{uuid.uuid4().hex[:8]}"
    source.ensure_topic(kafka_broker, name, partitions=2)
    return name


def send(bootstrap: str, topic: str, n: int, start: int = 0) -> dict[bytes, str]:
    """``n`` values over both partitions -> ``topic/partition/offset`` where the broker stored each."""
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    try:
        values = [f'{{"n": {i}}}'.encode() for i in range(start, start + n)]
        meta = [f.get(timeout=30) for f in [p.send(topic, value=v, partition=i % 2) for i, v in enumerate(values)]]
    finally:
        p.close()
    return {v: f"{m.topic}/{m.partition}/{m.offset}" for v, m in zip(values, meta)}


def test_polls_hold_at_most_max_records_each_message_once_with_its_source_and_offsets(kafka_broker, topic):
    where = send(kafka_broker, topic, 25)

    with source.Topic(kafka_broker, topic, "cityhub.test", 10) as t:
        polls = list(t.polls({}))

    assert all(0 < len(p.values) <= 10 for p in polls)
    values = [v for p in polls for v in p.values]
    assert sorted(values) == sorted(where)  # every message, once
    for p in polls:
        assert len(p.sources) == len(p.values)
        assert [p.sources[i] for i in range(len(p.values))] == [where[v] for v in p.values]
        assert p.sources[-1] == where[p.values[-1]]
        # the offsets after the last message of each partition in this poll
        last = {}
        for s in p.sources:
            t_, part, off = s.rsplit("/", 2)
            last[f"{t_}:{part}"] = int(off) + 1
        assert p.offsets == last
        assert p.batch_id.startswith(f"{topic}:")
    for part in (0, 1):  # offset order within a partition
        offs = [int(s.rsplit("/", 1)[1]) for p in polls for s in p.sources if s.split("/")[1] == str(part)]
        assert offs == sorted(offs) == list(range(len(offs)))
    assert {k: v for p in polls for k, v in p.offsets.items()} == {f"{topic}:0": 13, f"{topic}:1": 12}


def test_polls_resume_after_the_offsets_given_and_stop_at_the_end(kafka_broker, topic):
    first = send(kafka_broker, topic, 8)
    later = send(kafka_broker, topic, 6, start=8)

    with source.Topic(kafka_broker, topic, "cityhub.test", 1000) as t:
        polls = list(t.polls({f"{topic}:0": 4, f"{topic}:1": 4}))

    assert sorted(v for p in polls for v in p.values) == sorted(later)
    assert not set(first) & {v for p in polls for v in p.values}
    assert t.gaps == []


def test_an_empty_topic_yields_no_poll_and_ends(kafka_broker, topic):
    started = time.monotonic()
    with source.Topic(kafka_broker, topic, "cityhub.test", 100) as t:
        assert list(t.polls({})) == []
    assert time.monotonic() - started < 10


def test_a_topic_that_does_not_exist_is_a_source_error(kafka_broker):
    with (source.Topic(kafka_broker, f"absent-{uuid.uuid4().hex[:8]}", "cityhub.test", 100) as t,
          pytest.raises(SourceError, match="does not exist")):
        list(t.polls({}))


def test_offsets_beyond_a_partitions_end_do_not_hold_the_run(kafka_broker, topic):
    """The lake's offset lies beyond the partition's end (a recreated topic). tansu answers
    such a fetch with nothing (a Kafka broker answers OFFSET_OUT_OF_RANGE, which the source
    takes as a recreated topic, read from its start): the run still ends, with the other
    partition read."""
    where = send(kafka_broker, topic, 6)

    started = time.monotonic()
    with source.Topic(kafka_broker, topic, "cityhub.test", 1000) as t:
        polls = list(t.polls({f"{topic}:0": 100, f"{topic}:1": 1}))

    assert time.monotonic() - started < 30
    assert sorted(v for p in polls for v in p.values) == sorted(
        v for v, at in where.items() if at.split("/")[1] == "1" and int(at.split("/")[2]) >= 1)


def test_the_group_is_told_the_lakes_offsets(kafka_broker, topic):
    send(kafka_broker, topic, 4)
    group = f"cityhub.test-{uuid.uuid4().hex[:6]}"
    with source.Topic(kafka_broker, topic, group, 1000) as t:
        offsets = {k: v for p in t.polls({}) for k, v in p.offsets.items()}
        t.committed(offsets)
    c = KafkaConsumer(bootstrap_servers=kafka_broker, group_id=group, enable_auto_commit=False)
    try:
        assert {f"{topic}:{p}": c.committed(TopicPartition(topic, p)) for p in (0, 1)} == offsets == {
            f"{topic}:0": 2, f"{topic}:1": 2}
    finally:
        c.close()
