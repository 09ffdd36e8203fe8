"""Kafka sources: a topic consumed in large polls, each poll one unit whose new
offsets are the connector's state.

Offsets live in the lake, in the same atomic commit as the rows they produced;
the consumer seeks to them on start. A consumer killed at any point therefore
resumes exactly after the last committed batch: nothing is lost and nothing lands
twice. Offsets are also committed to the Kafka group afterwards, for lag
monitoring only.

Departments' producers compress (gzip, snappy, lz4, zstd: the codec libraries are
dependencies) and some write transactionally, so the consumer reads committed
records only. A fetch the client cannot decode at all (an unknown codec, a corrupt
batch) fails the run with the topic, positions and reason: skipping it would lose
every record in it without a trace, while the failure keeps them until the hub can
read them. A record that decodes but is not a JSON object is the batch's business
(quarantined with its ``topic/partition/offset``). Offsets the lake holds that the
broker no longer has (retention deleted them unread) are reported as gaps.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from cityhub.core.errors import SourceError
from cityhub.core.settings import Settings
from cityhub.declarations.connectors import ConnectorSpec

log = logging.getLogger(__name__)


def topic_of(spec: ConnectorSpec, cfg: Settings) -> str:
    """``CITYHUB_<NAME>_TOPIC``, else the declared topic, else the connector's name."""
    return cfg.connector(spec.name).topic or spec.source.topic or spec.name


@dataclass
class Poll:
    """One poll's messages: a unit of its own."""
    values: list[bytes]
    sources: list[str]
    """``topic/partition/offset`` of each message."""
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


@retry(retry=retry_if_exception_type(KafkaError), stop=stop_after_attempt(5),
       wait=wait_exponential(multiplier=0.5, max=8), reraise=True)
def _consumer(bootstrap: str, group: str, max_records: int) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", max_poll_records=max_records, isolation_level="read_committed",
        fetch_max_bytes=64 << 20, max_partition_fetch_bytes=32 << 20, fetch_max_wait_ms=200,
        consumer_timeout_ms=1000,
    )


def _partitions(consumer: KafkaConsumer, topic: str, wait_s: float = 10.0) -> list[TopicPartition]:
    deadline = time.monotonic() + wait_s
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() > deadline:
            raise SourceError(f"Kafka topic {topic!r} does not exist or has no partitions")
        time.sleep(0.2)


class Topic:
    """One consumer of one topic, positioned at offsets the caller keeps."""

    def __init__(self, bootstrap: str, topic: str, group: str, max_records: int):
        self.topic, self.max_records = topic, max_records
        self.consumer = _consumer(bootstrap, group, max_records)
        self.gaps: list[Gap] = []
        """Retention gaps found when ``polls`` positioned the consumer."""

    def __enter__(self) -> Topic:
        return self

    def __exit__(self, *exc) -> None:
        self.consumer.close(autocommit=False)

    def polls(self, offsets: dict[str, int], stop_at_end: bool = True,
              max_polls: int | None = None) -> Iterator[Poll]:
        """Polls from ``offsets`` (the beginning where none); with ``stop_at_end``, until
        caught up with the end of every partition."""
        tps = _partitions(self.consumer, self.topic)
        self.consumer.assign(tps)
        earliest = {f"{tp.topic}:{tp.partition}": o for tp, o in self.consumer.beginning_offsets(tps).items()}
        self.gaps = gaps(offsets, earliest)
        for tp in tps:
            key = f"{tp.topic}:{tp.partition}"
            if key in offsets:
                self.consumer.seek(tp, max(int(offsets[key]), earliest[key]))
            else:
                self.consumer.seek_to_beginning(tp)
        n = 0
        while max_polls is None or n < max_polls:
            polled = self._poll(tps)
            if not polled:
                if stop_at_end and self._caught_up(tps):
                    break
                continue
            values, sources, new, spans = [], [], {}, []
            for tp, msgs in polled.items():
                for m in msgs:
                    values.append(m.value)
                    sources.append(f"{tp.topic}/{tp.partition}/{m.offset}")
                new[f"{tp.topic}:{tp.partition}"] = msgs[-1].offset + 1
                spans.append(f"{tp.partition}@{msgs[0].offset}-{msgs[-1].offset}")
            n += 1
            yield Poll(values, sources, new, f"{self.topic}:{','.join(sorted(spans))}")

    def _poll(self, tps: list[TopicPartition]) -> dict:
        """A poll; a fetch the client cannot read (UnsupportedCodecError, CorruptRecordError)
        as a SourceError naming the topic and where each partition stands."""
        try:
            return self.consumer.poll(timeout_ms=500, max_records=self.max_records)
        except KafkaError as e:
            at = ", ".join(f"{tp.partition}@{self.consumer.position(tp)}" for tp in tps)
            raise SourceError(f"Kafka topic {self.topic!r}: could not read a fetch at partition@offset {at} "
                              f"({type(e).__name__}: {e}); nothing after these offsets is taken until "
                              "the hub can read it") from e

    def _caught_up(self, tps: list[TopicPartition]) -> bool:
        ends = self.consumer.end_offsets(tps)
        return all(self.consumer.position(tp) >= ends[tp] for tp in tps)

    def committed(self, offsets: dict[str, int]) -> None:
        """Tell the group where the lake's state now stands (monitoring only)."""
        try:
            self.consumer.commit({
                TopicPartition(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1])): OffsetAndMetadata(v, "", -1)
                for k, v in offsets.items()
            })
        except KafkaError as e:  # monitoring only: the lake holds the offsets that count
            log.warning("could not commit offsets to the Kafka group: %s", e)


def lag(bootstrap: str, topic: str, offsets: dict[str, int]) -> int | None:
    """Messages on the topic after the lake's offsets (None: the broker did not say).
    Monitoring: whatever goes wrong asking the broker, status still answers."""
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    except Exception:  # noqa: BLE001 - an unreachable or misconfigured broker is "unknown lag"
        return None
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(parts) if parts else {}
    except Exception:  # noqa: BLE001 - as above
        return None
    finally:
        consumer.close()
    return sum(max(0, end - int(offsets.get(f"{tp.topic}:{tp.partition}", 0))) for tp, end in ends.items())


def ensure_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    """Create ``topic`` unless it exists (idempotent)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cityhub-admin")
    try:
        if topic not in admin.list_topics():
            admin.create_topics([NewTopic(topic, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
