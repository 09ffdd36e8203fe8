"""Values a spreadsheet spoiled before the department sent them. Excel shows a long number
(an ID or phone number typed into a cell not formatted as text) in scientific notation
and saves it so: ``3.71403E+17`` has lost the digits after the sixth, and no one can get
them back. A date cell that lost its date format is saved as Excel's day count
(``46355.3755``). Such a row is refused with a reason that says what happened, so the
department knows to fix its sheet rather than its data."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cityhub.declarations.contracts import Contract

SCIENTIFIC = r"^\s*[0-9](\.[0-9]+)?[Ee]\+[0-9]{1,3}\s*$"
"""What Excel writes for a number of 12 or more digits: one digit, a fraction, ``E+`` and the exponent."""
SERIAL_DATE = r"^\s*[0-9]{5}(\.[0-9]+)?\s*$"
"""Days since 1899-12-30, with the time of day as the fraction: 10000-99999 is 1927 to 2173."""


def _may_hold(col: pa.ChunkedArray, byte: int) -> bool:
    """Whether a text column's values may hold ``byte``: a glance over its data buffers, far
    cheaper than a regex over each value (a catalogue's eleven text columns cost 35 ms)."""
    for chunk in col.chunks:
        data = chunk.buffers()[2]
        if data is not None and (np.frombuffer(data, np.uint8) == byte).any():
            return True
    return False


def _flag(col: pa.ChunkedArray, pattern: str, needs: int | None = None) -> list[tuple[int, str]]:
    """The positions and values of ``col`` that match ``pattern`` (none where no value
    holds the byte ``needs``, which each match holds)."""
    if not pa.types.is_string(col.type):  # a mapping function's typed column is no spreadsheet's text
        return []
    if needs is not None and not _may_hold(col, needs):
        return []
    hit = pc.fill_null(pc.match_substring_regex(col, pattern), False)
    idx = pc.indices_nonzero(hit)
    return list(zip(idx.to_pylist(), pc.take(col, idx).to_pylist()))


def spoiled(contract: Contract, text: pa.Table) -> dict[int, list[str]]:
    """Row position -> why its text fields hold a spreadsheet's rendering instead of the value."""
    reasons: dict[int, list[str]] = {}
    for f in contract.fields:
        if f.name not in text.column_names:
            continue
        col = text[f.name]
        if f.type == "string":
            for i, v in _flag(col, SCIENTIFIC, needs=ord("+")):
                reasons.setdefault(i, []).append(
                    f"excel_scientific_notation: {f.name} {v.strip()!r} looks like a number Excel converted to "
                    f"scientific notation: the original digits are lost (format the column as text before saving)")
        elif f.type in ("date", "timestamp"):
            for i, v in _flag(col, SERIAL_DATE):
                reasons.setdefault(i, []).append(
                    f"excel_serial_date: {f.name} {v.strip()!r} looks like a date Excel saved as its serial day "
                    f"number (format the column as a date before saving)")
    return reasons
