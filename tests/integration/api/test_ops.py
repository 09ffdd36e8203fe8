"""Liveness and the API's description, in-process."""
from __future__ import annotations


def test_health_and_openapi(api, cfg):
    health = api.get("/healthz").json()
    assert health["status"] == "ok" and health["city"] == cfg.city
    spec = api.get("/openapi.json").json()
    assert "/v1/datasets/camera_status/records" in spec["paths"] and "/v1/indicators" in spec["paths"]


def test_ready_when_the_hub_db_catalogue_and_lake_answer_not_when_the_lake_is_gone(api, cfg, lake):
    import shutil

    from tests.integration.api.world import land_cameras

    land_cameras(lake, parts=("status",))
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready", "checks": {"hub_db": "ok", "catalogue": "ok", "lake": "ok"}}
    shutil.rmtree(cfg.home / "lake")  # the warehouse lost (an unmounted volume, a wrong bucket)
    gone = api.get("/readyz")
    assert gone.status_code == 503 and gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["detail"].startswith("not ready: ")
    assert gone.json()["checks"]["hub_db"] == "ok" and gone.json()["checks"]["lake"] != "ok"
