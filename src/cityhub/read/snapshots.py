"""Which snapshot is current, per table, and the data files of a snapshot, cached
for the API's hot path (data files never change once written)."""
from __future__ import annotations

import threading
import time
from functools import lru_cache

from cityhub.lake import Lake


class SnapshotCache:
    """Current snapshot per table, re-read at most every ``ttl`` seconds, and the
    data files per snapshot (immutable, so cached for good)."""

    def __init__(self, lake: Lake, ttl: float = 1.0):
        self.lake, self.ttl = lake, ttl
        self._current: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()
        self._known: set[tuple[str, int]] = set()
        self.files = lru_cache(maxsize=256)(self._files)

    def current(self, name: str, fresh: bool = False) -> int | None:
        """The table's current snapshot; ``fresh`` reads the catalogue now."""
        now = time.monotonic()
        with self._lock:
            hit = self._current.get(name)
        if hit and now - hit[0] < self.ttl and not fresh:
            return hit[1]
        sid = self.lake.snapshot_id(name)
        with self._lock:
            self._current[name] = (now, sid)
        return sid

    def known(self, name: str, sid: int) -> bool:
        """Whether the table has snapshot ``sid`` (a cursor's); remembered once seen,
        as snapshots are kept (every cursor page would otherwise load the table)."""
        if (name, sid) in self._known:
            return True
        ok = self.lake.table(name).snapshot_by_id(sid) is not None
        if ok:
            with self._lock:
                if len(self._known) > 100_000:
                    self._known.clear()
                self._known.add((name, sid))
        return ok

    def newer(self, name: str, a: int, b: int) -> bool:
        """Whether snapshot ``a`` was committed after ``b``."""
        t = self.lake.table(name)
        return t.snapshot_by_id(a).sequence_number > t.snapshot_by_id(b).sequence_number

    def _files(self, name: str, sid: int | None) -> tuple[str, ...]:
        return tuple(self.lake.files(name, sid)) if sid is not None else ()
