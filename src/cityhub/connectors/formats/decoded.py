"""What a format decodes a unit's payloads into: records (an Arrow table of text
columns, or dicts that keep their JSON types for drift checks), where each came
from, their raw text, and what could not be read at all."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
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
    redecode: Callable[[], Decoded] | None = None
    """For a typed decoding (:attr:`typed`): the same payloads decoded to dicts."""
    chunks: Callable[[], Iterator[list[dict]]] | None = None
    """The records as dicts again, a chunk at a time, in row order: for the drift check,
    where ``records`` is a table of text streamed without keeping a dict per record
    (``formats.json.stream``)."""

    @property
    def typed(self) -> bool:
        """``records`` is an Arrow table of the records' JSON values (structs, lists, typed
        scalars; an absent key is null), not text columns: drift and a ``columnar`` mapping
        read it as it is; anything else asks for dicts (:meth:`untyped`)."""
        return self.redecode is not None

    def __len__(self) -> int:
        return self.records.num_rows if isinstance(self.records, pa.Table) else len(self.records)

    def record_dicts(self) -> list[dict]:
        if self.typed:
            self.untyped()
        return self.records if isinstance(self.records, list) else self.records.to_pylist()

    def untyped(self) -> None:
        """Become the dict decoding of the same payloads (records, sources, raw text):
        for what cannot be done columnar exactly. Rejects stay (they are the same)."""
        if not self.typed:
            return
        d = self.redecode()
        self.records, self.sources, self.raw, self.redecode = d.records, d.sources, d.raw, None


class NotColumnar(Exception):
    """A columnar step (drift, a mapping) cannot give exactly what the dict path gives
    for these records: the caller goes the dict path (``Decoded.untyped``)."""


def columnar(fn: Callable) -> Callable:
    """Marks a mapping function that takes a typed Arrow table of records as well as
    dicts (and returns a table for it, or raises :class:`NotColumnar`)."""
    fn.columnar = True
    return fn


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
