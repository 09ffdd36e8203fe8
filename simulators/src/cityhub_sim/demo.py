"""The demo day: simulate a day of every sector feed for the configured city, bring
it in through the real connectors (file drops, the catalogue and inventories over
HTTP, Kafka when a broker is configured), compute the indicators and make demo
clients. ``cityhub run`` (and so ``make run``) calls this before serving the API.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from cityhub.access import clients
from cityhub.connectors.sources.file_drop import folder
from cityhub.connectors.sources.kafka import ensure_topic, topic_of
from cityhub.core.time import now_cst
from cityhub.lake import Lake
from cityhub.pipelines.indicators.engine import compute
from cityhub.pipelines.ingest.runner import RunReport, run as run_connector
from cityhub_sim import cameras, medical, social_security, traffic


@dataclass
class DemoResult:
    day: date
    reports: dict[str, RunReport] = field(default_factory=dict)
    indicators: int = 0
    tokens: dict[str, str] = field(default_factory=dict)


def run(lake: Lake, day: date, seed: int = 1, progress: Callable[[str], None] | None = None) -> DemoResult:
    cfg = lake.cfg

    def step(msg: str) -> None:
        if progress:
            progress(msg)

    out = DemoResult(day=day)
    step(f"simulating {day} for city {cfg.city}")
    world = cameras.generate(cameras.SimConfig(city=cfg.city, declarations=cfg.declarations, seed=seed, day=day))
    use_kafka = bool(cfg.kafka_bootstrap)
    cameras.write_drop(world, cfg.drop_root, parts=("key_areas", "registry") + (() if use_kafka else ("status",)))
    step("landing key areas and the camera registry (file drop)")
    for name in ("camera_key_areas", "camera_registry"):
        out.reports[name] = run_connector(lake, name)
    step("pulling the GB/T 28181 catalogue over HTTP from the simulated platform")
    out.reports["camera_catalog_http"] = served(lake, "camera_catalog_http", cameras.serve_catalog(world.catalog_pages),
                                                as_of=day)
    if use_kafka:
        topic = topic_of(lake.decl.connector("camera_status_kafka"), cfg)
        step(f"publishing status events to Kafka topic {topic} and consuming them")
        ensure_topic(cfg.kafka_bootstrap, topic)
        cameras.publish_events(world.events, cfg.kafka_bootstrap, topic)
        out.reports["camera_status_kafka"] = run_connector(lake, "camera_status_kafka")
    else:
        step("landing status events (file drop; set CITYHUB_KAFKA_BOOTSTRAP to use Kafka)")
        out.reports["camera_status_drop"] = run_connector(lake, "camera_status_drop")
    _other_feeds(lake, day, seed, out, step)
    step("feeds declared without a simulator: their declared sample files")
    _declared_samples(lake, out)
    step("computing indicators")
    out.indicators = len(compute(lake, day))
    out.indicators += len(compute(lake, now_cst().date(), kinds=("now",)))
    out.tokens = demo_tokens(lake)
    return out


def _other_feeds(lake: Lake, day: date, seed: int, out: DemoResult, step) -> None:
    """Traffic signals (inventory over HTTP, controller events), medical institutions
    (FHIR over HTTP, a month of visit counts) and social-security records (GB18030 CSV
    drops), each through its declared connectors."""
    cfg = lake.cfg
    step("traffic signals: inventory over HTTP (paged JSON), controller events")
    tw = traffic.generate(traffic.TrafficConfig(city=cfg.city, declarations=cfg.declarations, seed=seed, day=day))
    traffic.write_drop(tw, cfg.drop_root)
    out.reports["traffic_intersections_http"] = served(lake, "traffic_intersections_http",
                                                       traffic.serve_inventory(tw))
    for name in ("traffic_intersections_drop", "traffic_signal_events_drop"):
        out.reports[name] = run_connector(lake, name)

    step("medical institutions: FHIR Organization search over HTTP, 30 days of visit counts")
    mw = medical.generate(medical.MedicalConfig(city=cfg.city, declarations=cfg.declarations, seed=seed,
                                                start=day - timedelta(days=29), days=30))
    medical.write_drop(mw, cfg.drop_root)
    out.reports["medical_institutions_http"] = served(lake, "medical_institutions_http", medical.serve_registry(mw),
                                                      as_of=day)
    for name in ("medical_institutions_drop", "medical_visits_drop"):
        out.reports[name] = run_connector(lake, name)

    step("social-security business records: GB18030 CSV drops")
    sw = social_security.generate(social_security.SocialSecurityConfig(
        city=cfg.city, declarations=cfg.declarations, seed=seed, start=day - timedelta(days=29), days=30))
    social_security.write_drop(sw, cfg.drop_root)
    out.reports["social_security_records_drop"] = run_connector(lake, "social_security_records_drop")


def _declared_samples(lake: Lake, out: DemoResult) -> None:
    """Connectors the simulators do not feed land the clean sample files their
    declaration names (e.g. the transit trips behind #22): a feed added by declaration
    shows in the demo too."""
    for name, spec in lake.decl.connectors.items():
        if name in out.reports or spec.conformance is None:
            continue
        into = folder(spec, lake.cfg)
        into.mkdir(parents=True, exist_ok=True)
        for f in spec.conformance.clean:
            shutil.copyfile(lake.decl.root / "connectors" / f, into / Path(f).name)
        out.reports[name] = run_connector(lake, name)


def served(lake: Lake, name: str, server_and_url, **kw) -> RunReport:
    """Run HTTP connector ``name`` against a simulator's ``(server, url)``, then stop it."""
    server, url = server_and_url
    try:
        return run_connector(Lake(lake.cfg.with_connector(name, url=url), lake.decl), name, **kw)
    finally:
        server.shutdown()


def demo_tokens(lake: Lake) -> dict[str, str]:
    """Tokens for a demo county app (the city's first county) and a scoring client,
    created on first use and re-issued after."""
    cfg, decl = lake.cfg, lake.decl
    county = next(iter(decl.city(cfg.city).counties))
    wanted = {f"demo-county-{county}": ("county", county), "demo-scoring": ("scoring", None)}
    existing = {c["name"] for c in clients.list_clients(cfg)}
    tokens = {}
    for name, (role, region) in wanted.items():
        p = clients.by_name(cfg, name) if name in existing else clients.create(cfg, decl, name, role, region)[0]
        tokens[name] = clients.issue_token(cfg, p)
    return tokens
