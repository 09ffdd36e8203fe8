"""Which snapshot is current, per table, and the data files of a snapshot, cached
for the API's hot path (data files never change once written)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

from cityhub.lake import Lake


class NotInMemory(Exception):
    """Raised by reads asked to answer from memory alone (``memory_only``) when they
    would have to read the catalogue, the lake's metadata or data files: the caller
    asks again without it, where blocking is harmless (the API: in a worker thread)."""


class SnapshotCache:
    """Current snapshot per table, re-read at most every ``ttl`` seconds, and the
    data files per snapshot (immutable, so cached for good).

    A snapshot once seen is taken as existing for ``recheck`` seconds, then looked up
    again: ``cityhub lake maintain`` expires snapshots (never one that was current in
    the last day), and a cursor naming an expired one must get its 4xx answer, not a
    read of deleted files."""

    MAX_FILE_LISTS = 256

    def __init__(self, lake: Lake, ttl: float = 1.0, recheck: float = 600.0):
        self.lake, self.ttl, self.recheck = lake, ttl, recheck
        self._current: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()
        self._known: dict[tuple[str, int], float] = {}
        self._files: OrderedDict[tuple[str, int | None], tuple[str, ...]] = OrderedDict()

    def current(self, name: str, fresh: bool = False, memory_only: bool = False) -> int | None:
        """The table's current snapshot; ``fresh`` reads the catalogue now."""
        now = time.monotonic()
        with self._lock:
            hit = self._current.get(name)
        if hit and now - hit[0] < self.ttl and not fresh:
            return hit[1]
        if memory_only:
            raise NotInMemory(f"the current snapshot of {name}")
        sid = self.lake.snapshot_id(name)
        with self._lock:
            self._current[name] = (now, sid)
        if sid is not None:
            self._remember(name, sid)  # the next pages' cursors name it
        return sid

    def known(self, name: str, sid: int, memory_only: bool = False) -> bool:
        """Whether the table has snapshot ``sid`` (a cursor's); remembered once seen,
        as snapshots are kept (every cursor page would otherwise load the table)."""
        seen = self._known.get((name, sid))
        if seen is not None and time.monotonic() - seen < self.recheck:
            return True
        if memory_only:
            raise NotInMemory(f"snapshot {sid} of {name}")
        ok = self.lake.table(name).snapshot_by_id(sid) is not None
        if ok:
            self._remember(name, sid)
        else:
            with self._lock:
                self._known.pop((name, sid), None)
                self._files.pop((name, sid), None)
        return ok

    def _remember(self, name: str, sid: int) -> None:
        with self._lock:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[(name, sid)] = time.monotonic()

    def newer(self, name: str, a: int, b: int) -> bool:
        """Whether snapshot ``a`` was committed after ``b``."""
        t = self.lake.table(name)
        return t.snapshot_by_id(a).sequence_number > t.snapshot_by_id(b).sequence_number

    def files(self, name: str, sid: int | None, memory_only: bool = False) -> tuple[str, ...]:
        """The data files of snapshot ``sid``, planned once (the newest 256 snapshots read)."""
        with self._lock:
            hit = self._files.get((name, sid))
            if hit is not None:
                self._files.move_to_end((name, sid))
                return hit
        if memory_only:
            raise NotInMemory(f"the files of snapshot {sid} of {name}")
        files = tuple(self.lake.files(name, sid)) if sid is not None else ()
        with self._lock:
            self._files[(name, sid)] = files
            while len(self._files) > self.MAX_FILE_LISTS:
                self._files.popitem(last=False)
        return files
