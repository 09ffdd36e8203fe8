"""The definitions values were computed with, kept in the lake (``indicator_definitions``)
by their hash: evidence re-runs the definition a value names, and ``cityhub check``
refuses a changed definition that kept its version."""
from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from cityhub.core.errors import NotFound
from cityhub.declarations.indicators import Definition
from cityhub.lake import Lake

TABLE = "indicator_definitions"


def stored(lake: Lake) -> dict[str, dict]:
    """Every stored definition's code, version and JSON, by hash."""
    if not lake.exists(TABLE) or lake.snapshot_id(TABLE) is None:  # reading never creates the table
        return {}
    rows = lake.query(f"SELECT definition_hash, code, version, definition FROM {TABLE}", [TABLE]).to_pylist()
    return {r["definition_hash"]: r for r in rows}


def keep(lake: Lake, chosen: list[Definition], at: datetime) -> None:
    """Store the definitions not stored yet (one commit, only when one is new)."""
    have = stored(lake)
    new = {d.hash: d for d in chosen if d.hash not in have}
    if not new:
        return
    rows = [{"definition_hash": h, "code": d.indicator.code, "version": d.indicator.version,
             "name_zh": d.indicator.name_zh, "name_en": d.indicator.name_en,
             "definition": d.model_dump_json(by_alias=True), "first_computed_at": at} for h, d in new.items()]
    lake.commit(TABLE, pa.Table.from_pylist(rows, schema=lake.decl.contract(TABLE).arrow_schema()),
                connector="indicators", batch_id=f"definitions:{','.join(sorted(new))}")


def by_hash(lake: Lake, definition_hash: str) -> Definition:
    """The definition a stored value was computed with."""
    row = stored(lake).get(definition_hash)
    if row is None:
        raise NotFound(f"definition {definition_hash} is not stored: the value was computed before definitions "
                       "were kept, or the lake lost them")
    return Definition.model_validate_json(row["definition"])


def changed_without_new_version(lake: Lake, declared: list[Definition]) -> list[tuple[Definition, int]]:
    """Declared definitions whose (code, version) was computed before with other queries,
    and that version."""
    before: dict[tuple[str, int], set[str]] = {}
    for h, r in stored(lake).items():
        before.setdefault((r["code"], r["version"]), set()).add(h)
    return [(d, d.indicator.version) for d in declared
            if (hashes := before.get((d.indicator.code, d.indicator.version))) and d.hash not in hashes]
