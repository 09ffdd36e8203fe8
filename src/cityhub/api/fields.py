"""Field types the response models share, declared as the API writes their values.

The lake and the hub database keep times in China Standard Time without a zone, and
the API writes them so (``2026-11-22T08:30:00``, microseconds when there are any):
pydantic's ``datetime`` would declare ``format: date-time``, which claims RFC 3339 with
an offset, so a time is declared as the field-type table declares a ``timestamp``
(``cityhub.declarations.fieldtypes``). A number that may be a whole count or a ratio
keeps an integer an integer (``4``, not ``4.0``) and is declared ``number``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import WithJsonSchema

from cityhub.declarations.fieldtypes import FIELD_TYPES

CstTime = Annotated[datetime, WithJsonSchema(dict(FIELD_TYPES["timestamp"].json_schema))]
"""A time in China Standard Time, written without an offset."""
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
"""A count or a ratio: JSON's number, an integer kept as one."""
