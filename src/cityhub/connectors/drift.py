"""Schema drift, judged against the source fields a connector declares (``fields``):
a new field is reported (the row lands), a missing one is reported or refused, and
a value whose type changed (``"signalised": "是"`` where a boolean is declared)
refuses the row with a ``schema_drift`` reason, per the declared policy, never a
crash and never silent."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from cityhub.connectors.formats.decoded import NotColumnar, text
from cityhub.declarations.connectors import ConnectorSpec

_TYPES = {"string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
          "object": (dict,), "array": (list,)}


@dataclass
class DriftFindings:
    new_fields: Counter = field(default_factory=Counter)
    missing_fields: Counter = field(default_factory=Counter)
    type_changes: Counter = field(default_factory=Counter)
    """'field: declared -> observed' -> rows"""

    def __bool__(self) -> bool:
        return bool(self.new_fields or self.missing_fields or self.type_changes)

    def add(self, other: DriftFindings) -> None:
        self.new_fields.update(other.new_fields)
        self.missing_fields.update(other.missing_fields)
        self.type_changes.update(other.type_changes)

    def as_dict(self) -> dict:
        return {"new_fields": dict(self.new_fields), "missing_fields": dict(self.missing_fields),
                "type_changes": dict(self.type_changes)}


def _kind(v) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    return {str: "string", dict: "object", list: "array"}.get(type(v), type(v).__name__)


def check_records(spec: ConnectorSpec, records: list[dict]) -> tuple[DriftFindings, dict[int, list[str]]]:
    """Drift in dict records: per field, per row."""
    found, reasons = DriftFindings(), {}
    declared = spec.fields
    if not declared:
        return found, reasons
    for i, r in enumerate(records):
        for k in r.keys() - declared.keys():
            found.new_fields[k] += 1
            if spec.drift.new_field == "quarantine":
                reasons.setdefault(i, []).append(f"schema_drift: new field {k!r}")
        for k, typ in declared.items():
            if k not in r:
                found.missing_fields[k] += 1
                if spec.drift.missing_field == "quarantine":
                    reasons.setdefault(i, []).append(f"schema_drift: field {k!r} is missing")
                continue
            v = r[k]
            if v is None or typ == "any":
                continue
            ok = _TYPES.get(typ, (object,))
            if not isinstance(v, ok) or (typ in ("number", "integer") and isinstance(v, bool)):
                found.type_changes[f"{k}: {typ} -> {_kind(v)}"] += 1
                if spec.drift.type_change == "quarantine":
                    reasons.setdefault(i, []).append(
                        f"schema_drift: field {k!r} is {_kind(v)} ({text(v)!r}) where {typ} is declared")
    return found, reasons


_ARROW = {"string": (pa.types.is_string, pa.types.is_timestamp),  # a date-like JSON string reads as a time
          "number": (pa.types.is_integer, pa.types.is_floating), "integer": (pa.types.is_int64,),
          "boolean": (pa.types.is_boolean,), "object": (pa.types.is_struct,), "array": (pa.types.is_list,)}


def check_columns(spec: ConnectorSpec, table: pa.Table) -> tuple[DriftFindings, dict[int, list[str]]]:
    """Drift in a typed Arrow table of records (``Decoded.typed``: an absent key is null),
    as :func:`check_records` finds it in the same records as dicts. A type change (a
    column whose type is not the declared one) or a new field the policy refuses names
    the row and its value: :class:`NotColumnar`, for the dict path to say so."""
    found, reasons = DriftFindings(), {}
    declared, n = spec.fields, table.num_rows
    if not declared or n == 0:
        return found, reasons
    for k in table.column_names:
        if k not in declared and (present := n - table[k].null_count):
            if spec.drift.new_field == "quarantine":
                raise NotColumnar(f"new field {k!r}")
            found.new_fields[k] += present
    for k, typ in declared.items():
        col = table[k] if k in table.column_names else None
        missing = n if col is None else col.null_count
        if col is not None and missing < n and typ in _ARROW and not any(ok(col.type) for ok in _ARROW[typ]):
            raise NotColumnar(f"field {k!r} is {col.type} where {typ} is declared")
        if not missing:
            continue
        found.missing_fields[k] += missing
        if spec.drift.missing_field == "quarantine":
            rows = range(n) if col is None else np.flatnonzero(col.is_null().to_numpy()).tolist()
            for i in rows:
                reasons.setdefault(i, []).append(f"schema_drift: field {k!r} is missing")
    return found, reasons


def check_record_chunks(spec: ConnectorSpec, chunks: Iterable[list[dict]]
                        ) -> tuple[DriftFindings, dict[int, list[str]]]:
    """:func:`check_records` over records given a chunk at a time (rows numbered across
    the chunks), for a decoding that keeps no dict per record (``formats.json.stream``)."""
    found, reasons, rows = DriftFindings(), {}, 0
    if not spec.fields:
        return found, reasons
    for chunk in chunks:
        f, r = check_records(spec, chunk)
        found.add(f)
        reasons.update((rows + i, why) for i, why in r.items())
        rows += len(chunk)
    return found, reasons


def check_header(spec: ConnectorSpec, spans: list[tuple[list[str], int, int]]
                 ) -> tuple[DriftFindings, dict[int, list[str]]]:
    """Drift in tabular payloads' headers (all rows of a payload share it)."""
    found, reasons = DriftFindings(), {}
    if not spec.fields:
        return found, reasons
    for header, start, rows in spans:
        if rows == 0:
            continue
        new, missing = set(header) - spec.fields.keys(), spec.fields.keys() - set(header)
        for k in new:
            found.new_fields[k] += rows
        for k in missing:
            found.missing_fields[k] += rows
        why = []
        if new and spec.drift.new_field == "quarantine":
            why.append(f"schema_drift: new field(s) {sorted(new)}")
        if missing and spec.drift.missing_field == "quarantine":
            why.append(f"schema_drift: missing field(s) {sorted(missing)}")
        for i in range(start, start + rows) if why else ():
            reasons[i] = list(why)
    return found, reasons
