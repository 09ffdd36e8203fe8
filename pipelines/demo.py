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
from hub.lake import Lake, now_cst
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
    step("pulling the GB/T 28181 catalogue over HTTP from the simulated platform")
    out.reports["camera_catalog_http"] = _run_served("camera_catalog_http", serve_catalog(world.catalog_pages),
                                                     lake, cfg, as_of=day)
    if use_kafka:
        topic = connector_setting("camera_status_kafka", "topic", connector("camera_status_kafka").source.get("topic"))
        step(f"publishing status events to Kafka topic {topic} and consuming them")
        ensure_topic(cfg.kafka_bootstrap, topic)
        publish_events(world.events, cfg.kafka_bootstrap, topic)
        out.reports["camera_status_kafka"] = connectors.run("camera_status_kafka", lake, cfg)
    else:
        step("landing status events (file drop; set CITYHUB_KAFKA_BOOTSTRAP to use Kafka)")
        out.reports["camera_status_drop"] = connectors.run("camera_status_drop", lake, cfg)
    _other_feeds(lake, cfg, day, seed, out, step)
    step("computing indicators")
    out.indicators = len(compute(lake, cfg.city, day))
    out.indicators += len(compute(lake, cfg.city, now_cst().date(), kinds=("now",)))
    out.tokens = demo_tokens(cfg)
    return out


def _other_feeds(lake: Lake, cfg: Settings, day: date, seed: int, out: DemoResult, step) -> None:
    """Traffic signals (inventory over HTTP, controller events), medical
    institutions (FHIR over HTTP, a month of visit counts) and social-security
    records (GB18030 CSV drops), each through its declared connectors."""
    from datetime import timedelta

    from hub.simulator import medical, social_security, traffic

    step("traffic signals: inventory over HTTP (paged JSON), controller events")
    tw = traffic.generate(traffic.TrafficConfig(city=cfg.city, seed=seed, day=day))
    traffic.write_drop(tw, cfg.drop_root)
    out.reports["traffic_intersections_http"] = _run_served("traffic_intersections_http",
                                                            traffic.serve_inventory(tw), lake, cfg)
    for name in ("traffic_intersections_drop", "traffic_signal_events_drop"):
        out.reports[name] = connectors.run(name, lake, cfg)

    step("medical institutions: FHIR Organization search over HTTP, 30 days of visit counts")
    mw = medical.generate(medical.MedicalConfig(city=cfg.city, seed=seed, start=day - timedelta(days=29), days=30))
    medical.write_drop(mw, cfg.drop_root)
    out.reports["medical_institutions_http"] = _run_served("medical_institutions_http", medical.serve_registry(mw),
                                                           lake, cfg, as_of=day)
    for name in ("medical_institutions_drop", "medical_visits_drop"):
        out.reports[name] = connectors.run(name, lake, cfg)

    step("social-security business records: GB18030 CSV drops")
    sw = social_security.generate(social_security.SocialSecurityConfig(
        city=cfg.city, seed=seed, start=day - timedelta(days=29), days=30))
    social_security.write_drop(sw, cfg.drop_root)
    out.reports["social_security_records_drop"] = connectors.run("social_security_records_drop", lake, cfg)


def _run_served(name: str, served, lake: Lake, cfg: Settings, **kw) -> connectors.RunReport:
    """Run HTTP connector ``name`` against a simulator's ``(server, url)``, then stop it."""
    server, url = served
    env = f"CITYHUB_{name.upper()}_URL"
    os.environ[env] = url
    try:
        return connectors.run(name, lake, cfg, **kw)
    finally:
        os.environ.pop(env, None)
        server.shutdown()


def demo_tokens(cfg: Settings) -> dict[str, str]:
    """Tokens for a demo county app (the city's first county) and a scoring client,
    created on first use and re-issued after."""
    from hub.regions import city

    county = next(iter(city(cfg.city).counties))
    wanted = {f"demo-county-{county}": ("county", county), "demo-scoring": ("scoring", None)}
    existing = {c["name"]: c for c in clients.list_clients(cfg)}
    tokens = {}
    for name, (role, region) in wanted.items():
        p = clients.by_name(name, cfg) if name in existing else clients.create(name, role, region, cfg=cfg)[0]
        tokens[name] = clients.issue_token(p, cfg)
    return tokens
