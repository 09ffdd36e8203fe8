"""The one table of declared field types: what each is in Arrow, in SQL (DuckDB),
in the API's JSON schema, and how a client's text becomes a value of it.

Contracts, the catalogue, staging, the lake's empty views, filters and cursors all
read this table; nothing else lists the types.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import pyarrow as pa

from cityhub.core.time import to_cst

FieldTypeName = Literal["string", "int32", "int64", "float64", "bool", "date", "timestamp"]


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(text)
    return text.lower() == "true"


@dataclass(frozen=True)
class FieldType:
    name: str
    arrow: pa.DataType
    sql: str
    """DuckDB type."""
    json_schema: dict
    """The JSON shape the API serves values in."""
    expect: str
    """What a client's filter or cursor value must look like, for error messages."""
    parse: Callable[[str], Any]
    """A client's text as a Python value of this type; ValueError when it is not one."""


FIELD_TYPES: dict[str, FieldType] = {t.name: t for t in (
    FieldType("string", pa.string(), "VARCHAR", {"type": "string"}, "text", str),
    FieldType("int32", pa.int32(), "INTEGER", {"type": "integer", "format": "int32"}, "an integer", int),
    FieldType("int64", pa.int64(), "BIGINT", {"type": "integer", "format": "int64"}, "an integer", int),
    FieldType("float64", pa.float64(), "DOUBLE", {"type": "number", "format": "double"}, "a number", float),
    FieldType("bool", pa.bool_(), "BOOLEAN", {"type": "boolean"}, "true or false", _bool),
    FieldType("date", pa.date32(), "DATE", {"type": "string", "format": "date"}, "a date YYYY-MM-DD",
              date.fromisoformat),
    # the lake keeps China Standard Time without a zone: an offset is converted, naive text is CST
    FieldType("timestamp", pa.timestamp("us"), "TIMESTAMP",
              {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$",
               "description": "China Standard Time (UTC+8), written without an offset"},
              "a time YYYY-MM-DDTHH:MM:SS (China Standard Time)", lambda s: to_cst(datetime.fromisoformat(s))),
)}

Sensitivity = Literal["public", "internal", "personal"]

MaskKind = Literal["id_number", "name", "phone", "whole"]
"""How a personal field is masked when the caller's grant does not name it: an ID
number keeps its first and last four characters, a name its first character, a
phone number its first three and last four digits; ``whole`` hides the value."""


def check_mask(field: str, sensitivity: str, mask: str | None) -> None:
    """A personal field declares its mask, and only a personal field does (ValueError)."""
    if sensitivity == "personal" and mask is None:
        raise ValueError(f"field {field} is personal: declare how it is masked (mask: id_number, name, phone or whole)")
    if sensitivity != "personal" and mask is not None:
        raise ValueError(f"field {field} is {sensitivity}: only personal fields are masked")
