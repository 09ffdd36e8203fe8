"""Landing a batch: type it, validate it, split it, commit it — losing nothing.

Every connector ends here. A batch's rows either land in their dataset or go to
the quarantine table with every reason that applies and the raw item; items the
parser could not even read (a truncated page, a wrong encoding) arrive as
``Reject``s and are quarantined whole. The quarantine commit comes first and the
data commit carries the connector's new state (files taken, offsets), so a crash
between the two replays the batch, and the replay adds nothing twice: quarantine
rows are de-duplicated by (source, key, reason), data rows by the contract key.

Corrections: a row whose key is already landed is compared with the landed version
(``content_fields``: all but the key and what the hub fills from the delivery). The
same content is "already landed" (counted, not quarantined: a producer re-sending an
event, a snapshot observed again); changed content is a correction: the landed row is deleted and the new
one appended in the same commit (``Lake.replace``), so the newest version of a key
wins and the replaced row stays readable at the earlier snapshot (and ``/changes``
shows it as an upsert). A crash before that commit replays it; after it, the replay
finds the new version landed. Within one delivery the newest version of an item
stands (``_versions_in_batch``). Both count as ``LandReport.corrected``.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    LessThanOrEqual,
)

from cityhub.core.payloads import Batch
from cityhub.core.time import now_cst
from cityhub.declarations.contracts import Contract
from cityhub.lake import Lake
from cityhub.lake.tables import key_filter, register_view
from cityhub.pipelines.landing.quality import validate
from cityhub.pipelines.landing.staging import stage

log = logging.getLogger(__name__)


@dataclass
class LandReport:
    dataset: str
    batch_id: str
    received: int = 0
    landed: int = 0
    quarantined: int = 0
    already_landed: int = 0
    corrected: int = 0
    """Rows landed as a newer version of their key: replacing the landed row (which stays
    readable at earlier snapshots), or an older version in the same delivery."""
    snapshot_id: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    """Time per phase (stage, validate, dedupe, quarantine, commit), for tuning."""

    def add(self, other: LandReport) -> None:
        self.received += other.received
        self.landed += other.landed
        self.quarantined += other.quarantined
        self.already_landed += other.already_landed
        self.corrected += other.corrected
        self.snapshot_id = other.snapshot_id or self.snapshot_id
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v
        for k, v in other.seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v


def _key_strings(t: pa.Table, key: tuple[str, ...]) -> list[str]:
    cols = [pc.cast(t[k], pa.string()).fill_null("") for k in key]
    joined = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "|")
    return joined.to_pylist()


DELIVERY_FIELDS = frozenset({"observed_at", "received_at"})
"""Fields the hub fills from the delivery (when it was delivered, when the hub took it),
not what the department said: a re-delivery changes them without correcting anything,
so they are left out when a row is compared with an earlier version of its key."""


def content_fields(c: Contract) -> list[str]:
    """The fields two versions of a key are compared on: all but the key and ``DELIVERY_FIELDS``."""
    return [f for f in c.field_names if f not in c.key and f not in DELIVERY_FIELDS]


def version_fields(c: Contract) -> tuple[str, ...]:
    """What tells a key's versions apart by age, as the contract declares it: the key's
    fields beyond its ``batch_key`` (an inventory keyed by (id, updated_at) lists each id
    once per delivery, so updated_at is its version). Empty: the later row is the newer."""
    if c.batch_key is None:
        return ()
    return tuple(k for k in c.key if k not in c.batch_key)


IN_PRUNE_LIMIT = 200
"""Up to this many keys a batch's lookup plans with an ``In`` on the key (pyiceberg prunes
data files whose key bounds hold none of them; beyond this it does not evaluate ``In``)."""


def key_lookup_filter(c: Contract, rows: pa.Table) -> BooleanExpression:
    """An Iceberg row filter every landed row sharing a key with ``rows`` satisfies, for
    pruning by the data files' column bounds: the batch's range of each key field, and
    for a small batch the exact keys (``key_filter``). Not the batch's time range: a
    repeat or correction whose event time moved outside it must still be found."""
    terms: list[BooleanExpression] = []
    for k in c.key:
        lo, hi = pc.min(rows[k]).as_py(), pc.max(rows[k]).as_py()
        if lo is not None:
            terms += [GreaterThanOrEqual(k, lo), LessThanOrEqual(k, hi)]
    if rows.num_rows <= IN_PRUNE_LIMIT:
        terms.append(key_filter(c, rows))
    if not terms:
        return AlwaysTrue()
    return terms[0] if len(terms) == 1 else And(*terms)


def _lake_versions(lake: Lake, c: Contract, rows: pa.Table, snapshot_id: int | None) -> dict[int, bool]:
    """For each row of ``rows`` whose key is already in the lake at ``snapshot_id``: its
    position -> whether the lake holds the same content (``content_fields``) for that key
    (False: this row corrects it). Looked up by key wherever it landed: only the data files
    whose key bounds may hold one of the batch's keys are read (``key_lookup_filter``),
    and of those first only the key columns, joined with the batch's keys."""
    name = c.name
    if rows.num_rows == 0 or snapshot_id is None:
        return {}
    compared = content_fields(c)
    files = lake.files(name, snapshot_id, key_lookup_filter(c, rows))
    if not files:
        return {}
    con = duckdb.connect()
    try:
        register_view(con, name, files, c)
        cols = list(dict.fromkeys(list(c.key) + compared))
        con.register("incoming", rows.select(cols).append_column("__pos", pa.array(range(rows.num_rows), pa.int64())))
        on = " AND ".join(f'e."{k}" = i."{k}"' for k in c.key)
        same = " AND ".join(f'e."{f}" IS NOT DISTINCT FROM i."{f}"' for f in compared) or "TRUE"
        # the batch's key range again, so row groups outside it are skipped within a file
        bounds, params = [], []
        for k in c.key:
            lo, hi = pc.min(rows[k]).as_py(), pc.max(rows[k]).as_py()
            if lo is not None:
                bounds.append(f'e."{k}" BETWEEN ? AND ?')
                params += [lo, hi]
        where = f"WHERE {' AND '.join(bounds)}" if bounds else ""
        # the keys first, reading only the key columns (mostly none is found: new rows),
        # then the content of the rows found
        keyed = ", ".join(f'e."{k}"' for k in c.key)
        hits = con.sql(f'SELECT count(*) FROM incoming i SEMI JOIN (SELECT {keyed} FROM "{name}" e {where}) e '
                       f'ON {on}', params=params).fetchall()[0][0]
        if not hits:
            return {}
        sql = (f'SELECT i.__pos, bool_and({same}) AS same FROM incoming i '
               f'JOIN (SELECT * FROM "{name}" e {where}) e ON {on} GROUP BY i.__pos')
        found = con.sql(sql, params=params).to_arrow_table()
        return dict(zip(found["__pos"].to_pylist(), found["same"].to_pylist()))
    finally:
        con.close()


def _newest(c: Contract, table: pa.Table, positions: list[int]) -> int:
    """The newest of rows sharing a key in one delivery: the largest version (``version_fields``;
    a null is older than any value), then the later row."""
    fields = version_fields(c)

    def age(pos: int) -> tuple:
        values = [table[f][pos].as_py() for f in fields]
        return (*((v is not None, v) for v in values), pos)
    return max(positions, key=age) if fields else max(positions)


@dataclass
class Assessment:
    """What a batch would do: the rows that would land and the quarantine rows."""
    rows: pa.Table
    quarantine: list[dict]
    report: LandReport
    snapshot_id: int | None = None
    """The dataset's snapshot the rows were checked against."""
    replaces: pa.Table | None = None
    """Keys (the contract's) of landed rows that ``rows`` correct: deleted in the same commit."""


def assess(lake: Lake, batch: Batch[Contract]) -> Assessment:
    """Type, validate and de-duplicate ``batch`` against itself and the lake;
    commit nothing (``cityhub connectors test`` shows this as a dry run)."""
    c = batch.contract
    report = LandReport(dataset=batch.dataset, batch_id=batch.batch_id)
    n = batch.text.num_rows
    report.received = n + len(batch.rejects)
    checked_against = lake.snapshot_id(batch.dataset)

    clock = _Clock(report.seconds)
    staged = stage(c, batch.text)
    clock("stage")
    counties = tuple(lake.decl.city(lake.cfg.city).counties)
    verdict = validate(c, staged.table, counties, lake=lake)
    clock("validate")
    reasons: dict[int, list[str]] = {}
    for src in (batch.row_reasons, staged.reasons, verdict.reasons):
        for pos, rs in src.items():
            reasons.setdefault(pos, []).extend(rs)

    keys = _key_strings(staged.table, c.key) if n else []
    superseding = _versions_in_batch(batch, staged.table, keys, reasons)
    good = [pos for pos in range(n) if pos not in reasons]
    rows = staged.table.take(pa.array(good, pa.int64())) if len(good) < n else staged.table
    in_lake = _lake_versions(lake, c, rows, checked_against)
    replaces: list[int] = []
    if in_lake:
        keep = []
        for i, pos in enumerate(good):
            same = in_lake.get(i)
            if same is None:
                keep.append(pos)
            elif not same:  # a corrected version of a landed key: it replaces the landed row
                keep.append(pos)
                replaces.append(pos)
            else:  # the same fact delivered again (a re-sent event, a snapshot re-observed): idempotent
                report.already_landed += 1
        rows = staged.table.take(pa.array(keep, pa.int64()))
        kept = set(keep)
    else:
        kept = set(good)
    report.corrected = len(set(replaces) | (superseding & kept))
    replaced_keys = staged.table.take(pa.array(replaces, pa.int64())).select(list(c.key)) if replaces else None

    clock("dedupe")
    refused = sorted(reasons)
    regions = (staged.table[c.region_field].take(pa.array(refused, pa.int64())).to_pylist()
               if c.region_field and refused else [None] * len(refused))
    q_rows = [
        {"source": r.source, "record_key": r.record_key, "region": r.region, "reason": r.reason, "raw": r.raw}
        for r in batch.rejects
    ] + [
        {"source": batch.sources[pos], "record_key": keys[pos] or None, "region": region,
         "reason": "; ".join(reasons[pos]), "raw": raw}
        for pos, region, raw in zip(refused, regions, batch.raw_texts(refused))
    ]
    clock("quarantine_rows")
    for q in q_rows:
        for r in q["reason"].split("; "):
            code = r.split(":", 1)[0]
            report.reasons[code] = report.reasons.get(code, 0) + 1
    report.quarantined = len(q_rows)
    return Assessment(rows=rows, quarantine=q_rows, report=report, snapshot_id=checked_against,
                      replaces=replaced_keys)


def _versions_in_batch(batch: Batch[Contract], table: pa.Table, keys: list[str],
                       reasons: dict[int, list[str]]) -> set[int]:
    """One delivery's versions of an item (rows sharing the contract's ``unique_in_batch``):
    the newest stands (``_newest``: the declared version, else the later row) and each other
    goes to quarantine saying which row stands, as an identical repeat (then the first of
    them stands) or as an older version it supersedes. Adds those reasons; returns the rows
    that superseded an older version (corrections)."""
    c, n = batch.contract, table.num_rows
    unique = c.unique_in_batch
    batch_keys = keys if unique == c.key else (_key_strings(table, unique) if n else [])
    first: dict[str, int] = {}
    repeated: dict[str, list[int]] = {}
    for pos, k in enumerate(batch_keys):
        if pos in reasons:
            continue
        if k in first:
            repeated.setdefault(k, [first[k]]).append(pos)
        else:
            first[k] = pos
    compared = [f for f in c.field_names if f not in unique and f not in DELIVERY_FIELDS]
    superseding: set[int] = set()
    label = "+".join(unique)
    # every repeated row's content in one take per column (a take per key was most of a
    # big delivery's de-duplication)
    involved = sorted(pos for members in repeated.values() for pos in members)
    cols = [table[f].take(pa.array(involved, pa.int64())).to_pylist() for f in compared] if involved else []
    contents = {pos: tuple(col[i] for col in cols) for i, pos in enumerate(involved)}
    for k, members in repeated.items():
        content = {pos: contents[pos] for pos in members}
        if len(set(content.values())) == 1:
            stands = members[0]
        else:
            stands = _newest(c, table, members)
            superseding.add(stands)
        for pos in members:
            if pos == stands:
                continue
            why = ("repeats the item at" if content[pos] == content[stands]
                   else "is an older version of the item, superseded by the one at")
            reasons.setdefault(pos, []).append(f"duplicate_key: {label}={k} {why} {batch.sources[stands]}")
    return superseding


def land(lake: Lake, batch: Batch[Contract], attempts: int = 10) -> LandReport:
    """Validate and commit ``batch``; see the module docstring for the guarantees.
    When another writer of the same dataset commits in between, the batch is
    assessed again against what it landed, so two connectors landing the same
    keys at once cannot both add them."""
    for attempt in range(attempts):
        a = assess(lake, batch)
        report = a.report
        clock = _Clock(report.seconds)
        _commit_quarantine(lake, batch, a.quarantine)
        clock("quarantine")
        try:
            write = {"connector": batch.connector, "batch_id": batch.batch_id, "state": batch.state,
                     "retry_conflicts": False, "expect_snapshot": a.snapshot_id}
            commit = (lake.replace(batch.dataset, a.rows, keys=a.replaces, **write) if a.replaces is not None
                      else lake.commit(batch.dataset, a.rows, **write))
            break
        except CommitFailedException:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0.01, 0.2) * (attempt + 1))
    report.landed = commit.rows
    report.snapshot_id = commit.snapshot_id
    clock("commit")
    return report


class _Clock:
    def __init__(self, into: dict[str, float]):
        self.into, self.t = into, time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.into[phase] = self.into.get(phase, 0.0) + now - self.t
        self.t = now


def _commit_quarantine(lake: Lake, batch: Batch[Contract], q_rows: list[dict]) -> None:
    if not q_rows:
        return
    at = now_cst()
    table = pa.Table.from_pylist([
        {"quarantined_at": at, "connector": batch.connector, "dataset": batch.dataset,
         "batch_id": batch.batch_id, **q} for q in q_rows
    ], schema=lake.decl.contract("quarantine").arrow_schema())
    if lake.snapshot_id("quarantine") is not None:
        con, _ = lake.connect(["quarantine"])
        try:
            con.register("incoming", table)
            table = con.sql(
                "SELECT i.* FROM incoming i ANTI JOIN quarantine q ON q.dataset = i.dataset "
                "AND q.source = i.source AND q.reason = i.reason "
                "AND coalesce(q.record_key, '') = coalesce(i.record_key, '') "
                # the same bytes refused again (a replay), not new bytes under an old name
                "AND coalesce(q.raw, '') = coalesce(i.raw, '')").to_arrow_table()
        finally:
            con.close()
    if table.num_rows:
        lake.commit("quarantine", table, connector=batch.connector, batch_id=batch.batch_id)
