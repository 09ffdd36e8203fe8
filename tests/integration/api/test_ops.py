"""Liveness and the API's description, in-process."""
from __future__ import annotations


def test_health_and_openapi(api, cfg):
    health = api.get("/healthz").json()
    assert health["status"] == "ok" and health["city"] == cfg.city
    spec = api.get("/openapi.json").json()
    assert "/v1/datasets/camera_status/records" in spec["paths"] and "/v1/indicators" in spec["paths"]
