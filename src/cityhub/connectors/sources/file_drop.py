"""File-drop folders: which delivered files are new, on which day they were cut,
and how pending deliveries are grouped into units.

A file counts as taken when its name and content hash are in the connector's
state (committed with the data it produced), so a re-run skips it and a
corrected re-delivery under the same name is taken again.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from cityhub.core.payloads import Payload
from cityhub.core.settings import Settings
from cityhub.core.time import CST
from cityhub.connectors.sources.units import Unit, digest
from cityhub.declarations.connectors import ConnectorSpec, FileDropSource
from cityhub.declarations.contracts import Contract

_DAY = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")
MAX_UNIT_BYTES = 256 << 20


def folder(spec: ConnectorSpec, cfg: Settings) -> Path:
    """Where the connector's files arrive: ``CITYHUB_<NAME>_FOLDER``, else the declared
    folder under ``CITYHUB_DROP``."""
    src: FileDropSource = spec.source
    return cfg.connector(spec.name).folder or cfg.drop_root / (src.folder or spec.name)


def listing(where: Path, pattern: str) -> list[Path]:
    """Delivered files, oldest name first; temp files being written are ignored."""
    if not where.is_dir():
        return []
    return sorted(p for p in where.glob(pattern) if p.is_file() and not p.name.startswith("."))


def day_of(path: Path) -> date:
    """The day a file was cut: ``YYYYMMDD`` in its name, else its modification date."""
    m = _DAY.search(path.name)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    return date.fromtimestamp(path.stat().st_mtime)


def units(spec: ConnectorSpec, contract: Contract, cfg: Settings, state: dict) -> Iterator[Unit]:
    """Files matching ``pattern``; files whose names share the ``group`` regex's match
    belong together (e.g. the pages of one catalogue fetch). Pending groups are landed
    together, up to ``batch_files`` files and 256 MB, when neither their day
    (``as_of: file_day``) nor a per-delivery uniqueness (``batch_key``) matters: one
    validation and one commit instead of one per file."""
    combinable = spec.as_of != "file_day" and contract.unique_in_batch == contract.key
    pending = pending_groups(spec, cfg, state)
    while pending:
        take = [pending.pop(0)]
        size = sum(len(p.data) for p in take[0][1])
        while (pending and combinable and len(take) < spec.source.batch_files
               and size + sum(len(p.data) for p in pending[0][1]) <= MAX_UNIT_BYTES):
            size += sum(len(p.data) for p in pending[0][1])
            take.append(pending.pop(0))
        payloads = [p for _, ps, _, _, _ in take for p in ps]
        first, last = take[0][0], take[-1][0]
        yield Unit(id=f"{first}..{last}:{digest(payloads)[:16]}" if len(take) > 1 else f"{first}:{take[0][2][:16]}",
                   payloads=payloads, as_of=take[0][3], mark={"files": {k: d for k, _, d, _, _ in take}},
                   delivered_at=max(t for *_, t in take))


def pending_groups(spec: ConnectorSpec, cfg: Settings, state: dict
                   ) -> list[tuple[str, list[Payload], str, date, datetime]]:
    """(group key, payloads, digest, day, delivered at) of every file group not taken yet,
    oldest name first."""
    src: FileDropSource = spec.source
    group_re = re.compile(src.group or r"^.*$")
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in listing(folder(spec, cfg), src.pattern):
        m = group_re.search(p.name)
        groups[m.group(0) if m else p.name].append(p)
    pending = []
    for key, paths in sorted(groups.items()):
        payloads = [Payload(p.name, p.read_bytes(), None) for p in paths]
        d = digest(payloads)
        if state.get("files", {}).get(key) != d:
            written = max(p.stat().st_mtime for p in paths)
            pending.append((key, payloads, d, day_of(paths[0]), datetime.fromtimestamp(written, CST).replace(tzinfo=None)))
    return pending
