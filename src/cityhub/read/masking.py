"""Masking personal fields in SQL, per the mask each field declares, so every
output format (JSON, CSV, Arrow, Parquet) is masked alike. A value too short to
keep any of it hidden is masked whole."""
from __future__ import annotations

from collections.abc import Iterable

from cityhub.declarations.contracts import Contract

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
