"""Kafka sources: a topic consumed in large polls, each poll one unit whose new
offsets are the connector's state.

Offsets live in the lake, in the same atomic commit as the rows they produced;
the consumer seeks to them on start. A consumer killed at any point therefore
resumes exactly after the last committed batch: nothing is lost and nothing lands
twice. Offsets are also committed to the Kafka group afterwards, for lag
monitoring only.

Messages are consumed with librdkafka (confluent-kafka): it fetches, decompresses
and parses record batches in its own threads, in C, so the next poll is fetched
while the current one lands, and the hub's Python work per message is taking its
value (kafka-python spent more time parsing records in Python than the hub spent
landing them). Prefetched messages that were not landed are simply fetched again:
only the lake's commit moves the offsets.

Departments' producers compress (gzip, snappy, lz4, zstd: librdkafka reads them all)
and some write transactionally, so the consumer reads committed records only. A
fetch the client cannot decode at all (a corrupt or undecompressable batch) fails
the run with the topic, position and reason after the messages before it are
yielded: skipping it would lose every record in it without a trace, while the
failure keeps them until the hub can read them. A record that decodes but is not a
JSON object is the batch's business (quarantined with its ``topic/partition/offset``).
Offsets the lake holds that the broker no longer has (retention deleted them
unread) are reported as gaps.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Self

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from cityhub.connectors.formats.decoded import Lazy
from cityhub.connectors.parsing import acyclic
from cityhub.core.errors import SourceError
from cityhub.core.settings import Settings
from cityhub.declarations.connectors import ConnectorSpec

log = logging.getLogger(__name__)

POLL_WAIT_S = 1.0
"""How long a poll waits to fill up to ``max_records`` before it is landed with what came."""
OUT_OF_RANGE = (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE)
IDLE_CHECK_S = 2.0
"""After this long without a message, where the partitions end is asked of the broker."""


def topic_of(spec: ConnectorSpec, cfg: Settings) -> str:
    """``CITYHUB_<NAME>_TOPIC``, else the declared topic, else the connector's name."""
    return cfg.connector(spec.name).topic or spec.source.topic or spec.name


@dataclass
class Poll:
    """One poll's messages: a unit of its own."""
    values: list[bytes]
    sources: Sequence[str]
    """``topic/partition/offset`` of each message (made when asked: only refused rows need them)."""
    offsets: dict[str, int]
    """``topic:partition`` -> the offset after the last message of this poll."""
    batch_id: str


@dataclass(frozen=True)
class Gap:
    """Messages that aged out of a partition before the hub read them."""
    partition: str
    """``topic:partition``"""
    stored: int
    """the offset the lake's state resumes from"""
    earliest: int
    """the broker's earliest offset now"""

    @property
    def lost(self) -> int:
        return self.earliest - self.stored

    def reason(self) -> str:
        return (f"retention_gap: {self.partition} offsets {self.stored}-{self.earliest - 1} "
                "were deleted by the broker before they were read")


def gaps(stored: dict[str, int], earliest: dict[str, int]) -> list[Gap]:
    """Partitions whose stored offset is below the broker's earliest (a partition
    never read before is not a gap: the hub's history starts where the topic's does)."""
    return [Gap(k, int(stored[k]), e) for k, e in sorted(earliest.items()) if k in stored and int(stored[k]) < e]


@dataclass
class _Taken:
    """Messages taken for one poll, as three parallel lists."""
    values: list[bytes]
    partitions: list[int]
    offsets: list[int]

    def add(self, msgs: list[Message]) -> None:
        self.values += [m.value() for m in msgs]
        self.partitions += [m.partition() for m in msgs]
        self.offsets += [m.offset() for m in msgs]


def consumer_config(bootstrap: str, group: str) -> dict:
    """librdkafka's settings for the hub's consumer: committed records only, offsets
    only where the lake says (no automatic commit; no silent reset: a position the broker
    no longer has comes back as an error, taken by ``Topic._reposition``), large fetches
    (prefetching up to librdkafka's default 64 MB of messages)."""
    return {
        "bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed",
        "enable.auto.commit": False, "enable.auto.offset.store": False, "auto.offset.reset": "error",
        "enable.partition.eof": True, "check.crcs": True,
        "fetch.max.bytes": 64 << 20, "max.partition.fetch.bytes": 32 << 20, "receive.message.max.bytes": 65 << 20,
        "fetch.wait.max.ms": 200,
        "logger": log,
    }


class Topic:
    """One consumer of one topic, positioned at offsets the caller keeps."""

    def __init__(self, bootstrap: str, topic: str, group: str, max_records: int):
        self.topic, self.max_records = topic, max_records
        self.config = consumer_config(bootstrap, group)
        self.consumer = Consumer(self.config)
        self.gaps: list[Gap] = []
        """Retention gaps found when ``polls`` positioned the consumer."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.consumer.close()

    def _partitions(self, wait_s: float = 10.0) -> list[int]:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                meta = self.consumer.list_topics(self.topic, timeout=max(1.0, deadline - time.monotonic()))
            except KafkaException as e:
                raise SourceError(f"Kafka broker {self.config['bootstrap.servers']} did not answer: {e}") from e
            t = meta.topics.get(self.topic)
            if t is not None and t.error is None and t.partitions:
                return sorted(t.partitions)
            if time.monotonic() > deadline:
                raise SourceError(f"Kafka topic {self.topic!r} does not exist or has no partitions")
            time.sleep(0.2)

    def bounds(self, partitions: list[int]) -> dict[int, tuple[int, int]]:
        """partition -> (the broker's earliest offset, its end), as the broker says now."""
        try:
            return {p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
                    for p in partitions}
        except KafkaException as e:
            raise SourceError(f"Kafka topic {self.topic!r}: the broker did not say where its partitions "
                              f"begin and end: {e}") from e

    def polls(self, offsets: dict[str, int], stop_at_end: bool = True,
              max_polls: int | None = None) -> Iterator[Poll]:
        """Polls from ``offsets`` (the beginning where none); with ``stop_at_end``, until
        caught up with the end of every partition."""
        parts = self._partitions()
        bounds = self.bounds(parts)
        self.gaps = gaps(offsets, {f"{self.topic}:{p}": low for p, (low, _high) in bounds.items()})
        start = {p: max(int(offsets[k]), bounds[p][0]) if k in offsets else bounds[p][0]
                 for p in parts for k in [f"{self.topic}:{p}"]}
        self.consumer.assign([TopicPartition(self.topic, p, start[p]) for p in parts])
        at_end: set[int] = set()
        idle_since = time.monotonic()
        n = 0
        while max_polls is None or n < max_polls:
            taken, failed = self._take(parts, at_end)
            if taken.values:
                n += 1
                yield self._poll(taken)
                idle_since = time.monotonic()  # (after the poll landed)
            if failed is not None and failed.error().code() in OUT_OF_RANGE:
                self._reposition(failed)
            elif failed is not None:
                self._fail(failed)
            if taken.values:
                continue
            if stop_at_end and at_end.issuperset(parts):
                break
            if time.monotonic() - idle_since > IDLE_CHECK_S:
                # no end-of-partition event (a broker that answers a fetch beyond the end with
                # nothing, or one that went away): ask where each partition ends
                idle_since = time.monotonic()
                ends = self.bounds(parts)
                for tp in self.consumer.position([TopicPartition(self.topic, p) for p in parts]):
                    at = tp.offset if tp.offset >= 0 else start[tp.partition]
                    if at >= ends[tp.partition][1]:
                        at_end.add(tp.partition)

    def _take(self, parts: list[int], at_end: set[int]) -> tuple[_Taken, Message | None]:
        """Up to ``max_records`` messages, within ``POLL_WAIT_S`` once some came; stops early
        at the end of every partition and at a message that is an error (returned apart).
        Only values, partitions and offsets are kept: librdkafka's message objects are
        dropped a chunk at a time, and the cycle collector pauses while they exist (each
        chunk made it run, and promote the live ones until a full pass over the process)."""
        with acyclic():
            return self._take_chunks(parts, at_end)

    def _take_chunks(self, parts: list[int], at_end: set[int]) -> tuple[_Taken, Message | None]:
        taken = _Taken([], [], [])
        deadline = time.monotonic() + POLL_WAIT_S
        while len(taken.values) < self.max_records:
            got = self.consumer.consume(num_messages=min(self.max_records - len(taken.values), 10_000),
                                        timeout=0 if at_end.issuperset(parts) else 0.05)
            if any(m.error() is not None for m in got):
                for m in got:  # end-of-partition events among them, or a fetch that could not be read
                    err = m.error()
                    if err is None:
                        at_end.discard(m.partition())
                        taken.add([m])
                    elif err.code() == KafkaError._PARTITION_EOF:
                        at_end.add(m.partition())
                    else:
                        return taken, m
            elif got:
                taken.add(got)
                at_end.difference_update(taken.partitions[-len(got):])
            if ((not got and at_end.issuperset(parts))
                    or ((taken.values or not got) and time.monotonic() > deadline)):
                break
        return taken, None

    def _poll(self, taken: _Taken) -> Poll:
        topic, parts, offs = self.topic, taken.partitions, taken.offsets
        first = dict(zip(reversed(parts), reversed(offs)))
        last = dict(zip(parts, offs))
        spans = sorted(f"{p}@{first[p]}-{o}" for p, o in last.items())
        return Poll(values=taken.values, sources=Lazy(lambda i: f"{topic}/{parts[i]}/{offs[i]}", len(offs)),
                    offsets={f"{topic}:{p}": o + 1 for p, o in last.items()},
                    batch_id=f"{topic}:{','.join(spans)}")

    def _reposition(self, m: Message) -> None:
        """The broker no longer has the offset a partition was read from: below its
        earliest, retention deleted it meanwhile (a gap, as when found on start); else it
        lies beyond the partition's end (the topic was recreated: its records are read from
        the start, repeats land once). Either way reading goes on from the earliest offset."""
        p, at = m.partition(), m.offset()
        low = self.bounds([p])[p][0]
        if 0 <= at < low:
            self.gaps.append(Gap(f"{self.topic}:{p}", at, low))
        else:
            log.warning("Kafka topic %r: offset %s of partition %d is beyond its end (was the topic recreated?); "
                        "reading it from its earliest offset %d", self.topic, at, p, low)
        self.consumer.seek(TopicPartition(self.topic, p, low))

    def _fail(self, m: Message) -> None:
        """A fetch the client could not read (a corrupt or undecompressable batch) as a
        SourceError naming the topic and where the partition stands."""
        err = m.error()
        raise SourceError(f"Kafka topic {self.topic!r}: could not read a fetch at partition@offset "
                          f"{m.partition()}@{m.offset()} ({err.name()}: {err.str()}); nothing after this offset "
                          "is taken until the hub can read it")

    def committed(self, offsets: dict[str, int]) -> None:
        """Tell the group where the lake's state now stands (monitoring only)."""
        try:
            self.consumer.commit(offsets=[
                TopicPartition(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1]), v) for k, v in offsets.items()
            ], asynchronous=False)
        except KafkaException as e:  # monitoring only: the lake holds the offsets that count
            log.warning("could not commit offsets to the Kafka group: %s", e)


ASK_TIMEOUT_S = 5.0
"""How long the hub's questions about a topic (its ends, creating it) wait for the broker."""


def _asking_config(bootstrap: str) -> dict:
    """librdkafka's settings for a short-lived client that asks the broker one thing: its
    own log goes to ``log`` at critical only (a broker that is down makes it log every
    reconnect attempt; the caller reports the outcome once, with the reason)."""
    return {"bootstrap.servers": bootstrap, "socket.timeout.ms": int(ASK_TIMEOUT_S * 1000),
            "logger": log, "log_level": 2}


def lag(bootstrap: str, topic: str, offsets: dict[str, int]) -> int | None:
    """Messages on the topic after the lake's offsets (``topic:partition`` -> offset; a
    partition without one counts from 0); 0 for a topic the broker does not have (nothing
    waits), None when the broker did not say within ``ASK_TIMEOUT_S``. Monitoring:
    whatever goes wrong asking the broker, status still answers."""
    deadline = time.monotonic() + ASK_TIMEOUT_S
    try:
        # asks only: no group joined, no offsets committed, no topic auto-created by the question
        consumer = Consumer({**_asking_config(bootstrap), "group.id": "cityhub-lag",
                             "enable.auto.commit": False, "allow.auto.create.topics": False})
    except Exception as e:  # noqa: BLE001 - a misconfigured broker address is "unknown lag"
        log.warning("Kafka lag of %r unknown: %s", topic, e)
        return None
    try:
        t = consumer.list_topics(topic, timeout=ASK_TIMEOUT_S).topics.get(topic)
        if t is not None and t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return 0
        if t is None or t.error is not None:
            raise KafkaException(t.error if t is not None else f"no metadata for topic {topic!r}")
        total = 0
        for p in sorted(t.partitions):
            ends = consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                  timeout=max(0.1, deadline - time.monotonic()))
            if ends is None:  # timed out
                raise KafkaException(f"partition {p}'s end not known within {ASK_TIMEOUT_S:g} s")
            total += max(0, ends[1] - int(offsets.get(f"{topic}:{p}", 0)))
        return total
    except Exception as e:  # noqa: BLE001 - an unreachable or failing broker is "unknown lag"
        log.warning("Kafka lag of %r unknown: %s", topic, e)
        return None
    finally:
        consumer.close()


def ensure_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    """Create ``topic`` with ``partitions`` partitions unless it exists (idempotent: an
    existing topic is left as it is, whatever its partitions). Any other failure, an
    unreachable broker included, is a SourceError that says why."""
    if partitions < 1:  # (a broker may take 0 and make a topic nothing can be written to)
        raise ValueError(f"Kafka topic {topic!r}: partitions must be at least 1, not {partitions}")
    admin = AdminClient(_asking_config(bootstrap))
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=ASK_TIMEOUT_S, request_timeout=2 * ASK_TIMEOUT_S)
    try:
        futures[topic].result()
    except KafkaException as e:
        err = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None
        if err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        reason = f"{err.name()}: {err.str()}" if err is not None else str(e)
        raise SourceError(f"could not create Kafka topic {topic!r} ({partitions} partitions) "
                          f"on {bootstrap}: {reason}") from e
