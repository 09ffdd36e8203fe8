"""Check characters of the national identifiers (outside the seeds; see domain.md §6).

- Citizen ID number, GB 11643: 17 digits + ISO 7064 MOD 11-2 check (0-9 or X),
  with a real birth date in positions 7-14.
- Unified social credit code, GB 32100: 17 characters from the 31-character
  alphabet (no I, O, S, V, Z) + a MOD 31 check character.
"""
from __future__ import annotations

import re
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(rf"^[{USCC_ALPHABET}]{{18}}$")


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def valid_citizen_id(value: str | None) -> bool | None:
    """GB 11643: format, birth date and check character (None for no value)."""
    if value is None:
        return None
    v = value.strip().upper()
    if not _ID_RE.match(v):
        return False
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > date.today():
        return False
    return id_check_char(v[:17]) == v[17]


def uscc_check_char(first17: str) -> str:
    c = 31 - sum(_USCC_VALUE[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS)) % 31
    return USCC_ALPHABET[0 if c == 31 else c]


def valid_uscc(value: str | None) -> bool | None:
    """GB 32100: alphabet, length and check character (None for no value)."""
    if value is None:
        return None
    v = value.strip().upper()
    if not _USCC_RE.match(v):
        return False
    return uscc_check_char(v[:17]) == v[17]


CHECKS = {"gb11643": valid_citizen_id, "gb32100": valid_uscc}


# -- whole columns (the hot path of validation) -----------------------------------------


def check_column(kind: str, values) -> pa.Array:
    """``CHECKS[kind]`` over an Arrow string column, vectorised: format by regex,
    check character by numpy over the fixed-width codes; null stays null."""
    col = pc.utf8_upper(pc.utf8_trim_whitespace(values))
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    n = len(col)
    pattern = _ID_RE.pattern if kind == "gb11643" else _USCC_RE.pattern
    ok = pc.fill_null(pc.match_substring_regex(col, pattern), False).to_numpy(zero_copy_only=False)
    result = np.zeros(n, dtype=bool)
    idx = np.nonzero(ok)[0]
    if len(idx):
        good = pc.take(col, pa.array(idx)).cast(pa.binary())
        raw = np.frombuffer(good.buffers()[2], dtype=np.uint8,
                            count=len(idx) * 18, offset=good.offset * 18 if good.offset else 0).reshape(-1, 18)
        if kind == "gb11643":
            digits = raw[:, :17].astype(np.int64) - ord("0")
            expected = np.frombuffer(_ID_CHECK.encode(), dtype=np.uint8)[
                (digits * np.array(_ID_WEIGHTS)).sum(axis=1) % 11]
            good_check = expected == raw[:, 17]
            text = pc.utf8_slice_codeunits(pc.take(col, pa.array(idx)), 6, 14)
            born = pc.strptime(text, format="%Y%m%d", unit="s", error_is_null=True)
            lo = pa.scalar(date(1900, 1, 1), pa.date32()).cast(pa.timestamp("s"))
            hi = pa.scalar(date.today(), pa.date32()).cast(pa.timestamp("s"))
            # strptime rolls 0230 over to 0302: a real date formats back to the same text
            real = pc.equal(pc.strftime(born, format="%Y%m%d"), text)
            born_ok = pc.fill_null(pc.and_(real, pc.and_(pc.greater_equal(born, lo), pc.less_equal(born, hi))),
                                   False).to_numpy(zero_copy_only=False)
            result[idx] = good_check & born_ok
        else:
            lut = np.full(256, -1, dtype=np.int64)
            for ch, v in _USCC_VALUE.items():
                lut[ord(ch)] = v
            vals = lut[raw[:, :17]]
            c = 31 - (vals * np.array(_USCC_WEIGHTS)).sum(axis=1) % 31
            c[c == 31] = 0
            alphabet = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
            result[idx] = alphabet[c] == raw[:, 17]
    return pa.array(result, mask=pc.is_null(col).to_numpy(zero_copy_only=False))
