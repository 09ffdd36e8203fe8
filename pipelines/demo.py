"""The demo day: simulate a day of camera data for the configured city, bring it
in through the real connectors (file drop, the catalogue over HTTP, Kafka when a
broker is configured), compute the indicators and make demo clients.

``cityhub run`` (and so ``make run``) calls this before serving the API.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from connectors import camera_catalog, camera_files, camera_status
from connectors.kafka_admin import ensure_topic
from hub import clients
from hub.config import Settings
from hub.lake import Lake
from hub.simulator.cameras import SimConfig, generate, publish_events, serve_catalog, write_drop
from pipelines.indicators import compute
from pipelines.landing import LandReport


@dataclass
class DemoResult:
    day: date
    reports: dict[str, LandReport] = field(default_factory=dict)
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
    out.reports["key_areas"] = camera_files.ingest(lake, cfg, camera_files.KEY_AREAS)
    out.reports["camera_registry"] = camera_files.ingest(lake, cfg, camera_files.REGISTRY)
    server, url = serve_catalog(world.catalog_pages)
    try:
        step(f"pulling the GB/T 28181 catalogue over HTTP from the simulated platform at {url}")
        out.reports["camera_catalog"] = camera_catalog.ingest_http(lake, cfg, url, day)
    finally:
        server.shutdown()
    if use_kafka:
        step(f"publishing status events to Kafka topic {cfg.status_topic} and consuming them")
        ensure_topic(cfg.kafka_bootstrap, cfg.status_topic)
        publish_events(world.events, cfg.kafka_bootstrap, cfg.status_topic)
        out.reports["camera_status"] = camera_status.ingest_kafka(lake, cfg)
    else:
        step("landing status events (file drop; set CITYHUB_KAFKA_BOOTSTRAP to use Kafka)")
        out.reports["camera_status"] = camera_status.ingest_drop(lake, cfg)
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
