"""Landing a batch: type it, validate it, split it, commit it — losing nothing.

Every connector ends here. A batch's rows either land in their dataset or go to
the quarantine table with every reason that applies and the raw item; items the
parser could not even read (a truncated page, a wrong encoding) arrive as
``Reject``s and are quarantined whole. The quarantine commit comes first and the
data commit carries the connector's new state (files taken, offsets), so a crash
between the two replays the batch, and the replay adds nothing twice: quarantine
rows are de-duplicated by (source, key, reason), data rows by the contract key.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import CommitFailedException

from cityhub.core.payloads import Batch
from cityhub.core.time import now_cst
from cityhub.declarations.contracts import Contract
from cityhub.lake import Lake
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
    snapshot_id: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    """Time per phase (stage, validate, dedupe, quarantine, commit), for tuning."""

    def add(self, other: "LandReport") -> None:
        self.received += other.received
        self.landed += other.landed
        self.quarantined += other.quarantined
        self.already_landed += other.already_landed
        self.snapshot_id = other.snapshot_id or self.snapshot_id
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v
        for k, v in other.seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v


def _key_strings(t: pa.Table, key: tuple[str, ...]) -> list[str]:
    cols = [pc.cast(t[k], pa.string()).fill_null("") for k in key]
    joined = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "|")
    return joined.to_pylist()


def _existing_keys(lake: Lake, c: Contract, rows: pa.Table, snapshot_id: int | None) -> set[str]:
    """Keys of ``rows`` already in the lake at ``snapshot_id``, looked up in the batch's time slice."""
    name = c.name
    if rows.num_rows == 0 or snapshot_id is None:
        return set()
    con, _ = lake.connect([name], {name: snapshot_id})
    try:
        con.register("incoming", rows.select(list(c.key) + ([c.time_field] if c.time_field else [])))
        on = " AND ".join(f'e."{k}" = i."{k}"' for k in c.key)
        where = ""
        if c.time_field:
            tf = c.time_field
            lo, hi = pc.min(rows[tf]).as_py(), pc.max(rows[tf]).as_py()
            if lo is not None:
                where = f'WHERE e."{tf}" BETWEEN ? AND ?'
        sql = (f'SELECT DISTINCT {", ".join(f"i.{k}" for k in c.key)} FROM incoming i '
               f'JOIN (SELECT * FROM "{name}" e {where}) e ON {on}')
        params = [lo, hi] if where else None
        found = con.sql(sql, params=params).to_arrow_table()
        return set(_key_strings(found, c.key)) if found.num_rows else set()
    finally:
        con.close()


@dataclass
class Assessment:
    """What a batch would do: the rows that would land and the quarantine rows."""
    rows: pa.Table
    quarantine: list[dict]
    report: LandReport
    snapshot_id: int | None = None
    """The dataset's snapshot the rows were checked against."""


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

    # duplicates inside the batch: the first occurrence stands, later ones are refused
    keys = _key_strings(staged.table, c.key) if n else []
    unique = c.unique_in_batch
    batch_keys = keys if unique == c.key else (_key_strings(staged.table, unique) if n else [])
    first_seen: dict[str, int] = {}
    for pos, k in enumerate(batch_keys):
        if pos in reasons:
            continue
        if k in first_seen:
            reasons.setdefault(pos, []).append(
                f"duplicate_key: {'+'.join(unique)}={k} repeats the item at {batch.sources[first_seen[k]]}")
        else:
            first_seen[k] = pos

    good = [pos for pos in range(n) if pos not in reasons]
    rows = staged.table.take(pa.array(good, pa.int64())) if len(good) < n else staged.table
    existing = _existing_keys(lake, c, rows, checked_against)
    if existing:
        keep = []
        for pos in good:
            if keys[pos] not in existing:
                keep.append(pos)
            elif c.kind == "events":
                reasons.setdefault(pos, []).append(
                    f"duplicate_key: {'+'.join(c.key)}={keys[pos]} was already landed")
            else:  # the same fact observed again (snapshot sources): idempotent, not an error
                report.already_landed += 1
        rows = staged.table.take(pa.array(keep, pa.int64()))

    clock("dedupe")
    region_of = staged.table[c.region_field].to_pylist() if c.region_field and n else [None] * n
    q_rows = [
        {"source": r.source, "record_key": r.record_key, "region": r.region, "reason": r.reason, "raw": r.raw}
        for r in batch.rejects
    ] + [
        {"source": batch.sources[pos], "record_key": keys[pos] or None, "region": region_of[pos],
         "reason": "; ".join(rs), "raw": batch.raw(pos)}
        for pos, rs in sorted(reasons.items())
    ]
    for q in q_rows:
        for r in q["reason"].split("; "):
            code = r.split(":", 1)[0]
            report.reasons[code] = report.reasons.get(code, 0) + 1
    report.quarantined = len(q_rows)
    return Assessment(rows=rows, quarantine=q_rows, report=report, snapshot_id=checked_against)


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
            commit = lake.commit(batch.dataset, a.rows, connector=batch.connector, batch_id=batch.batch_id,
                                 state=batch.state, retry_conflicts=False, expect_snapshot=a.snapshot_id)
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
