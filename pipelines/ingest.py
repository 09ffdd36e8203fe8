"""Ingestion over the connector registry: run some or all declared connectors.

Called by ``cityhub ingest``, the generated connector DAGs and the demo.
"""
from __future__ import annotations

from datetime import date

from connectors.runner import RunReport, run
from connectors.spec import registry
from hub.config import Settings
from hub.lake import Lake


def feed_connectors(prefix: str) -> list[str]:
    """Declared connectors whose name starts with ``prefix`` (e.g. ``camera_``), in order."""
    return [n for n in registry() if n.startswith(prefix)]


def ingest(names: list[str] | None = None, lake: Lake | None = None, cfg: Settings | None = None,
           as_of: date | None = None) -> dict[str, RunReport]:
    """Run ``names`` (default: every declared connector) in declaration order."""
    return {n: run(n, lake, cfg, as_of=as_of) for n in (names or list(registry()))}
