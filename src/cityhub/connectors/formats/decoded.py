"""What a format decodes a unit's payloads into: records (an Arrow table of text
columns, or dicts that keep their JSON types for drift checks), where each came
from, their raw text, and what could not be read at all."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from cityhub.core.payloads import Reject


@dataclass
class Decoded:
    records: pa.Table | list[dict]
    sources: Sequence[str]
    raw: Callable[[int], str]
    rejects: list[Reject] = field(default_factory=list)
    header: list[str] | None = None
    """Field names a tabular payload declared (for drift)."""
    spans: list[tuple[list[str], int, int]] = field(default_factory=list)
    """(header, first row, rows) per tabular payload: files of one unit may differ."""

    def __len__(self) -> int:
        return self.records.num_rows if isinstance(self.records, pa.Table) else len(self.records)

    def record_dicts(self) -> list[dict]:
        return self.records if isinstance(self.records, list) else self.records.to_pylist()


class Lazy(Sequence):
    """A sequence computed on access: sources and raw text are needed only for refused rows."""

    def __init__(self, fn, n: int):
        self.fn, self.n = fn, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.fn(j) for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return self.fn(i % self.n)


def text(v) -> str | None:
    """A source value as the text the contract stages from."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)
