"""``CITYHUB_LOG_FORMAT=json``: a ``cityhub ingest`` (the script, in a process of its own)
writes one JSON object per stderr line, with time, level, logger and message, and the
run's records carry its run id (the one in the hub's run records) and connector."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from cityhub.pipelines.ingest import runs
from tests.integration.pipelines.test_corrected_deliveries import (
    REGISTRY,
    camera,
    deliver,
)


def test_an_ingest_logs_json_lines_carrying_its_run_id(lake, cfg, hub_home):
    deliver(lake, "registry_20261122.csv", [camera(1), camera(2), camera(3, region="371425")])
    env = {**os.environ, "CITYHUB_HOME": str(hub_home), "CITYHUB_LOG_FORMAT": "json", "CITYHUB_LOG_LEVEL": "info"}
    r = subprocess.run([sys.executable, "-m", "cityhub.cli.main", "ingest", REGISTRY], env=env,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert lines, "nothing logged at INFO"
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in events), events
    run_id = runs.recent(cfg, REGISTRY)[0]["id"]
    mine = [e for e in events if e.get("ingest_run_id") == run_id]
    assert {e["connector"] for e in mine} == {REGISTRY}
    assert any("started" in e["message"] for e in mine) and any("2 landed, 1 quarantined" in e["message"]
                                                                for e in mine), mine


def test_text_is_the_default(lake, hub_home):
    env = {**os.environ, "CITYHUB_HOME": str(hub_home), "CITYHUB_LOG_LEVEL": "INFO"}
    deliver(lake, "registry_20261122.csv", [camera(1)])
    r = subprocess.run([sys.executable, "-m", "cityhub.cli.main", "ingest", REGISTRY], env=env,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    started = [line for line in r.stderr.splitlines() if "run 1 started" in line]
    assert started and not started[0].startswith("{") and "INFO cityhub.pipelines.ingest.runner" in started[0]
