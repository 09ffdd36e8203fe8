"""Source failures: transient ones are retried, permanent ones fail the run with a
message that names the source, and the failure is recorded for `connectors status`."""
from __future__ import annotations

import pytest

from connectors.runner import run, runs
from connectors.sources import SourceError
from hub.simulator.common import serve_http


def test_a_permanent_http_error_fails_the_run_clearly_and_is_recorded(lake, monkeypatch):
    server, url = serve_http({"/api/v1/intersections": lambda q: (401, b'{"error": "token expired"}',
                                                                   "application/json")})
    monkeypatch.setenv("CITYHUB_TRAFFIC_INTERSECTIONS_HTTP_URL", url)
    try:
        with pytest.raises(SourceError) as e:
            run("traffic_intersections_http", lake)
    finally:
        server.shutdown()
    assert "traffic_intersections_http" in str(e.value) and "401" in str(e.value) and "token expired" in str(e.value)
    last = runs(connector_name="traffic_intersections_http")[0]
    assert last["status"] == "failed" and "401" in last["error"]
    assert lake.snapshot_id("traffic_intersections") is None


def test_transient_errors_are_retried_until_the_fetch_succeeds(lake, monkeypatch):
    from hub.simulator import traffic

    world = traffic.generate(traffic.TrafficConfig(intersections_per_county=20, fault_rate=0))
    server, url = traffic.serve_inventory(world, fail_every=2)  # every other request: 503
    monkeypatch.setenv("CITYHUB_TRAFFIC_INTERSECTIONS_HTTP_URL", url)
    try:
        r = run("traffic_intersections_http", lake)
    finally:
        server.shutdown()
    assert r.landed == len(world.intersections) and r.quarantined == 0


def test_an_unreachable_source_fails_after_retries(lake, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("CITYHUB_TRAFFIC_INTERSECTIONS_HTTP_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SourceError, match="unreachable after retries"):
        run("traffic_intersections_http", lake)
