"""Record filters: ``field=value`` (equals), ``field=in:a,b``, ``field=ge:2026-01-01``
(also gt, lt, le, ne) on a contract's filterable fields, typed per field; client
values only ever reach DuckDB as parameters."""
from __future__ import annotations

from dataclasses import dataclass

from cityhub.core.errors import Forbidden, InvalidRequest
from cityhub.declarations.contracts import Contract
from cityhub.declarations.fieldtypes import FIELD_TYPES

OPS = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<=", "in": "IN"}
RESERVED = frozenset({"region", "limit", "cursor", "fields", "order", "sort", "format", "since"})
"""Query parameters of the record routes that are not filters."""
MAX_IN = 1000


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    values: tuple


def typed_value(c: Contract, name: str, raw: str):
    """A client's value in the field's type; ``InvalidRequest`` saying what was expected."""
    t = FIELD_TYPES[c.field(name).type]
    try:
        return t.parse(raw)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"filter {name}: {raw!r} is not {t.expect}") from None


def parse_filters(c: Contract, params: list[tuple[str, str]], unmasked: frozenset[str] = frozenset(),
                  allowed: set[str] | None = None) -> tuple[Filter, ...]:
    """The filters among query ``params``. A masked personal field cannot be filtered on:
    that would reveal values the caller may not see."""
    out = []
    for name, raw in params:
        if name in RESERVED:
            continue
        if not c.has(name):
            raise InvalidRequest(f"unknown parameter {name!r}: not a field of {c.name} or one of "
                                 f"{', '.join(sorted(RESERVED))}")
        f = c.field(name)
        if allowed is not None and name not in allowed:
            raise InvalidRequest(f"field {name} is not open data: it cannot be filtered on")
        if f.personal and name not in unmasked:
            raise Forbidden(f"field {name} is personal data your grant does not name: it cannot be filtered on")
        if not f.filterable:
            able = [x.name for x in c.fields if x.filterable]
            raise InvalidRequest(f"field {name} cannot be filtered on; filterable: {', '.join(able)}")
        op, sep, value = raw.partition(":")
        if op not in OPS or not sep:
            op, value = "eq", raw
        if op == "in":
            items = [v for v in value.split(",") if v != ""]
            if not items or len(items) > MAX_IN:
                raise InvalidRequest(f"filter {name}=in: needs 1 to {MAX_IN} comma-separated values")
            out.append(Filter(name, op, tuple(typed_value(c, name, v) for v in items)))
        else:
            out.append(Filter(name, op, (typed_value(c, name, value),)))
    return tuple(out)
