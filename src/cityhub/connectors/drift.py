"""Schema drift, judged against the source fields a connector declares (``fields``):
a new field is reported (the row lands), a missing one is reported or refused, and
a value whose type changed (``"signalised": "是"`` where a boolean is declared)
refuses the row with a ``schema_drift`` reason, per the declared policy, never a
crash and never silent."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cityhub.connectors.formats.decoded import text
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
