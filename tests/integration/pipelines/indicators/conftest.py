"""The camera world of ``cameras.py`` landed in a fresh lake."""
from __future__ import annotations

import pytest

from tests.integration.pipelines.indicators.cameras import (AREAS, CATALOGUE_AT, EVENTS, REGISTRY, ingest_cameras,
                                                             write_catalogue, write_status)


@pytest.fixture
def camera_lake(lake):
    """The lake with the world of ``cameras.py`` landed by the camera connectors, none of it quarantined."""
    drop = lake.cfg.drop_root / "cameras"
    for sub in ("key_areas", "registry", "catalog", "status"):
        (drop / sub).mkdir(parents=True, exist_ok=True)
    (drop / "key_areas" / "key_areas_371400_20261122.csv").write_text(AREAS, encoding="utf-8")
    (drop / "registry" / "registry_371400_20261122.csv").write_text(REGISTRY, encoding="utf-8")
    # delivered at 06:00, before every event: its Status is the older observation (#4.2 v2)
    write_catalogue(lake.cfg.drop_root, "catalog_371400_20261122_p0001.xml", CATALOGUE_AT)
    write_status(lake.cfg.drop_root, "status_371400_20261122.jsonl", EVENTS)
    reports = ingest_cameras(lake)
    assert all(r.quarantined == 0 for r in reports.values())
    # every file-drop camera connector landed its file (the rest have no URL or broker here)
    landed = {n for n, r in reports.items() if r.landed > 0}
    assert {"camera_key_areas", "camera_registry", "camera_catalog_drop", "camera_status_drop"} <= landed, {
        n: (r.landed, r.skipped) for n, r in reports.items()}
    return lake
