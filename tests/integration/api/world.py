"""Data the API tests serve, landed the way the hub lands it: the simulators write a
department's delivery, the declared connectors land it (``runner.run``)."""
from __future__ import annotations

from datetime import date

from cityhub_sim import social_security
from cityhub_sim.cameras import SimConfig, generate, write_drop

from cityhub.lake import Lake
from cityhub.pipelines.ingest import runner

DAY = date(2026, 11, 22)
CITY, QIHE, DECHENG = "371400", "371425", "371402"
SSR = "/v1/datasets/social_security_records"

CAMERA_PARTS = {"key_areas": "camera_key_areas", "registry": "camera_registry", "catalog": "camera_catalog_drop",
                "status": "camera_status_drop"}
"""The parts of the camera platform's file drop, and the connector that lands each."""


def land_cameras(lake: Lake, day: date = DAY, per_county: int = 60, key_areas: int = 8,
                 parts: tuple[str, ...] = tuple(CAMERA_PARTS)) -> None:
    """The camera platform's delivery for ``day`` (``parts`` of it), landed by the
    connectors of those parts."""
    world = generate(SimConfig(cameras_per_county=per_county, key_areas_per_county=key_areas, day=day))
    write_drop(world, lake.cfg.drop_root, parts=parts)
    _, failed = runner.run_all(lake, [CAMERA_PARTS[p] for p in parts])
    assert not failed, failed


def land_social_security(lake: Lake, records_per_day: int) -> int:
    """One day of the social-security bureau's business records; returns the rows landed."""
    world = social_security.generate(social_security.SocialSecurityConfig(
        start=DAY, days=1, records_per_day=records_per_day, fault_rate=0))
    social_security.write_drop(world, lake.cfg.drop_root)
    landed = runner.run(lake, "social_security_records_drop").landed
    assert landed > 0
    return landed


def count(lake: Lake, sql: str, names: list[str], params: list | None = None) -> int:
    return lake.query(sql, names, params)[0][0].as_py()
