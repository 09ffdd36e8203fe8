"""Connector declarations, loaded from ``schemas/connectors/*.yaml``.

A connector is data: where its feed comes from (file drop, HTTP with paging and
an incremental cursor, Kafka, a SQL database), what format and encoding it is
in, which contract it lands into, how source fields map to contract fields, the
source fields it expects (for schema-drift detection and its policy), its
schedule and its freshness target. Code is needed only for a mapping the
declaration cannot say (``function``), e.g. flattening FHIR resources.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from hub.contracts import contract
from schemas import ROOT, load_yaml

SOURCE_KINDS = ("file_drop", "http", "kafka", "sql")
FORMAT_KINDS = ("csv", "json", "jsonl", "fhir", "gb28181")
DRIFT_POLICIES = ("report", "quarantine")
AS_OF = ("file_day", "run_day", "none")


class SpecError(ValueError):
    pass


@dataclass(frozen=True, eq=False)
class Source:
    kind: str
    options: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass(frozen=True, eq=False)
class Format:
    kind: str
    encoding: str = "utf-8"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Drift:
    new_field: str = "report"
    """A field the source added: land the row, report the field."""
    missing_field: str = "report"
    """A declared field absent from a record: land what is there (the contract decides), report it."""
    type_change: str = "quarantine"
    """A field whose type changed: quarantine the row with the reason."""


@dataclass(frozen=True, eq=False)
class ConnectorSpec:
    name: str
    title: str
    dataset: str
    source: Source
    format: Format
    columns: dict[str, str]
    """contract field <- source field"""
    values: dict[str, dict[str, str]]
    """contract field -> {source value: contract value}"""
    fields: dict[str, str]
    """source field -> expected type (string, number, boolean, object, array)"""
    drift: Drift
    schedule: str
    freshness_hours: float
    as_of: str = "none"
    function: str | None = None
    constants: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def mapper(self) -> Callable | None:
        """The mapping function named by ``function`` (``module:attr``), if any."""
        if not self.function:
            return None
        module, _, attr = self.function.partition(":")
        return getattr(importlib.import_module(module), attr)


def _parse(raw: dict[str, Any], where: str) -> ConnectorSpec:
    try:
        src = dict(raw["source"])
        fmt = dict(raw.get("format", {}))
        spec = ConnectorSpec(
            name=raw["name"], title=raw.get("title", raw["name"]), dataset=raw["dataset"],
            source=Source(kind=src.pop("kind"), options=src),
            format=Format(kind=fmt.pop("kind"), encoding=fmt.pop("encoding", "utf-8"), options=fmt),
            columns={str(k): str(v) for k, v in (raw.get("columns") or {}).items()},
            values={str(k): {str(a): str(b) for a, b in v.items()} for k, v in (raw.get("values") or {}).items()},
            fields={str(k): str(v) for k, v in (raw.get("fields") or {}).items()},
            drift=Drift(**(raw.get("drift") or {})),
            schedule=str(raw.get("schedule", "@daily")),
            freshness_hours=float(raw.get("freshness_hours", 24)),
            as_of=raw.get("as_of", "none"),
            function=raw.get("function"),
            constants={str(k): str(v) for k, v in (raw.get("constants") or {}).items()},
            description=" ".join(str(raw.get("description", "")).split()),
        )
    except (KeyError, TypeError) as e:
        raise SpecError(f"{where}: connector declaration is missing or has a bad {e}") from None
    problems = []
    if spec.source.kind not in SOURCE_KINDS:
        problems.append(f"source.kind {spec.source.kind!r} is not one of {', '.join(SOURCE_KINDS)}")
    if spec.format.kind not in FORMAT_KINDS:
        problems.append(f"format.kind {spec.format.kind!r} is not one of {', '.join(FORMAT_KINDS)}")
    if spec.as_of not in AS_OF:
        problems.append(f"as_of {spec.as_of!r} is not one of {', '.join(AS_OF)}")
    for name, policy in vars(spec.drift).items():
        if policy not in DRIFT_POLICIES:
            problems.append(f"drift.{name} {policy!r} is not one of {', '.join(DRIFT_POLICIES)}")
    try:
        c = contract(spec.dataset)
        unknown = [f for f in list(spec.columns) + list(spec.values) + list(spec.constants) if f not in c.field_names]
        if unknown:
            problems.append(f"columns/values name fields {unknown} that contract {spec.dataset} does not have")
    except KeyError as e:
        problems.append(str(e))
    if problems:
        raise SpecError(f"{where}: " + "; ".join(problems))
    return spec


@lru_cache(maxsize=None)
def registry() -> dict[str, ConnectorSpec]:
    """Every declared connector, by name."""
    out = {}
    for path in sorted((ROOT / "connectors").glob("*.yaml")):
        spec = _parse(load_yaml(f"connectors/{path.name}"), f"schemas/connectors/{path.name}")
        if spec.name in out:
            raise SpecError(f"two connectors are named {spec.name!r}")
        out[spec.name] = spec
    return out


def connector(name: str) -> ConnectorSpec:
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"no connector {name!r} (declared: {', '.join(registry())})") from None
