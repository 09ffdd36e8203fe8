"""Data contracts, loaded from the declarations in ``schemas/contracts/``.

A contract says what a dataset's rows look like (fields, types, nullability,
keys, sensitivity, quality rules). The Arrow schema, the Great Expectations suite
(``hub.quality``) and the API's field list are all derived from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pyarrow as pa

from schemas import ROOT, load_yaml

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}

SENSITIVITY = ("public", "internal", "personal")


@dataclass(frozen=True, eq=False)
class Field:
    name: str
    type: str
    nullable: bool = True
    filterable: bool = False
    sensitivity: str = "public"
    description: str = ""
    rules: tuple[dict[str, Any], ...] = ()

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


@dataclass(frozen=True, eq=False)
class Contract:
    name: str
    title: str
    version: int
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    sort_by: tuple[str, ...]
    batch_key: tuple[str, ...] = ()
    """What may appear only once in one delivery (default: the key). An inventory
    keyed by (id, version) still lists each id once per export."""
    region_field: str | None = None
    time_field: str | None = None
    category: str | None = None
    owner: str | None = None
    system: bool = False
    kind: str = "snapshot"
    """``snapshot``: rows are facts as of a date, re-observing one is harmless;
    ``events``: each row is one occurrence, a repeated key is a duplicate delivery."""
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=f.nullable) for f in self.fields])

    def staging_schema(self) -> pa.Schema:
        """The schema of rows before validation: same types, everything nullable."""
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=True) for f in self.fields])

    def conform(self, table: pa.Table) -> pa.Table:
        """Cast ``table`` to the contract's schema (column order, types, nullability)."""
        return table.select(self.field_names).cast(self.arrow_schema())


def _parse(raw: dict[str, Any]) -> Contract:
    fields = []
    for f in raw["fields"]:
        if f["type"] not in ARROW_TYPES:
            raise ValueError(f"contract {raw['name']}: field {f['name']} has unknown type {f['type']!r}")
        sens = f.get("sensitivity", "public")
        if sens not in SENSITIVITY:
            raise ValueError(f"contract {raw['name']}: field {f['name']} has unknown sensitivity {sens!r}")
        fields.append(
            Field(
                name=f["name"],
                type=f["type"],
                nullable=bool(f.get("nullable", True)),
                filterable=bool(f.get("filterable", False)),
                sensitivity=sens,
                description=str(f.get("description", "")),
                rules=tuple(f.get("rules", ())),
            )
        )
    known = {"name", "title", "version", "fields", "key", "sort_by", "region_field", "time_field",
             "category", "owner", "system", "description", "kind", "batch_key"}
    return Contract(
        name=raw["name"],
        title=raw.get("title", raw["name"]),
        version=int(raw["version"]),
        fields=tuple(fields),
        key=tuple(raw.get("key", ())),
        sort_by=tuple(raw.get("sort_by", ())),
        batch_key=tuple(raw.get("batch_key", raw.get("key", ()))),
        region_field=raw.get("region_field"),
        time_field=raw.get("time_field"),
        category=raw.get("category"),
        owner=raw.get("owner"),
        system=bool(raw.get("system", False)),
        kind=raw.get("kind", "snapshot"),
        description=" ".join(str(raw.get("description", "")).split()),
        meta={k: v for k, v in raw.items() if k not in known},
    )


@lru_cache(maxsize=None)
def contracts() -> dict[str, Contract]:
    out = {}
    for path in sorted((ROOT / "contracts").glob("*.yaml")):
        c = _parse(load_yaml(f"contracts/{path.name}"))
        out[c.name] = c
    return out


def contract(name: str) -> Contract:
    try:
        return contracts()[name]
    except KeyError:
        raise KeyError(f"no contract named {name!r} (known: {', '.join(sorted(contracts()))})") from None
