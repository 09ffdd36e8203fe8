"""Check characters of the national identifiers (outside the seeds; see domain.md §6).

- Citizen ID number, GB 11643: 17 digits + ISO 7064 MOD 11-2 check (0-9 or X),
  with a real birth date in positions 7-14.
- Unified social credit code, GB 32100: 17 characters from the 31-character
  alphabet (no I, O, S, V, Z) + a MOD 31 check character.
"""
from __future__ import annotations

import re
from datetime import date

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
