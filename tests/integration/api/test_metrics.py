"""``/metrics`` in-process: requests by route template (never the raw path, which may hold
a citizen's ID number), connectors' rows equal to their run records, freshness against
the declared target, indicator value age, lake snapshots, readiness; ``CITYHUB_METRICS``
turns it off. The output is parsed with prometheus-client's own parser."""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from cityhub.api.main import create_app
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.lake.hubdb import connector_runs, engine
from cityhub.pipelines.ingest import runs
from cityhub.pipelines.ingest.runner import run
from tests.integration.pipelines.test_corrected_deliveries import (
    REGISTRY,
    camera,
    deliver,
)

ID_NUMBER = "370102199001011234"


def scrape(api) -> dict[tuple[str, tuple], float]:
    r = api.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
    out = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_requests_are_counted_by_route_template_and_status_and_no_path_value_leaks(api):
    for _ in range(3):
        assert api.get("/healthz").status_code == 200
    assert api.get(f"/v1/datasets/camera_status/records?device_id={ID_NUMBER}").status_code == 401
    assert api.get(f"/no/such/{ID_NUMBER}").status_code == 404
    text = api.get("/metrics").text
    assert ID_NUMBER not in text  # routes are templates; a path nothing matched is "unmatched"
    m = scrape(api)
    assert value(m, "cityhub_http_requests_total", method="GET", route="/healthz", status="200") == 3
    assert value(m, "cityhub_http_requests_total", method="GET", route="/v1/datasets/camera_status/records",
                 status="401") == 1
    assert value(m, "cityhub_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(m, "cityhub_http_request_duration_seconds_count", method="GET", route="/healthz") == 3
    assert value(m, "cityhub_http_request_duration_seconds_sum", method="GET", route="/healthz") > 0
    assert {value(m, "cityhub_ready", check=c) for c in ("hub_db", "catalogue", "lake")} == {1.0}


def test_connector_rows_equal_the_run_records_and_freshness_follows_the_declared_target(api, lake, cfg):
    deliver(lake, "registry_20261122.csv", [camera(1), camera(2), camera(3, region="371425")])  # one spoilt: quarantined
    first = run(lake, REGISTRY)
    deliver(lake, "registry_20261122.csv", [camera(1, name="renamed"), camera(2), camera(4)])  # corrected, new
    second = run(lake, REGISTRY)
    assert (first.landed, first.quarantined) == (2, 1) and second.corrected == 1

    records = [r for r in runs.recent(cfg, REGISTRY) if r["status"] == "ok"]
    m = scrape(api)
    for metric, column in (("landed", "landed"), ("quarantined", "quarantined"), ("received", "received"),
                           ("corrected", "corrected")):
        assert value(m, f"cityhub_connector_rows_{metric}_total", connector=REGISTRY) == sum(
            r[column] for r in records), metric
    assert value(m, "cityhub_connector_runs_total", connector=REGISTRY, status="ok") == len(records) == 2
    assert value(m, "cityhub_connector_last_run_failed", connector=REGISTRY) == 0
    target = lake.decl.connector(REGISTRY).freshness_hours * 3600
    assert value(m, "cityhub_connector_freshness_target_seconds", connector=REGISTRY) == target
    assert value(m, "cityhub_connector_data_age_seconds", connector=REGISTRY) < 60
    assert value(m, "cityhub_connector_stale", connector=REGISTRY) == 0
    assert value(m, "cityhub_connector_stale", connector="camera_key_areas") == 1  # configured, never delivered
    assert value(m, "cityhub_connector_stale", connector="camera_catalog_http") is None  # not configured here
    snapshots = len(lake.table(REGISTRY).metadata.snapshots)
    assert value(m, "cityhub_lake_snapshots", table=REGISTRY) == snapshots >= 2

    # the feed's data grows older than its target: stale (after the collector's few seconds of cache)
    with engine(cfg.hub_db_uri).begin() as con:
        con.execute(update(connector_runs).where(connector_runs.c.connector == REGISTRY).values(
            finished_at=now_cst() - timedelta(seconds=target + 3600)))
    api.app.state.hub_collector._at = -1e9
    m = scrape(api)
    assert value(m, "cityhub_connector_stale", connector=REGISTRY) == 1
    assert value(m, "cityhub_connector_data_age_seconds", connector=REGISTRY) > target


def test_indicator_value_age_and_computation_time(api, lake):
    from cityhub.pipelines.indicators.engine import compute

    compute(lake, now_cst().date(), codes=["7"], kinds=("day",))
    m = scrape(api)
    assert 0 <= value(m, "cityhub_indicator_value_age_seconds", code="7") < 120
    assert value(m, "cityhub_indicator_computation_seconds") >= 0
    assert value(m, "cityhub_hub_metrics_up") == 1


def test_metrics_off_by_setting(hub_home, decl, monkeypatch):
    monkeypatch.setenv("CITYHUB_METRICS", "false")
    app = create_app(Settings(), decl)
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/metrics")
    assert r.status_code == 404 and "CITYHUB_METRICS" in r.json()["detail"]
    assert not any(getattr(m, "cls", None).__name__ == "MetricsMiddleware" for m in app.user_middleware)


@pytest.mark.parametrize("path", ["/metrics"])
def test_metrics_are_outside_the_spec(api, path):
    assert path not in api.get("/openapi.json").json()["paths"]
