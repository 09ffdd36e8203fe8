"""Lake maintenance: compaction of small files, snapshot expiry with a declared retention,
and removal of files no kept snapshot needs (``cityhub lake maintain``, the daily
``lake_maintenance`` DAG).

Every commit adds a snapshot, and an event feed lands a small file per delivery, so an
untended lake grows by files and snapshots without end. What must stay readable:

- every snapshot a stored indicator value names as evidence (its ``inputs``): the evidence
  endpoint and signed reports re-read the lake as of those snapshots, and the values table
  is append-only, so this covers every report ever signed;
- the current snapshot of each table, and each table's first one (when its data was first
  issued: open-data metadata dates a dataset by it);
- every snapshot that was *current* at some time within the retention
  (``CITYHUB_SNAPSHOT_RETENTION_DAYS``, default 366 days). The default is the assessment
  cycle: DB37/T 3890 values are assessed per year (year-to-date periods, a self-assessment
  each year), so any period of the cycle can be recomputed and a ``/changes`` or record
  cursor a client kept for up to a year still reads. Age is counted from when a snapshot
  stopped being current, not from when it was made, and never below the safety age: an
  indicator run that pinned a snapshot a moment before the next commit superseded it
  stores a value naming it only when it finishes.

The quarantine keeps its history for the safety age only (``Policy.short_history``): no
value names it, and the raw items ``cityhub quarantine expire`` removes hold personal data.

Files go only when no kept snapshot reaches them: the data files, manifests and manifest
lists of expired snapshots at once (they were committed, so no writer is still making
them), anything else under a table that nothing references (a failed commit's files)
only once older than ``CITYHUB_ORPHAN_MIN_AGE_HOURS`` (default a day), so a writer's files
not yet committed are never taken. Expiry is pyiceberg's own
(``table.maintenance.expire_snapshots``), which edits the metadata only; pyiceberg 0.12 has
no file clean-up, so that is done here, and the previous metadata versions, which list the
expired snapshots, are dropped through pyiceberg's own metadata clean-up.

A snapshot a value names keeps every file it reaches: on an append-only event table the
small files of each delivery up to the newest value's snapshot stay beside the compacted
copy of their rows. Expiry frees what was replaced between two computations (corrections,
removals, whole-table deliveries, compactions) and the snapshots' own metadata.

Compaction rewrites a table's small files (a delivery each) into files of up to
``TARGET_FILE_BYTES``, sorted by the contract's ``sort_by``, in one ``overwrite`` commit
marked ``cityhub.connector=compaction`` (as ``Lake.compact``): the same rows in other
files, which the change feed reports as no change. It runs first, so the small files it
replaced leave with the snapshots that held them once those expire.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pyarrow.fs import FileSelector, FileType, LocalFileSystem
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, PyArrowFileIO, _dataframe_to_data_files
from pyiceberg.table import Table

from cityhub.core.settings import Settings
from cityhub.lake import Lake
from cityhub.lake.tables import NAMESPACE

log = logging.getLogger(__name__)

SMALL_FILE_BYTES = 8 << 20
"""A data file smaller than this is a compaction candidate."""
TARGET_FILE_BYTES = 64 << 20
"""Small files are merged into files of up to this many bytes (as stored)."""
MIN_SMALL_FILES = 8
"""A table is compacted once its current snapshot has this many small files."""
COMPACTION = {"cityhub.connector": "compaction", "cityhub.rows": "0"}
VALUES = "indicator_values"
MAX_VERSIONS = "write.metadata.previous-versions-max"


@dataclass(frozen=True)
class Policy:
    """What maintenance keeps and when it compacts."""
    retention: timedelta = timedelta(days=366)
    min_age: timedelta = timedelta(days=1)
    small_file_bytes: int = SMALL_FILE_BYTES
    target_file_bytes: int = TARGET_FILE_BYTES
    min_small_files: int = MIN_SMALL_FILES
    short_history: frozenset[str] = frozenset({"quarantine"})
    """Tables whose history is kept for the safety age only: nothing reads the quarantine
    as of an older snapshot, and the raw items ``cityhub quarantine expire`` removes (with
    their personal data) must leave the lake then, not a retention later."""

    @classmethod
    def from_settings(cls, cfg: Settings, **overrides) -> Policy:
        return cls(retention=timedelta(days=cfg.snapshot_retention_days),
                   min_age=timedelta(hours=cfg.orphan_min_age_hours), **overrides)


@dataclass
class TableReport:
    table: str
    snapshots: int = 0
    """Snapshots before."""
    expired: list[int] = field(default_factory=list)
    kept_as_evidence: int = 0
    compacted_files: int = 0
    """Small data files rewritten (or that would be)."""
    written_files: int = 0
    deleted: list[str] = field(default_factory=list)
    """Files of expired snapshots no kept snapshot reaches."""
    orphans: list[str] = field(default_factory=list)
    """Files nothing references, older than the safety age."""
    young_orphans: int = 0
    """Unreferenced files younger than the safety age, left (a writer may be about to commit them)."""
    bytes_freed: int = 0
    """Of ``deleted`` and ``orphans`` (not the previous metadata versions pyiceberg drops)."""


@dataclass
class Report:
    tables: list[TableReport]
    dry_run: bool

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "tables": [
            {"table": t.table, "snapshots": t.snapshots, "expired": len(t.expired),
             "kept_as_evidence": t.kept_as_evidence, "compacted_files": t.compacted_files,
             "written_files": t.written_files, "deleted_files": len(t.deleted), "orphans": len(t.orphans),
             "young_orphans": t.young_orphans, "bytes_freed": t.bytes_freed} for t in self.tables],
            "expired": sum(len(t.expired) for t in self.tables),
            "deleted_files": sum(len(t.deleted) + len(t.orphans) for t in self.tables),
            "bytes_freed": sum(t.bytes_freed for t in self.tables)}


def maintain(lake: Lake, policy: Policy | None = None, *, dry_run: bool = False, now: datetime | None = None,
             tables: Iterable[str] | None = None) -> Report:
    """Compact, expire and clean every table of the lake (or ``tables``); ``dry_run``
    changes nothing and reports what would go (the files a compaction would make
    unreachable are not counted then: they go on the run after it). The retention counts
    back from ``now``, default the time each table's expiry starts (after its compaction)."""
    policy = policy or Policy.from_settings(lake.cfg)
    names = sorted(tables) if tables is not None else table_names(lake)
    out = []
    for name in names:
        report = TableReport(name)
        compact(lake, name, policy, report, dry_run=dry_run)
        expire(lake, name, policy, report, now=now, dry_run=dry_run)
        out.append(report)
    return Report(out, dry_run)


def table_names(lake: Lake) -> list[str]:
    return sorted(ident[-1] for ident in lake.catalog.list_tables(NAMESPACE))


def evidence_snapshots(lake: Lake) -> dict[str, set[int]]:
    """The snapshot ids, per table, that some stored indicator value names as evidence."""
    if not lake.exists(VALUES) or lake.snapshot_id(VALUES) is None:
        return {}
    named: dict[str, set[int]] = {}
    for raw in lake.query(f"SELECT DISTINCT inputs FROM {VALUES}", [VALUES]).column(0).to_pylist():
        for table, sid in json.loads(raw).items():
            if sid is not None:
                named.setdefault(table, set()).add(int(sid))
    return named


# -- compaction --------------------------------------------------------------------------


def compact(lake: Lake, name: str, policy: Policy, report: TableReport | None = None, *,
            dry_run: bool = False) -> TableReport:
    """Rewrite ``name``'s small data files into bigger ones in one commit (when it has at
    least ``policy.min_small_files``). A rival commit meanwhile wins: the rewrite is
    dropped (its files become orphans) and tried again next time."""
    report = report or TableReport(name)
    table = _load(lake, name)
    snap = table.current_snapshot()
    if snap is None:
        return report
    tasks = [t for t in table.scan(snapshot_id=snap.snapshot_id).plan_files()
             if t.file.file_size_in_bytes < policy.small_file_bytes and not t.delete_files]
    if len(tasks) < policy.min_small_files:
        return report
    bins = [b for b in _bins(tasks, policy.target_file_bytes) if len(b) > 1]
    if not bins:
        return report
    if dry_run:
        report.compacted_files, report.written_files = sum(len(b) for b in bins), len(bins)
        return report
    contract = lake.decl.contracts.get(name)
    order = [(k, "ascending") for k in contract.sort_by] if contract is not None and contract.sort_by else []
    written = 0
    try:
        with table.transaction() as tx:
            schema = tx.table_metadata.schema()
            with tx.update_snapshot(snapshot_properties=COMPACTION).overwrite() as rewrite:
                counter = itertools.count(0)
                for b in bins:
                    rows = ArrowScan(table_metadata=tx.table_metadata, io=table.io, projected_schema=schema,
                                     row_filter=AlwaysTrue()).to_table(tasks=b)
                    if order:
                        rows = rows.sort_by(order)
                    for data_file in _dataframe_to_data_files(table_metadata=tx.table_metadata, df=rows, io=table.io,
                                                              write_uuid=rewrite.commit_uuid, counter=counter):
                        rewrite.append_data_file(data_file)
                        written += 1
                    for t in b:
                        rewrite.delete_data_file(t.file)
    except CommitFailedException as e:
        log.info("compaction of %s dropped: %s", name, e)
        return report
    report.compacted_files, report.written_files = sum(len(b) for b in bins), written
    return report


def _bins(tasks: list, target: int) -> list[list]:
    """Files in the order the scan plans them (manifest by manifest: neighbouring
    deliveries together) packed into bins of up to ``target`` bytes."""
    bins, cur, size = [], [], 0
    for t in tasks:
        if cur and size + t.file.file_size_in_bytes > target:
            bins.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += t.file.file_size_in_bytes
    if cur:
        bins.append(cur)
    return bins


# -- expiry and clean-up ---------------------------------------------------------------


def expire(lake: Lake, name: str, policy: Policy, report: TableReport | None = None, *,
           now: datetime | None = None, dry_run: bool = False, evidence: dict[str, set[int]] | None = None,
           attempts: int = 5) -> TableReport:
    """Expire ``name``'s snapshots the retention no longer keeps (see the module), then
    delete the files only they reached and the orphans older than the safety age."""
    report = report or TableReport(name)
    now = now or datetime.now(UTC)
    for attempt in range(attempts):
        # read the evidence after the table: a value stored in between names a snapshot
        # that is current or was superseded within the safety age, which stays anyway
        table = _load(lake, name)
        named = (evidence if evidence is not None else evidence_snapshots(lake)).get(name, set())
        doomed, kept_named = _to_expire(table, named, policy, now)
        report.snapshots, report.kept_as_evidence = len(table.metadata.snapshots), kept_named
        refs = _References(table)
        gone = refs.of([s for s in table.metadata.snapshots if s.snapshot_id in doomed])
        if dry_run or not doomed:
            break
        try:
            table.maintenance.expire_snapshots().by_ids(sorted(doomed)).commit()
            _trim_metadata_log(table)
            break
        except (CommitFailedException, ValueError) as e:  # a rival commit, or another maintainer expired some
            if attempt == attempts - 1:
                raise
            log.info("expiry of %s retried: %s", name, e)
            time.sleep(0.05 * (attempt + 1))
    report.expired = sorted(doomed)
    if not dry_run:
        table = _load(lake, name)  # what is reachable now, a rival's new snapshot included
        refs = _References(table)
    keep = refs.of([s for s in table.metadata.snapshots if s.snapshot_id not in doomed]) | refs.metadata()
    cutoff = now.timestamp() - policy.min_age.total_seconds()
    for location, (path, size, mtime) in _listing(table).items():
        if location in keep:
            continue
        if location in gone:
            report.deleted.append(path)
        elif mtime < cutoff:
            report.orphans.append(path)
        else:
            report.young_orphans += 1
            continue
        report.bytes_freed += size
    if not dry_run:
        fs = _fs(table)
        for path in [*report.deleted, *report.orphans]:
            try:
                fs.delete_file(path)
            except FileNotFoundError:
                pass
    return report


def _trim_metadata_log(table: Table) -> None:
    """Drop the previous metadata versions once snapshots expired: each lists every snapshot
    of its day (on an event table, a file of hundreds of KB each), and those it lists are
    gone now. pyiceberg's own clean-up does it (``write.metadata.delete-after-commit``):
    a commit with ``previous-versions-max`` 1, then one restoring it. A writer committing
    in between restores it too (``Lake`` re-sets the table properties it finds changed)."""
    was = table.properties.get(MAX_VERSIONS)
    try:
        with table.transaction() as tx:
            tx.set_properties({MAX_VERSIONS: "1"})
        with table.transaction() as tx:
            if was is None:
                tx.remove_properties(MAX_VERSIONS)
            else:
                tx.set_properties({MAX_VERSIONS: was})
    except CommitFailedException as e:  # the next run trims what is left
        log.info("metadata log of %s not trimmed: %s", table.name(), e)


def _to_expire(table: Table, named: set[int], policy: Policy, now: datetime) -> tuple[set[int], int]:
    """The snapshots to expire, and how many were kept only because a value names them."""
    snaps = sorted(table.metadata.snapshots, key=lambda s: (s.sequence_number or 0, s.timestamp_ms))
    if not snaps:
        return set(), 0
    protected = {ref.snapshot_id for ref in table.metadata.refs.values()}
    short = table.name()[-1] in policy.short_history
    horizon = (now - (policy.min_age if short else max(policy.retention, policy.min_age))).timestamp() * 1000
    first = None if short else snaps[0]
    doomed, kept_named = set(), 0
    for s, after in itertools.pairwise(snaps):  # the last one is current (protected)
        if s.snapshot_id in protected or s is first or after.timestamp_ms >= horizon:
            continue
        if s.snapshot_id in named:
            kept_named += 1
            continue
        doomed.add(s.snapshot_id)
    return doomed, kept_named


class _References:
    """Files a table's metadata reaches, by normalised location; manifests read once."""

    def __init__(self, table: Table):
        self.table, self._entries = table, {}

    def of(self, snapshots) -> set[tuple[str, str]]:
        out = set()
        for s in snapshots:
            out.add(_norm(s.manifest_list, self.table))
            for m in s.manifests(self.table.io):
                out.add(_norm(m.manifest_path, self.table))
                if m.manifest_path not in self._entries:
                    self._entries[m.manifest_path] = [
                        _norm(e.data_file.file_path, self.table)
                        for e in m.fetch_manifest_entry(self.table.io, discard_deleted=True)]
                out.update(self._entries[m.manifest_path])
        return out

    def metadata(self) -> set[tuple[str, str]]:
        md = self.table.metadata
        files = [self.table.metadata_location, *(e.metadata_file for e in md.metadata_log),
                 *(s.statistics_path for s in md.statistics),
                 *(s.statistics_path for s in getattr(md, "partition_statistics", ()))]
        return {_norm(f, self.table) for f in files if f}


def _norm(location: str, table: Table) -> tuple[str, str]:
    scheme, _, path = PyArrowFileIO.parse_location(location, table.io.properties)
    return scheme, os.path.normpath(path) if scheme == "file" else path


def _fs(table: Table):
    scheme, netloc, _ = PyArrowFileIO.parse_location(table.location(), table.io.properties)
    fs_by_scheme = getattr(table.io, "fs_by_scheme", None)
    return fs_by_scheme(scheme, netloc) if fs_by_scheme is not None else LocalFileSystem()


def _listing(table: Table) -> dict[tuple[str, str], tuple[str, int, float]]:
    """Every file under the table's location: its path for the file system, size and mtime."""
    scheme, _, root = PyArrowFileIO.parse_location(table.location(), table.io.properties)
    try:
        infos = _fs(table).get_file_info(FileSelector(root, recursive=True, allow_not_found=True))
    except FileNotFoundError:
        return {}
    out = {}
    for i in infos:
        if i.type != FileType.File:
            continue
        key = (scheme, os.path.normpath(i.path) if scheme == "file" else i.path)
        out[key] = (i.path, i.size or 0, i.mtime.timestamp() if i.mtime else 0.0)
    return out


def _load(lake: Lake, name: str) -> Table:
    return lake.catalog.load_table(f"{NAMESPACE}.{name}")


def lake_usage(lake: Lake) -> dict[str, tuple[int, int]]:
    """Files and bytes under the lake's tables (for the benchmark) by kind: ``data`` (Parquet), ``manifests``
    (Avro manifests and manifest lists), ``metadata`` (table metadata JSON, the newest and
    the previous versions the table keeps), ``other``; and ``total``."""
    out = {k: [0, 0] for k in ("data", "manifests", "metadata", "other", "total")}
    for name in table_names(lake):
        for path, n, _ in _listing(_load(lake, name)).values():
            kind = ("data" if path.endswith(".parquet") else "manifests" if path.endswith(".avro")
                    else "metadata" if path.endswith(".json") else "other")
            for k in (kind, "total"):
                out[k][0] += 1
                out[k][1] += n
    return {k: (v[0], v[1]) for k, v in out.items()}
