"""The JSON shapes of a dataset's records and pages, derived from its contract, so that
a client generated from ``/openapi.json`` knows each dataset's fields and types, and
the filters it may send.

A field's schema comes from the one table of field types
(``cityhub.declarations.fieldtypes``); every field is optional in a record (``fields=``
projects), nullable where the contract says so, and a personal field that is not text
may come masked as text. The routes still write their answers with orjson (the page
path's speed): these models describe the answers, the contract tests check them.
"""
from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, create_model

from cityhub.declarations.contracts import Contract, ContractField
from cityhub.declarations.fieldtypes import FIELD_TYPES
from cityhub.read.filters import MAX_IN, OPS, RESERVED


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def field_schema(f: ContractField, masked_as_text: bool = True) -> dict:
    """A field's value as the API serves it."""
    s = dict(FIELD_TYPES[f.type].json_schema)
    if f.personal and masked_as_text and s.get("type") != "string":
        s = {"anyOf": [s, {"type": "string", "description": "masked"}]}
    if f.nullable:
        s = {"anyOf": [*(s.get("anyOf") or [s]), {"type": "null"}]}
    text = f.description or ""
    if f.personal:
        text = f"{text} (personal: masked as {f.mask} unless a grant names it)".strip()
    if text:
        s["description"] = text
    return s


def _model(name: str, fields: dict[str, dict], doc: str, required: bool = False) -> type[BaseModel]:
    spec = {}
    for fname, schema in fields.items():
        typ = Annotated[Any, WithJsonSchema(schema)]
        spec[fname] = (typ, ...) if required else (typ, None)
    return create_model(name, __doc__=doc, **spec)


class PageBase(BaseModel):
    region: str = Field(description="the city or county code the page is scoped to")
    snapshot_id: int | None = Field(description="the lake snapshot the pages are pinned to (none: no rows yet)")
    count: int = Field(description="rows in `records`")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
    has_more: bool


class ChangesBase(PageBase):
    next_cursor: str | None = Field(description="while `has_more`, pass as `since` at once; when done, keep it as "
                                                "the next `since`")
    key: list[str] = Field(description="the fields upserts and tombstones are applied on")
    since_snapshot_id: int | None = Field(description="the snapshot the changes are counted from (none: a full copy)")
    files: int = Field(description="data files added since then")
    files_removed: int = Field(description="data files removed since then (corrections, removals, compactions)")


@functools.cache
def models(c: Contract) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    """The dataset's record, page and change-set models."""
    stem = _camel(c.name)
    record = _model(f"{stem}Record", {f.name: field_schema(f) for f in c.fields},
                    f"A row of {c.name} ({c.title}); fields left out by `fields=` are absent.")
    key = _model(f"{stem}Key", {n: field_schema(c.field(n)) for n in c.key},
                 f"The key of a row of {c.name} that was removed from the caller's view (a tombstone).",
                 required=True)
    page = create_model(f"{stem}Page", __base__=PageBase, __doc__=f"A page of {c.name} records.",
                        dataset=(Literal[c.name], ...), records=(list[record], ...))
    changes = create_model(f"{stem}Changes", __base__=ChangesBase,
                           __doc__=f"Changes of {c.name}: upserts in `records`, tombstones in `deleted`.",
                           dataset=(Literal[c.name], ...), records=(list[record], ...),
                           deleted=(list[key], ...))
    return record, page, changes


def open_models(c: Contract, public: list[str]) -> type[BaseModel]:
    """The open-data page model: public fields only."""
    stem = _camel(c.name)
    record = _model(f"Open{stem}Record", {f.name: field_schema(f, False) for f in c.fields if f.name in public},
                    f"A row of open data of {c.name}: public fields only.")
    return create_model(f"Open{stem}Page", __base__=PageBase, __doc__=f"A page of open {c.name} records.",
                        dataset=(Literal[c.name], ...), records=(list[record], ...))


def _filter_pattern(f: ContractField) -> str | None:
    """What a filter value of the field looks like: ``value``, ``op:value`` or
    ``in:a,b``; typed for numbers, dates and booleans (text matches anything)."""
    value = {"int32": r"-?\d+", "int64": r"-?\d+", "float64": r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?",
             "bool": r"(?i:true|false)", "date": r"\d{4}-\d{2}-\d{2}"}.get(f.type)
    if value is None:
        return None
    ops = "|".join(o for o in OPS if o != "in")
    return rf"^((({ops}):)?{value}|in:{value}(,{value})*)$"


def filter_parameters(c: Contract, allowed: set[str] | None = None) -> list[dict]:
    """The contract's filterable fields as OpenAPI query parameters (repeatable: each
    occurrence is one condition, all must hold). The routes parse them from the query
    themselves (``cityhub.read.filters``)."""
    out = []
    for f in c.fields:
        if not f.filterable or f.name in RESERVED or (allowed is not None and f.name not in allowed):
            continue
        t = FIELD_TYPES[f.type]
        item: dict = {"type": "string", "maxLength": 8000}
        pattern = _filter_pattern(f)
        if pattern:
            item["pattern"] = pattern
        text = (f"Filter on {f.name} ({f.description or f.type}): `value` (equals) or `op:value` with op one of "
                f"{', '.join(o for o in OPS if o != 'in')}, or `in:a,b` (1 to {MAX_IN} values); the value is "
                f"{t.expect}. Repeat the parameter for several conditions (all must hold).")
        if f.personal:
            text += " Personal: filtering on it needs a grant that names it (else 403)."
        out.append({"name": f.name, "in": "query", "required": False, "description": text, "style": "form",
                    "explode": True, "schema": {"type": "array", "items": item}})
    return out
