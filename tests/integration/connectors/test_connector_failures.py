"""Source failures: transient ones are retried, permanent ones fail the run with a
message that names the source, and the failure is recorded for `connectors status`."""
from __future__ import annotations

import pytest

from cityhub.core.errors import SourceError
from cityhub.lake import Lake
from cityhub.pipelines.ingest import runs
from cityhub.pipelines.ingest.runner import run
from cityhub_sim.common import serve_http
from tests.conftest import free_port

NAME = "traffic_intersections_http"


def at(cfg, decl, url: str) -> Lake:
    """The lake with the intersection feed's URL set to ``url``."""
    return Lake(cfg.with_connector(NAME, url=url), decl)


def test_a_permanent_http_error_fails_the_run_clearly_and_is_recorded(cfg, decl):
    server, url = serve_http({"/api/v1/intersections": lambda q: (401, b'{"error": "token expired"}',
                                                                   "application/json")})
    lake = at(cfg, decl, url)
    try:
        with pytest.raises(SourceError) as e:
            run(lake, NAME)
    finally:
        server.shutdown()
    assert NAME in str(e.value) and "401" in str(e.value) and "token expired" in str(e.value)
    assert e.value.detail == str(e.value)
    last = runs.recent(cfg, NAME)[0]
    assert last["status"] == "failed" and "401" in last["error"]
    assert lake.snapshot_id("traffic_intersections") is None


def test_transient_errors_are_retried_until_the_fetch_succeeds(cfg, decl):
    from cityhub_sim import traffic

    world = traffic.generate(traffic.TrafficConfig(intersections_per_county=20, fault_rate=0))
    server, url = traffic.serve_inventory(world, fail_every=2)  # every other request: 503
    try:
        r = run(at(cfg, decl, url), NAME)
    finally:
        server.shutdown()
    assert r.landed == len(world.intersections) and r.quarantined == 0


def test_an_unreachable_source_fails_after_retries(cfg, decl):
    with pytest.raises(SourceError, match="unreachable after retries"):
        run(at(cfg, decl, f"http://127.0.0.1:{free_port()}"), NAME)
