"""What the hub asks a broker about a topic, through a real one (tansu): ``ensure_topic``
creates a topic once with the partitions asked, and ``lag`` (the status's count of
messages waiting) sums each partition's end past the lake's offsets, answering within
its timeout whatever the broker does."""
from __future__ import annotations

import socket
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from cityhub.connectors.sources import kafka as source
from cityhub.core.errors import SourceError
from tests.conftest import free_port


def partitions_of(bootstrap: str, topic: str) -> list[int] | None:
    """The topic's partitions as the broker lists them (None: no such topic)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-topics", "allow.auto.create.topics": False})
    try:
        t = c.list_topics(topic, timeout=10).topics[topic]
        return None if t.error is not None else sorted(t.partitions)
    finally:
        c.close()


def send(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    """``counts[p]`` messages to partition ``p``, one record per batch: tansu (0.6, memory
    storage) reports a partition's end as its last batch's base offset + 1, so only
    single-record batches give the end a Kafka broker gives."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1, "acks": "all"})
    for part, n in counts.items():
        for i in range(n):
            p.produce(topic, value=f'{{"n": {i}}}'.encode(), partition=part)
            p.flush(10)
    assert p.flush(10) == 0


@pytest.fixture
def topic(kafka_broker) -> str:
    name = f"topics-{uuid.uuid4().hex[:8]}"
    source.ensure_topic(kafka_broker, name, partitions=3)
    return name


def test_ensure_topic_creates_the_partitions_asked_once_and_leaves_an_existing_topic_as_it_is(kafka_broker):
    name = f"ensure-{uuid.uuid4().hex[:8]}"
    assert partitions_of(kafka_broker, name) is None

    source.ensure_topic(kafka_broker, name, partitions=4)
    assert partitions_of(kafka_broker, name) == [0, 1, 2, 3]

    source.ensure_topic(kafka_broker, name, partitions=4)  # again: no error, nothing changed
    source.ensure_topic(kafka_broker, name, partitions=2)  # an existing topic is not re-partitioned
    assert partitions_of(kafka_broker, name) == [0, 1, 2, 3]


def test_ensure_topic_refuses_a_topic_without_partitions(kafka_broker):
    name = f"ensure-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ValueError, match="partitions must be at least 1, not 0"):
        source.ensure_topic(kafka_broker, name, partitions=0)
    assert partitions_of(kafka_broker, name) is None


def test_ensure_topic_on_a_broker_that_is_not_there_fails_saying_where(monkeypatch):
    monkeypatch.setattr(source, "ASK_TIMEOUT_S", 1.0)
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(SourceError, match=rf"could not create Kafka topic 'nowhere' \(3 partitions\) on {bootstrap}: "):
        source.ensure_topic(bootstrap, "nowhere")
    assert time.monotonic() - started < 6


def test_lag_counts_the_messages_after_the_lakes_offsets_per_partition(kafka_broker, topic):
    assert source.lag(kafka_broker, topic, {}) == 0  # an empty topic: nothing waits

    send(kafka_broker, topic, {0: 7, 1: 4})
    assert source.lag(kafka_broker, topic, {}) == 11  # nothing landed yet: all of it
    # partition 0 landed up to offset 5 (2 wait), 1 all of it, 2 has none
    assert source.lag(kafka_broker, topic, {f"{topic}:0": 5, f"{topic}:1": 4}) == 2
    # a partition missing from the offsets counts from 0; one past its end adds nothing
    assert source.lag(kafka_broker, topic, {f"{topic}:1": 1}) == 7 + 3
    assert source.lag(kafka_broker, topic, {f"{topic}:0": 100, f"{topic}:1": 4}) == 0
    # another topic's offsets are not this one's
    assert source.lag(kafka_broker, topic, {"other:0": 7, "other:1": 4}) == 11


def test_lag_of_a_topic_the_broker_does_not_have_is_zero_and_asking_does_not_create_it(kafka_broker):
    name = f"absent-{uuid.uuid4().hex[:8]}"
    assert source.lag(kafka_broker, name, {}) == 0
    assert partitions_of(kafka_broker, name) is None


def test_lag_is_unknown_quickly_when_no_broker_listens():
    started = time.monotonic()
    assert source.lag(f"127.0.0.1:{free_port()}", "anything", {}) is None
    assert time.monotonic() - started < source.ASK_TIMEOUT_S + 2


def test_lag_is_unknown_within_its_timeout_when_the_broker_never_answers(monkeypatch):
    monkeypatch.setattr(source, "ASK_TIMEOUT_S", 1.0)
    with socket.socket() as silent:  # takes connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        started = time.monotonic()
        assert source.lag(f"127.0.0.1:{silent.getsockname()[1]}", "anything", {}) is None
        assert time.monotonic() - started < 4
