"""What a format decodes a unit's payloads into: records (an Arrow table of text
columns, or dicts that keep their JSON types for drift checks), where each came
from, their raw text, and what could not be read at all."""
from __future__ import annotations

import json
from bisect import bisect_right
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
    raws: Callable[[Sequence[int]], list[str]] | None = None
    """``raw`` for several rows at once, where that is cheaper (``Batch.raws``)."""
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
        self.records, self.sources, self.raw, self.raws, self.redecode = d.records, d.sources, d.raw, d.raws, None


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


class Parts:
    """Rows of several parts (files, chunks of a file, pages) laid end to end: which
    part holds row ``i``, and its source and raw text, made when asked from the part.
    A part's source is ``<name><sep><number>``, the row's line or item number in its
    payload (``file.csv:12``, ``page#3``), or what a :class:`Decoded` of its own says."""

    def __init__(self, sep: str):
        self.sep = sep
        self.starts = [0]
        """Where each part's rows begin, and past the last part's end."""
        self._source: list[Callable[[int], str]] = []
        self._raw: list[Callable[[int], str] | None] = []

    def __len__(self) -> int:
        return self.starts[-1]

    def add(self, rows: int, name: str, numbers: Sequence[int] | None = None, offset: int = 0,
            raw: Callable[[int], str] | None = None) -> None:
        """A part of ``rows`` rows from the payload ``name``: its row ``j`` is number
        ``numbers[j] + offset`` there (None: number ``j + 1``), its raw text ``raw(j)``."""
        sep = self.sep
        if numbers is None:
            self._source.append(lambda j: f"{name}{sep}{j + 1}")
        else:
            self._source.append(lambda j: f"{name}{sep}{numbers[j] + offset}")
        self._raw.append(raw)
        self.starts.append(self.starts[-1] + rows)

    def add_decoded(self, d: Decoded) -> None:
        """A part whose rows are ``d``'s, with its sources and raw text."""
        self._source.append(d.sources.__getitem__)
        self._raw.append(d.raw)
        self.starts.append(self.starts[-1] + len(d))

    def where(self, i: int) -> tuple[int, int]:
        """(the part holding row ``i``, the row's index in it); an empty part holds none."""
        k = bisect_right(self.starts, i) - 1
        return k, i - self.starts[k]

    def source(self, i: int) -> str:
        k, j = self.where(i)
        return self._source[k](j)

    def raw(self, i: int) -> str:
        k, j = self.where(i)
        return self._raw[k](j)

    @property
    def sources(self) -> Lazy:
        return Lazy(self.source, len(self))


def text(v) -> str | None:
    """A source value as the text the contract stages from."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)
