"""Alerts to a chat robot's webhook, received by a local HTTP server: a connector that
fails and a feed that goes stale are told, in the DingTalk/WeCom text shape; a webhook
that is down never fails the run it reports on."""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cityhub.core.errors import SourceError
from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run
from cityhub_sim.common import serve_http
from tests.conftest import free_port

NAME = "traffic_intersections_http"


@pytest.fixture
def receiver():
    got: list[dict] = []

    class Robot(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (stdlib name)
            got.append({"type": self.headers["content-type"],
                        "body": json.loads(self.rfile.read(int(self.headers["content-length"])))})
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

        def log_message(self, *a) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Robot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/robot/send?access_token=t", got
    server.shutdown()


def failing_feed():
    return serve_http({"/api/v1/intersections": lambda q: (401, b'{"error": "token expired"}', "application/json")})


def test_a_failed_run_is_told_to_the_webhook(cfg, decl, receiver):
    url, got = receiver
    server, feed = failing_feed()
    try:
        with pytest.raises(SourceError):
            run(Lake(cfg.model_copy(update={"alert_webhook_url": url}).with_connector(NAME, url=feed), decl), NAME)
    finally:
        server.shutdown()
    [alert] = got
    assert alert["type"] == "application/json" and alert["body"]["msgtype"] == "text"
    assert alert["body"]["text"]["content"].startswith(f"[CityHub {cfg.city}] {NAME} failed: ")
    facts = alert["body"]["cityhub"]
    assert (facts["connector"], facts["kind"], facts["city"]) == (NAME, "failed", cfg.city) and "401" in facts["detail"]


def test_a_webhook_that_is_down_never_fails_the_run_it_reports(cfg, decl):
    server, feed = failing_feed()
    dead = f"http://127.0.0.1:{free_port()}/robot"
    try:
        with pytest.raises(SourceError, match="401"):  # the run's own error, not the alert's
            run(Lake(cfg.model_copy(update={"alert_webhook_url": dead}).with_connector(NAME, url=feed), decl), NAME)
    finally:
        server.shutdown()


def test_a_stale_feed_found_by_status_check_is_told(cfg, receiver, monkeypatch):
    from sqlalchemy import update
    from typer.testing import CliRunner

    from cityhub.cli.main import app
    from cityhub.core.time import now_cst
    from cityhub.lake.hubdb import connector_runs, engine
    from cityhub_sim import traffic

    url, got = receiver
    traffic.write_drop(traffic.generate(traffic.TrafficConfig(intersections_per_county=5)), cfg.drop_root)
    assert CliRunner().invoke(app, ["ingest", "traffic_intersections_drop"]).exit_code == 0
    with engine(cfg.hub_db_uri).begin() as con:
        con.execute(update(connector_runs).values(finished_at=now_cst() - timedelta(days=2)))
    monkeypatch.setenv("CITYHUB_ALERT_WEBHOOK_URL", url)
    out = CliRunner().invoke(app, ["connectors", "status", "--check"])
    assert out.exit_code == 1
    stale = [a["body"]["cityhub"] for a in got if a["body"]["cityhub"]["kind"] == "stale"]
    assert [s["connector"] for s in stale] == ["traffic_intersections_drop"]
    assert stale[0]["detail"].startswith("stale: last data ")
