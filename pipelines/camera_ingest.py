"""Camera ingestion: every camera source, in dependency order, with one report.

Called by ``cityhub ingest cameras`` and by the ``camera_ingest`` DAG's tasks.
"""
from __future__ import annotations

from datetime import date

from connectors import camera_catalog, camera_files, camera_status
from hub.config import Settings, settings
from hub.lake import Lake, default_lake, now_cst
from pipelines.landing import LandReport

SOURCES = ("key_areas", "camera_registry", "camera_catalog_drop", "camera_catalog_http",
           "camera_status_drop", "camera_status_kafka")


def ingest_source(source: str, lake: Lake | None = None, cfg: Settings | None = None,
                  as_of: date | None = None) -> LandReport | None:
    """Run one source; ``None`` when it is not configured (no URL, no broker)."""
    cfg = cfg or settings()
    lake = lake or default_lake()
    if source == "key_areas":
        return camera_files.ingest(lake, cfg, camera_files.KEY_AREAS)
    if source == "camera_registry":
        return camera_files.ingest(lake, cfg, camera_files.REGISTRY)
    if source == "camera_catalog_drop":
        return camera_catalog.ingest_drop(lake, cfg)
    if source == "camera_catalog_http":
        if not cfg.catalog_url:
            return None
        return camera_catalog.ingest_http(lake, cfg, cfg.catalog_url, as_of or now_cst().date())
    if source == "camera_status_drop":
        return camera_status.ingest_drop(lake, cfg)
    if source == "camera_status_kafka":
        if not cfg.kafka_bootstrap:
            return None
        return camera_status.ingest_kafka(lake, cfg)
    raise ValueError(f"unknown camera source {source!r} (known: {', '.join(SOURCES)})")


def ingest_all(lake: Lake | None = None, cfg: Settings | None = None,
               as_of: date | None = None) -> dict[str, LandReport | None]:
    return {s: ingest_source(s, lake, cfg, as_of) for s in SOURCES}
