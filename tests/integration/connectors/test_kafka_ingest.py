"""Status events through a real Kafka-protocol broker (tansu): batch consumption,
offsets committed with the data, and a consumer killed mid-stream that resumes
without losing or duplicating an event."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date

import pytest

from cityhub.connectors.sources.kafka import ensure_topic
from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run
from cityhub_sim.cameras import SimConfig, generate, publish_events

DAY = date(2026, 11, 22)


@pytest.fixture
def topic(kafka_broker) -> str:
    name = f"status-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_broker, name, partitions=3)
    return name


@pytest.fixture
def lake(cfg, decl, kafka_broker, topic) -> Lake:
    """The test's lake, with the broker and the status connector's topic set."""
    fed = cfg.model_copy(update={"kafka_bootstrap": kafka_broker}).with_connector("camera_status_kafka", topic=topic)
    return Lake(fed, decl)


def event_ids(lake) -> list[str]:
    return lake.query("SELECT event_id FROM camera_status", ["camera_status"])["event_id"].to_pylist()


def test_kafka_events_land_once_with_faults_quarantined(lake, kafka_broker, topic):
    world = generate(SimConfig(cameras_per_county=40, key_areas_per_county=8, day=DAY))
    publish_events(world.events, kafka_broker, topic)
    report = run(lake, "camera_status_kafka")
    good = {e["event_id"] for e in world.events if "_raw" not in e}
    ids = event_ids(lake)
    assert len(ids) == len(set(ids)) == len(good) and set(ids) == good
    bad = sum(1 for f in world.faults if f["source"] == "events" and f["expect"] == "quarantine")
    assert report.quarantined == bad
    sources = lake.query("SELECT source FROM quarantine", ["quarantine"])["source"].to_pylist()
    assert all(s.startswith(f"{topic}/") for s in sources)  # topic/partition/offset of each refused message
    # offsets were committed with the data: a second run finds nothing new
    again = run(lake, "camera_status_kafka")
    assert again.landed == 0 and again.quarantined == 0
    state = lake.state("camera_status", "camera_status_kafka")["offsets"]
    assert sum(state.values()) == len(world.events)


def test_consumer_killed_mid_batch_loses_and_duplicates_nothing(lake, kafka_broker, topic):
    """A real process killed with SIGKILL: nothing of it runs after the kill."""
    world = generate(SimConfig(cameras_per_county=120, key_areas_per_county=8, day=DAY, fault_rate=0))
    publish_events(world.events, kafka_broker, topic)
    env = {**os.environ, "CITYHUB_KAFKA_MAX_RECORDS": "300", "CITYHUB_KAFKA_BOOTSTRAP": kafka_broker,
           "CITYHUB_CAMERA_STATUS_KAFKA_TOPIC": topic}
    cmd = [sys.executable, "-m", "cityhub.cli.main", "ingest", "camera_status_kafka"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # kill -9 once a few batches are committed, while it is still consuming
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sid = lake.snapshot_id("camera_status")
        if sid is not None and len(lake.table("camera_status").snapshots()) >= 3:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = event_ids(lake)
    assert 0 < len(partial) < len(world.events), "the kill must land mid-stream"
    assert len(partial) == len(set(partial))

    report = run(lake, "camera_status_kafka")
    ids = event_ids(lake)
    assert len(ids) == len(set(ids)) == len(world.events)
    assert set(ids) == {e["event_id"] for e in world.events}
    assert report.landed == len(world.events) - len(partial)
    assert lake.query("SELECT count(*) AS n FROM quarantine", ["quarantine"])["n"][0].as_py() == 0
