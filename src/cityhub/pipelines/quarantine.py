"""Operating the quarantine: engineers list and read what the hub refused, fix it (in a
declaration, or in the item itself) and **release** it back through the landing, where it
lands or comes back with its new reason; a declared retention expires old items.

An item is named by a short id derived from what identifies it (batch, source, record
key, reason), so it can be typed on a command line and in a URL. Personal data inside a
raw item is masked for anyone but the department that owns the dataset: the raw item is
what a department sent, before any contract masked it."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pyarrow as pa

from cityhub.connectors import formats
from cityhub.connectors.batches import decoded_batch
from cityhub.connectors.formats.decoded import Decoded
from cityhub.core.errors import InvalidRequest, NotFound
from cityhub.core.payloads import Payload
from cityhub.core.time import now_cst
from cityhub.declarations.contracts import Contract
from cityhub.lake import Lake
from cityhub.pipelines.landing.commit import land
from cityhub.read.masking import mask_personal_text, mask_text

DATASET = "quarantine"
ITEM_ID = ("substr(md5(concat_ws('|', batch_id, source, coalesce(record_key, ''), reason)), 1, 16)")
"""An item's id: stable, and unique however many items share the contract's key."""
COLUMNS = ("quarantined_at", "connector", "dataset", "batch_id", "source", "record_key", "region", "reason", "raw")


@dataclass(frozen=True)
class Item:
    id: str
    quarantined_at: datetime
    connector: str
    dataset: str
    batch_id: str
    source: str
    record_key: str | None
    region: str | None
    reason: str
    raw: str | None

    @property
    def code(self) -> str:
        """The rule or check that refused it (the reason before its first colon)."""
        return self.reason.split(":", 1)[0]


@dataclass
class Released:
    """What a release did: per item, landed or refused again (with the new reason)."""
    landed: list[str] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)
    already_landed: list[str] = field(default_factory=list)


def items(lake: Lake, *, connector: str | None = None, dataset: str | None = None, reason: str | None = None,
          datasets: list[str] | None = None, since: datetime | None = None, limit: int = 100,
          after: str | None = None) -> list[Item]:
    """Items newest first; ``reason`` matches the start of the reason (``rule`` or
    ``rule: text``); ``datasets`` restricts to those (a department's own); ``after`` is
    the last id of the previous page."""
    if lake.snapshot_id(DATASET) is None:
        return []
    where, params = [], []
    for col, val in (("connector", connector), ("dataset", dataset)):
        if val:
            where.append(f"{col} = ?")
            params.append(val)
    if reason:
        where.append("starts_with(reason, ?)")
        params.append(reason)
    if datasets is not None:
        where.append("list_contains(?, dataset)")
        params.append(list(datasets))
    if since:
        where.append("quarantined_at >= ?")
        params.append(since)
    sql = (f"SELECT {ITEM_ID} AS id, {', '.join(COLUMNS)} FROM {DATASET}"
           + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY quarantined_at DESC, id")
    rows = lake.query(sql, [DATASET], params).to_pylist()
    if after:
        ids = [r["id"] for r in rows]
        rows = rows[ids.index(after) + 1:] if after in ids else []
    return [Item(**r) for r in rows[:limit]]


def item(lake: Lake, item_id: str, datasets: list[str] | None = None) -> Item:
    """One item; ``datasets`` restricts to those (another department's item is not found)."""
    return _by_ids(lake, [item_id], datasets)[0]


def _by_ids(lake: Lake, item_ids: list[str], datasets: list[str] | None) -> list[Item]:
    """The items named, in the order named (one query); NotFound naming the first missing."""
    for i in item_ids:
        if not re.fullmatch(r"[0-9a-f]{16}", i or ""):
            raise InvalidRequest(f"{i!r} is no quarantine item id (16 hexadecimal characters)")
    found = {}
    if lake.snapshot_id(DATASET) is not None:
        rows = lake.query(f"SELECT * FROM (SELECT {ITEM_ID} AS id, {', '.join(COLUMNS)} FROM {DATASET}) "
                          "WHERE list_contains(?, id)", [DATASET], [list(item_ids)]).to_pylist()
        found = {r["id"]: Item(**r) for r in rows if datasets is None or r["dataset"] in datasets}
    missing = [i for i in item_ids if i not in found]
    if missing:
        raise NotFound(f"no quarantine item {missing[0]}")
    return [found[i] for i in item_ids]


def masked(it: Item, contract: Contract | None) -> Item:
    """``it`` with the personal data in its raw text masked: values of the contract's
    personal fields (in a raw record, by field name), and citizen ID numbers and mobile
    numbers wherever they are (a raw page or line names no fields)."""
    if it.raw is None:
        return it
    personal = {f.name: f.mask for f in contract.fields if f.personal} if contract is not None else {}
    try:
        doc = json.loads(it.raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        raw = json.dumps({k: _masked_value(v, personal.get(k)) for k, v in doc.items()}, ensure_ascii=False)
    else:
        raw = mask_personal_text(it.raw)
    return Item(**{**it.__dict__, "raw": raw})


def _masked_value(v, mask: str | None):
    if mask is not None and v is not None:
        return mask_text(mask, str(v))
    return mask_personal_text(v) if isinstance(v, str) else v


def release(lake: Lake, item_ids: list[str], *, raw: str | None = None, as_of: date | None = None,
            datasets: list[str] | None = None) -> Released:
    """Send items back through their connector's landing: each lands, or is quarantined
    again with its new reason, and leaves the quarantine under its old one. ``raw``
    replaces the item's raw text (one item: the fixed version); ``as_of`` is the as-of
    day of snapshot datasets (default: the day it was quarantined); ``datasets`` restricts
    to those (another department's item is not found).

    Items that share the quarantine's key (pages of one batch refused for one reason)
    are released together or not at all: the key is what a removal names."""
    if not item_ids:
        raise InvalidRequest("name at least one item to release")
    if raw is not None and len(item_ids) != 1:
        raise InvalidRequest("a fixed raw text replaces one item's: release one item with it")
    chosen = _by_ids(lake, list(dict.fromkeys(item_ids)), datasets)
    _check_whole_keys(lake, chosen)
    out = Released()
    for it in chosen:
        spec = lake.decl.connectors.get(it.connector)
        if spec is None:
            raise NotFound(f"item {it.id} came from connector {it.connector!r}, which is not declared (any more)")
        if it.raw is None and raw is None:
            raise InvalidRequest(f"item {it.id} has no raw text to release; give the fixed one")
        decoded = _decoded(spec, it, raw if raw is not None else it.raw, fixed=raw is not None)
        batch = decoded_batch(spec, lake.decl.contract(spec.dataset), decoded, f"{spec.name}:release:{it.id}",
                              as_of or it.quarantined_at.date())
        report = land(lake, batch)
        if report.landed:
            out.landed.append(it.id)
        elif report.already_landed and not report.quarantined:
            out.already_landed.append(it.id)
        else:
            out.refused[it.id] = sorted(report.reasons)
        key = pa.Table.from_pylist([{"batch_id": it.batch_id, "record_key": it.record_key, "reason": it.reason}],
                                   schema=pa.schema([("batch_id", pa.string()), ("record_key", pa.string()),
                                                     ("reason", pa.string())]))
        lake.delete_keys(DATASET, key, connector=it.connector, batch_id=f"release:{it.id}")
    return out


def _check_whole_keys(lake: Lake, chosen: list[Item]) -> None:
    ids = {i.id for i in chosen}
    rows = lake.query(f"SELECT {ITEM_ID} AS id, batch_id, record_key, reason FROM {DATASET} "
                      "WHERE list_contains(?, batch_id)", [DATASET], [sorted({i.batch_id for i in chosen})]).to_pylist()
    for it in chosen:
        missing = [r["id"] for r in rows if r["id"] not in ids
                   and (r["batch_id"], r["record_key"], r["reason"]) == (it.batch_id, it.record_key, it.reason)]
        if missing:
            raise InvalidRequest(f"item {it.id} shares batch, record key and reason with {', '.join(missing)}: "
                                 "release them together")


def _decoded(spec, it: Item, raw: str, fixed: bool) -> Decoded:
    """The item as its connector's decoder would have given it: a refused record (its
    raw text is the record as decoded, a JSON object), a catalogue ``<Item>``, or a
    whole page or line, decoded again."""
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    # named apart from the original: refused again, it is a new item, not a replay of the old one
    source = f"release:{it.id}:{it.source}"
    if isinstance(doc, dict):
        return Decoded(records=[doc], sources=[source], raw=lambda i: raw, rejects=[])
    if spec.format.kind == "gb28181" and raw.lstrip()[:5].lower() == "<item":
        raw = ('<?xml version="1.0" encoding="UTF-8"?><Response><CmdType>Catalog</CmdType><SN>1</SN>'
               f'<DeviceID>released</DeviceID><SumNum>1</SumNum><DeviceList Num="1">{raw}</DeviceList></Response>')
    # a page in the wrong encoding kept its bytes as latin-1 text (one character per byte)
    data = raw.encode("latin-1") if it.code == "wrong_encoding" and not fixed else raw.encode("utf-8")
    return formats.decode(spec, [Payload(source, data)])


def expire(lake: Lake, older_than_days: int, *, now: datetime | None = None) -> int:
    """Remove items quarantined more than ``older_than_days`` ago (the declared retention,
    ``CITYHUB_QUARANTINE_RETENTION_DAYS``); older snapshots keep them until the lake's own
    snapshot expiry. Returns how many were removed."""
    if older_than_days < 1:
        raise InvalidRequest("the quarantine's retention is at least a day")
    if lake.snapshot_id(DATASET) is None:
        return 0
    cutoff = (now or now_cst()) - timedelta(days=older_than_days)
    keys = lake.query(f"SELECT DISTINCT batch_id, record_key, reason FROM {DATASET} WHERE quarantined_at < ?",
                      [DATASET], [cutoff])
    if keys.num_rows == 0:
        return 0
    return lake.delete_keys(DATASET, keys, connector="quarantine", batch_id=f"expire:{cutoff:%Y%m%dT%H%M%S}").removed
