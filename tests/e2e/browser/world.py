"""The world the browser tests and ``bench/cockpit.py`` open the pages on: Dezhou with
four simulated days, one in each of four months (2026-08 to 2026-11), each landed through
the declared connectors and computed (day, month to date, year to date), so every
indicator has four monthly periods of history; the feeds declared with sample files only;
and a client of each role the pages are opened as."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

DAYS = (date(2026, 8, 20), date(2026, 9, 18), date(2026, 10, 21), date(2026, 11, 20))
MONTHS = tuple(f"{d:%Y-%m}" for d in DAYS)
CITY, DECHENG, QIHE = "371400", "371402", "371425"
ROLES = {  # role name in the tests -> (client role, region)
    "scoring": ("scoring", None),
    "admin": ("admin", None),
    "county-qihe": ("county", QIHE),
    "county-decheng": ("county", DECHENG),
}


@dataclass
class Client:
    role: str
    client_id: str
    secret: str
    token: str
    region: str | None


def build(home: Path) -> dict[str, Client]:
    """Land four simulated days through the declared connectors and compute their values."""
    from cityhub_sim import cameras, demo, medical, social_security, traffic

    from cityhub.access import clients
    from cityhub.core.settings import Settings
    from cityhub.declarations import load
    from cityhub.lake import Lake
    from cityhub.pipelines.indicators.engine import compute
    from cityhub.pipelines.ingest.runner import run

    cfg = Settings(home=home)
    decl = load(cfg.declarations)
    lake = Lake(cfg, decl)
    for i, day in enumerate(DAYS):
        seed = i + 1
        world = cameras.generate(cameras.SimConfig(city=cfg.city, seed=seed, day=day, cameras_per_county=40,
                                                   key_areas_per_county=6, events_per_camera=2.0))
        cameras.write_drop(world, cfg.drop_root)
        tw = traffic.generate(traffic.TrafficConfig(city=cfg.city, seed=seed, day=day, intersections_per_county=20))
        traffic.write_drop(tw, cfg.drop_root)
        mw = medical.generate(medical.MedicalConfig(city=cfg.city, seed=seed, start=day, days=1,
                                                    institutions_per_county=25))
        medical.write_drop(mw, cfg.drop_root)
        sw = social_security.generate(social_security.SocialSecurityConfig(city=cfg.city, seed=seed, start=day,
                                                                           days=1, records_per_day=400))
        social_security.write_drop(sw, cfg.drop_root)
        for name in ("camera_key_areas", "camera_registry", "camera_catalog_drop", "camera_status_drop",
                     "traffic_intersections_drop", "traffic_signal_events_drop", "medical_institutions_drop",
                     "medical_visits_drop", "social_security_records_drop"):
            run(lake, name)
        if i == 0:
            demo._declared_samples(lake, demo.DemoResult(day=day))
        compute(lake, day, kinds=("day", "month", "year"))
    out = {}
    for role, (kind, region) in ROLES.items():
        p, secret = clients.create(cfg, decl, f"browser-{role}", kind, region)
        out[role] = Client(role, p.client_id, secret, clients.issue_token(cfg, p, ttl_s=6 * 3600), region)
    return out


