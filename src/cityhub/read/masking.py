"""Masking personal fields in SQL, per the mask each field declares, so every
output format (JSON, CSV, Arrow, Parquet) is masked alike. A value too short to
keep any of it hidden is masked whole. The same masks in Python keep personal
values out of the audit log's record of what was asked (``logged_filters``)."""
from __future__ import annotations

import re
from collections.abc import Iterable

from cityhub.core.identifiers import valid_citizen_id
from cityhub.declarations.contracts import Contract
from cityhub.read.filters import OPS, RESERVED

MASKS = {
    "id_number": "CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) < 15 THEN '***' "
                 "ELSE left({c}, 4) || repeat('*', length({c}) - 8) || right({c}, 4) END",
    "name": "CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) < 2 THEN '*' "
            "ELSE left({c}, 1) || repeat('*', length({c}) - 1) END",
    "phone": "CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) < 11 THEN '***' "
             "ELSE left({c}, 3) || '****' || right({c}, 4) END",
    "whole": "CASE WHEN {c} IS NULL THEN NULL ELSE '***' END",
}
"""SQL per declared mask kind (``cityhub.declarations.fieldtypes.MaskKind``)."""


def mask_expr(c: Contract, name: str) -> str:
    f = c.field(name)
    col = f'"{name}"'
    if not f.personal:
        return col
    return f"{MASKS[f.mask].format(c=col)} AS {col}"


def select_list(c: Contract, cols: Iterable[str], unmasked: frozenset[str]) -> str:
    """The projected columns, personal ones masked unless the caller's grant names them."""
    return ", ".join(mask_expr(c, f) if f not in unmasked else f'"{f}"' for f in cols)


# -- the same masks in Python, for what is not a row: the filters the audit log keeps -----------

def mask_text(kind: str, value: str) -> str:
    """``value`` masked as ``MASKS[kind]`` masks it in SQL."""
    n = len(value)
    if kind == "id_number":
        return "***" if n < 15 else value[:4] + "*" * (n - 8) + value[-4:]
    if kind == "name":
        return "*" if n < 2 else value[0] + "*" * (n - 1)
    if kind == "phone":
        return "***" if n < 11 else value[:3] + "****" + value[-4:]
    return "***"


_CITIZEN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
MAX_LOGGED_PARAMS, MAX_LOGGED_VALUE = 50, 200


_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def mask_ids(text: str, valid_only: bool = True) -> str:
    """Every citizen ID number (GB 11643, check character and birth date valid) inside
    ``text`` masked as an ``id_number`` field is: whatever field it was typed into.
    ``valid_only=False``: every number of an ID's shape (text a department sent may hold
    a person's number with a wrong check character)."""
    if len(text) < 18:
        return text
    return _CITIZEN_ID.sub(lambda m: mask_text("id_number", m[0]) if not valid_only or valid_citizen_id(m[0])
                           else m[0], text)


def mask_personal_text(text: str) -> str:
    """Free text that names no fields (a raw item as received): every number of a citizen
    ID's shape and every mobile number masked as those fields are."""
    return _MOBILE.sub(lambda m: mask_text("phone", m[0]), mask_ids(text, valid_only=False))


def logged_value(c: Contract | None, name: str, raw: str) -> str:
    """A query parameter's value as the audit log keeps it: a personal field's value
    (``field=v``, ``field=ge:v``, ``field=in:a,b``) masked by the field's declared mask;
    a parameter that is no field of the dataset (nor one of the routes' own) masked
    whole, as nothing says what it holds; and any citizen ID number in any value masked."""
    f = c.field(name) if c is not None and c.has(name) else None
    if f is not None and f.personal:
        op, sep, rest = raw.partition(":")
        if sep and op in OPS:
            return f"{op}:" + ",".join(mask_text(f.mask, v) for v in (rest.split(",") if op == "in" else [rest]))
        return mask_text(f.mask, raw)
    if f is None and c is not None and name not in RESERVED:
        return mask_text("whole", raw)
    return mask_ids(raw)


def logged_filters(c: Contract | None, filters: dict) -> dict:
    """An audit entry's ``filters`` with personal values masked (see ``logged_value``):
    ``query``, the (name, value) pairs of a refused request, and ``where``, the filters
    of a served one ([field, op, values]), by the fields of ``c``, the dataset read;
    every other value by its citizen ID numbers."""
    out = {}
    for k, v in filters.items():
        if k == "query" and isinstance(v, (list, tuple)):
            out[k] = [[str(n)[:MAX_LOGGED_VALUE], logged_value(c, str(n), str(x))[:MAX_LOGGED_VALUE]]
                      for n, x in list(v)[:MAX_LOGGED_PARAMS]]
        elif k == "where" and isinstance(v, (list, tuple)):
            out[k] = [_logged_where(c, w) for w in v]
        else:
            out[k] = _scrubbed(v)
    return out


def _logged_where(c: Contract | None, w):
    if not (isinstance(w, (list, tuple)) and len(w) == 3 and isinstance(w[2], (list, tuple))):
        return _scrubbed(w)
    name, op, values = w
    f = c.field(name) if c is not None and isinstance(name, str) and c.has(name) else None
    if f is not None and f.personal:
        return [name, op, [mask_text(f.mask, str(v)) for v in values]]
    return [name, op, [mask_ids(str(v)) for v in values]]


def _scrubbed(v):
    if isinstance(v, str):
        return mask_ids(v)
    if isinstance(v, dict):
        return {k: _scrubbed(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_scrubbed(x) for x in v]
    return v
