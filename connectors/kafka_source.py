"""Kafka source: consume a topic in large batches, commit offsets with the data.

Offsets live in the lake, in the same atomic commit as the rows they produced
(the connector's state); the consumer seeks to them on start. A consumer killed
at any point therefore resumes exactly after the last committed batch: nothing
is lost and nothing lands twice. Offsets are also committed to the Kafka group
afterwards, for lag monitoring only.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from hub.lake import Lake
from pipelines.landing import Batch, LandReport, land

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaFeed:
    connector: str
    dataset: str
    topic: str
    to_batch: Callable[[list[bytes], list[str], str, dict], Batch]
    """(values, sources, batch_id, new_state) -> Batch"""


@retry(retry=retry_if_exception_type(KafkaError), stop=stop_after_attempt(5),
       wait=wait_exponential(multiplier=0.5, max=8), reraise=True)
def _consumer(bootstrap: str, group: str, max_records: int) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", max_poll_records=max_records,
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
            raise RuntimeError(f"Kafka topic {topic!r} does not exist or has no partitions")
        time.sleep(0.2)


def consume(lake: Lake, feed: KafkaFeed, *, bootstrap: str, city: str, max_records: int = 50_000,
            stop_at_end: bool = True, max_batches: int | None = None) -> LandReport:
    """Consume ``feed.topic`` from the offsets committed in the lake; with
    ``stop_at_end`` return once caught up with the end of every partition."""
    report = LandReport(dataset=feed.dataset, batch_id=f"kafka:{feed.topic}")
    consumer = _consumer(bootstrap, f"cityhub.{feed.connector}", max_records)
    try:
        tps = _partitions(consumer, feed.topic)
        consumer.assign(tps)
        offsets = lake.state(feed.dataset, feed.connector).get("offsets", {})
        for tp in tps:
            key = f"{tp.topic}:{tp.partition}"
            if key in offsets:
                consumer.seek(tp, int(offsets[key]))
            else:
                consumer.seek_to_beginning(tp)
        batches = 0
        while max_batches is None or batches < max_batches:
            polled = consumer.poll(timeout_ms=500, max_records=max_records)
            if not polled:
                if stop_at_end and _caught_up(consumer, tps):
                    break
                continue
            values, sources = [], []
            state = lake.state(feed.dataset, feed.connector)
            new_offsets = dict(state.get("offsets", {}))
            first_last = []
            for tp, msgs in polled.items():
                for m in msgs:
                    values.append(m.value)
                    sources.append(f"{tp.topic}/{tp.partition}/{m.offset}")
                new_offsets[f"{tp.topic}:{tp.partition}"] = msgs[-1].offset + 1
                first_last.append(f"{tp.partition}@{msgs[0].offset}-{msgs[-1].offset}")
            batch_id = f"{feed.topic}:{','.join(sorted(first_last))}"
            batch = feed.to_batch(values, sources, batch_id, {**state, "offsets": new_offsets})
            report.add(land(lake, batch, city))
            batches += 1
            _commit_group(consumer, new_offsets)
    finally:
        consumer.close(autocommit=False)
    return report


def _caught_up(consumer: KafkaConsumer, tps: list[TopicPartition]) -> bool:
    ends = consumer.end_offsets(tps)
    return all(consumer.position(tp) >= ends[tp] for tp in tps)


def _commit_group(consumer: KafkaConsumer, offsets: dict[str, int]) -> None:
    try:
        consumer.commit({
            TopicPartition(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1])): OffsetAndMetadata(v, "", -1)
            for k, v in offsets.items()
        })
    except Exception as e:  # monitoring only: the lake holds the offsets that count
        log.warning("could not commit offsets to the Kafka group: %s", e)
