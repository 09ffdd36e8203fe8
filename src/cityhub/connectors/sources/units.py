"""Units: what a source yields and a run lands as one batch, with the state entries
that mark it taken (committed with its rows, so a run stopped anywhere resumes
with the first unit not yet committed)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from cityhub.core.payloads import Payload, Reject
from cityhub.core.settings import Settings
from cityhub.declarations.connectors import ConnectorSpec


@dataclass
class Unit:
    id: str
    payloads: list[Payload]
    as_of: date | None
    mark: dict = field(default_factory=dict)
    """State entries that record this unit as taken: {section: {key: digest}}."""
    cursor: Callable[[list[dict]], str | dict | None] | None = None
    """For incremental sources: the new cursor, from the unit's records (a compound watermark is
    a dict, e.g. ``{"at": ..., "key": ...}``)."""
    delivered_at: datetime | None = None
    """When the source delivered it (fetched; a file's last write), CST: when what it
    says was observed (a catalogue's Status, say)."""
    rejects: list[Reject] = field(default_factory=list)
    """What the source refused before decoding (a linked or empty file), for the quarantine."""
    done: Callable[[], None] | None = None
    """Run once the unit's commit is durable (a file drop: move its files to the archive)."""
    last: bool = False
    """No unit follows in this run (an HTTP fetch is every page since the cursor: asking the
    source again would fetch the whole feed only to find it taken)."""


def source_url(spec: ConnectorSpec, cfg: Settings) -> str:
    """``CITYHUB_<NAME>_URL``, else the declared URL (empty: the connector is not configured):
    an HTTP base URL or a department database's SQLAlchemy URL."""
    return cfg.connector(spec.name).url or getattr(spec.source, "url", "")


def digest(payloads: list[Payload]) -> str:
    h = hashlib.sha256()
    for p in payloads:
        h.update(p.name.encode())
        h.update(p.sha256())
    return h.hexdigest()


def taken(state: dict, unit: Unit) -> bool:
    return all(state.get(sec, {}).get(k) == v for sec, entries in unit.mark.items() for k, v in entries.items())


def mark_taken(state: dict, unit: Unit, keep: int = 2000) -> dict:
    """The state after ``unit`` (bounded: the oldest marks beyond ``keep`` go, never the
    unit's own, which a crash before its files are archived needs)."""
    new = dict(state)
    for sec, entries in unit.mark.items():
        merged = {k: v for k, v in state.get(sec, {}).items() if k not in entries} | entries
        if len(merged) > keep:
            merged = dict(list(merged.items())[-max(keep, len(entries)):])
        new[sec] = merged
    return new
