"""File-drop folders: which delivered files are new, and on which day they were cut.

A file counts as taken when its name and content hash are in the connector's
state (committed with the data it produced), so a re-run skips it and a
corrected re-delivery under the same name is taken again.
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

_DAY = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")


def listing(folder: Path, pattern: str) -> list[Path]:
    """Delivered files, oldest name first; temp files being written are ignored."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))


def day_of(path: Path) -> date:
    """The day a file was cut: ``YYYYMMDD`` in its name, else its modification date."""
    m = _DAY.search(path.name)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    return date.fromtimestamp(path.stat().st_mtime)

