"""``core.logs``: JSON records with the ids bound around the work, uvicorn's access log
as fields without the query string (a filter may hold a personal value)."""
from __future__ import annotations

import json
import logging

import pytest

from cityhub.core import logs
from cityhub.core.settings import Settings


@pytest.fixture
def json_logs(hub_home, monkeypatch, capsys):
    monkeypatch.setenv("CITYHUB_LOG_FORMAT", "json")
    monkeypatch.setenv("CITYHUB_LOG_LEVEL", "info")
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure(Settings(), uvicorn=True)
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])
    for name in logs.UVICORN:
        logging.getLogger(name).propagate = name != "uvicorn.access"


def test_records_carry_the_bound_ids_only_inside_the_block(json_logs):
    log = logging.getLogger("cityhub.test")
    with logs.bound(ingest_run_id=42, connector="camera_registry", dag_run_id=None):
        log.info("landed %d rows", 3)
    log.warning("after")
    inside, after = json_logs()
    assert inside["message"] == "landed 3 rows" and inside["level"] == "info" and inside["logger"] == "cityhub.test"
    assert (inside["ingest_run_id"], inside["connector"]) == (42, "camera_registry") and "dag_run_id" not in inside
    assert inside["time"].endswith("Z")
    assert "ingest_run_id" not in after and after["level"] == "warning"


def test_the_access_log_is_fields_without_the_query(json_logs):
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "10.0.0.7:5123", "GET",
                                             "/v1/datasets/x/records?id_number=370102199001011234", "1.1", 200)
    (e,) = json_logs()
    assert (e["client"], e["method"], e["path"], e["status"]) == ("10.0.0.7:5123", "GET", "/v1/datasets/x/records", 200)
    assert "370102199001011234" not in json.dumps(e)


def test_an_exception_is_one_line(json_logs):
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("cityhub.test").exception("failed")
    (e,) = json_logs()
    assert e["level"] == "error" and "ValueError: bad" in e["exception"]
