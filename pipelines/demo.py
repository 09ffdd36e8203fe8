"""The demo day: simulate a day of camera data for the configured city, bring it
in through the real connectors (file drop, the catalogue over HTTP, Kafka when a
broker is configured), compute the indicators and make demo clients.

``cityhub run`` (and so ``make run``) calls this before serving the API.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import os

from connectors import runner as connectors
from connectors.kafka_admin import ensure_topic
from connectors.spec import connector
from hub import clients
from hub.config import Settings, connector_setting
from hub.lake import Lake
from hub.simulator.cameras import SimConfig, generate, publish_events, serve_catalog, write_drop
from pipelines.indicators import compute


@dataclass
class DemoResult:
    day: date
    reports: dict[str, connectors.RunReport] = field(default_factory=dict)
    indicators: int = 0
    tokens: dict[str, str] = field(default_factory=dict)


def run(lake: Lake, cfg: Settings, day: date, seed: int = 1, progress=None) -> DemoResult:
    def step(msg: str) -> None:
        if progress:
            progress(msg)

    out = DemoResult(day=day)
    step(f"simulating {day} for city {cfg.city}")
    world = generate(SimConfig(city=cfg.city, seed=seed, day=day))
    use_kafka = bool(cfg.kafka_bootstrap)
    write_drop(world, cfg.drop_root, parts=("key_areas", "registry") + (() if use_kafka else ("status",)))
    step("landing key areas and the camera registry (file drop)")
    for name in ("camera_key_areas", "camera_registry"):
        out.reports[name] = connectors.run(name, lake, cfg)
    server, url = serve_catalog(world.catalog_pages)
    os.environ["CITYHUB_CAMERA_CATALOG_HTTP_URL"] = url
    try:
        step(f"pulling the GB/T 28181 catalogue over HTTP from the simulated platform at {url}")
        out.reports["camera_catalog_http"] = connectors.run("camera_catalog_http", lake, cfg, as_of=day)
    finally:
        os.environ.pop("CITYHUB_CAMERA_CATALOG_HTTP_URL", None)
        server.shutdown()
    if use_kafka:
        topic = connector_setting("camera_status_kafka", "topic", connector("camera_status_kafka").source.get("topic"))
        step(f"publishing status events to Kafka topic {topic} and consuming them")
        ensure_topic(cfg.kafka_bootstrap, topic)
        publish_events(world.events, cfg.kafka_bootstrap, topic)
        out.reports["camera_status_kafka"] = connectors.run("camera_status_kafka", lake, cfg)
    else:
        step("landing status events (file drop; set CITYHUB_KAFKA_BOOTSTRAP to use Kafka)")
        out.reports["camera_status_drop"] = connectors.run("camera_status_drop", lake, cfg)
    step("computing indicators")
    out.indicators = len(compute(lake, cfg.city, day))
    out.tokens = demo_tokens(cfg)
    return out


def demo_tokens(cfg: Settings) -> dict[str, str]:
    """Tokens for a demo county app (the city's first county) and a scoring client,
    created on first use and re-issued after."""
    from hub.regions import city

    county = next(iter(city(cfg.city).counties))
    wanted = {f"demo-county-{county}": ("county", county), "demo-scoring": ("scoring", None)}
    existing = {c["name"]: c for c in clients.list_clients(cfg)}
    tokens = {}
    for name, (role, region) in wanted.items():
        if name in existing:
            c = existing[name]
            tokens[name] = clients.issue_token(clients.Principal(c["id"], name, c["role"], c["region"]), cfg)
        else:
            _, tokens[name] = clients.create(name, role, region, cfg=cfg)
    return tokens
