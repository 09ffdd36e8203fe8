"""What flows down the ingest stages: payloads a source fetched, rejects a parser
could not read, and the batch a connector hands to the landing.

A batch carries its contract with it, so no stage below looks it up again by name.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import pyarrow as pa


class Named(Protocol):
    name: str


C = TypeVar("C", bound=Named)
"""The contract type (``cityhub.declarations.contracts.Contract``): the core names no layer above it."""


@dataclass(frozen=True)
class Ahead:
    """A format's parse of a payload, begun as the page arrived: a large GB/T 28181 fetch
    is parsed by worker processes, a FHIR feed read by threads, while later pages are
    fetched; the decoder collects the result."""
    kind: str
    """What the parse gives (``fhir:bundle``, ``gb28181:response``): a decoder takes only its own."""
    future: Future


@dataclass
class Payload:
    """Bytes as a source delivered them (a file, an HTTP page, a SQL chunk)."""
    name: str
    """What to call it in quarantine (file name, URL)."""
    data: bytes
    charset: str | None = None
    """The transport's declared charset, if any (HTTP Content-Type)."""
    parsed: Ahead | None = field(default=None, repr=False, compare=False)
    """A parse of ``data`` begun ahead (None: the decoder parses ``data`` itself)."""
    _sha256: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def sha256(self) -> bytes:
        """The SHA-256 of ``data``, taken once. A fetching thread takes it as the page
        arrives (hashlib lets go of the GIL), so marking a large fetch taken does not hash
        its ~60 MB again once fetching is done."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.data).digest()
        return self._sha256


def ahead_of(payload: Payload, kind: str) -> Future | None:
    """The parse of ``kind`` begun ahead for ``payload``, if one was."""
    a = payload.parsed
    return a.future if a is not None and a.kind == kind else None


@dataclass(frozen=True)
class Reject:
    """An input refused before it became a row (an unreadable page, a bad line)."""
    source: str
    reason: str
    raw: str
    record_key: str | None = None
    region: str | None = None


@dataclass
class Batch(Generic[C]):
    """One unit of a connector's input, as text columns named after the contract's fields."""
    connector: str
    contract: C
    batch_id: str
    text: pa.Table
    """One row per item, string columns named as the contract's fields."""
    sources: Sequence[str]
    """Where each row came from (file:line, URL page:item, topic/partition/offset)."""
    raw: Callable[[int], str]
    """The raw text of row ``i``, produced only for rows that are quarantined."""
    rejects: list[Reject] = field(default_factory=list)
    raws: Callable[[Sequence[int]], list[str]] | None = None
    """The raw text of several rows at once, where the format makes that cheaper than
    ``raw`` row by row (a refused row of a large delivery is one of thousands)."""
    state: dict | None = None
    """Connector state committed atomically with the data (None: unchanged)."""
    row_reasons: dict[int, list[str]] = field(default_factory=dict)
    """Reasons found before validation (e.g. a field whose type drifted)."""

    @property
    def dataset(self) -> str:
        return self.contract.name

    def raw_texts(self, positions: Sequence[int]) -> list[str]:
        """The raw text of each row at ``positions``, in that order."""
        return self.raws(positions) if self.raws is not None else [self.raw(i) for i in positions]
