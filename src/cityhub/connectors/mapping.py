"""From decoded records to the contract's text columns: renaming (``columns``),
value mappings (``values``), constants, the as-of date, and, where a declaration
cannot say it, the mapping function it names (``function``). Citizen ID numbers get
their upper-case check character; values a spreadsheet spoiled are refused with why."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from cityhub.connectors.drift import DriftFindings, check_columns, check_header, check_record_chunks, check_records
from cityhub.connectors.formats.decoded import Decoded, NotColumnar, text
from cityhub.connectors.spreadsheet import spoiled
from cityhub.core.errors import DeclarationError
from cityhub.declarations import Declarations
from cityhub.declarations.connectors import ConnectorSpec
from cityhub.declarations.contracts import CheckRule, Contract


MAPPINGS = "cityhub.connectors.mappings"


@lru_cache(maxsize=None)
def resolve(function: str) -> Callable:
    """The mapping function a declaration names (``module:attr``): one of the hub's own
    mappings (``cityhub.connectors.mappings.*``) or a city's module outside the hub, never
    another part of the hub (which would let a declaration reach across the layers)."""
    module, _, attr = function.partition(":")
    if module.split(".")[0] == "cityhub" and not (module == MAPPINGS or module.startswith(MAPPINGS + ".")):
        raise DeclarationError(f"function {function!r}: a mapping lives in {MAPPINGS} or outside the hub")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise DeclarationError(f"function {function!r} cannot be found: {e}") from None
    if not callable(fn):
        raise DeclarationError(f"function {function!r} is not callable")
    return fn


def unresolved(decl: Declarations) -> dict[str, str]:
    """Declared connectors whose mapping function cannot be found, with why."""
    out = {}
    for name, spec in decl.connectors.items():
        if spec.function:
            try:
                resolve(spec.function)
            except DeclarationError as e:
                out[name] = e.detail
    return out


def renamed(t: pa.Table, spec: ConnectorSpec) -> pa.Table:
    """The declared ``columns`` (contract field <- source field), as text."""
    n = t.num_rows
    return pa.table({f: t[src].cast(pa.string()) if src in t.column_names else pa.nulls(n, pa.string())
                     for f, src in spec.columns.items()})


def to_text(spec: ConnectorSpec, contract: Contract, decoded: Decoded, as_of: date | None,
            observed_at: datetime | None = None) -> tuple[pa.Table, dict[int, list[str]], DriftFindings]:
    """The contract's text columns for every decoded record, with drift findings and the
    rows the drift policy refuses. A contract's ``as_of`` and ``observed_at`` fields take the
    unit's day and delivery time where the mapping gives none."""
    n = len(decoded)
    done = _columnar(spec, contract, decoded) if decoded.typed else None
    out, reasons, drift = done if done is not None else _from_records(spec, contract, decoded)
    for f, mapping in spec.values.items():
        if f in out.column_names:
            out = out.set_column(out.column_names.index(f), f, _mapped(out[f], mapping))
    out = _citizen_ids_upper(contract, out)
    for pos, why in spoiled(contract, out).items():
        reasons.setdefault(pos, []).extend(why)
    for f, value in spec.constants.items():
        out = _put(out, f, pa.array([value] * n, pa.string()))
    for name, value in (("as_of", as_of and as_of.isoformat()), ("observed_at", observed_at and observed_at.isoformat(sep=" "))):
        if value is not None and contract.has(name) and name not in out.column_names:
            out = _put(out, name, pa.array([value] * n, pa.string()))
    if out.num_columns == 0:
        out = pa.table({contract.field_names[0]: pa.nulls(n, pa.string())})
    return out, reasons, drift


def _columnar(spec: ConnectorSpec, contract: Contract, decoded: Decoded):
    """Drift and mapping on a typed Arrow table of records (``Decoded.typed``), by a mapping
    function marked ``formats.decoded.columnar``; None where that cannot be exact (then the
    records become dicts, ``Decoded.untyped``, and take the dict path)."""
    fn = resolve(spec.function) if spec.function else None
    if not getattr(fn, "columnar", False):
        return None
    try:
        drift, reasons = check_columns(spec, decoded.records)
        out = fn(decoded.records, spec)
    except NotColumnar:
        return None
    return out.select([f for f in contract.field_names if f in out.column_names]), reasons, drift


def _from_records(spec: ConnectorSpec, contract: Contract, decoded: Decoded):
    decoded.untyped()
    recs = decoded.records
    if decoded.chunks is not None:  # text streamed from dicts not kept: judged on them again, a chunk at a time
        drift, reasons = check_record_chunks(spec, decoded.chunks())
    elif isinstance(recs, pa.Table):
        spans = decoded.spans or [(recs.column_names, 0, recs.num_rows)]
        drift, reasons = check_header(spec, spans)
    else:
        drift, reasons = check_records(spec, recs)
    if spec.function:
        out = resolve(spec.function)(recs, spec)
        if not isinstance(out, pa.Table):
            out = pa.table({f: pa.array([text(r.get(f)) for r in out], pa.string()) for f in contract.field_names
                            if any(f in r for r in out)}) if out else pa.table({})
    elif isinstance(recs, pa.Table):
        out = renamed(recs, spec)
    else:
        out = pa.table({f: pa.array([text(r.get(src)) for r in recs], pa.string())
                        for f, src in spec.columns.items()})
    return out, reasons, drift


def _mapped(col: pa.ChunkedArray, mapping: dict[str, str]) -> pa.Array:
    """A declared value mapping (a value as sent, stripped, to its code; others as sent),
    decided once per distinct value: a column holds a handful (ON, OFF, 在线 ...)."""
    col = col.cast(pa.string()).combine_chunks()
    distinct = pc.unique(col)
    codes = pa.array([None if v is None else mapping.get(v.strip(), v) for v in distinct.to_pylist()], pa.string())
    return codes.take(pc.index_in(col, value_set=distinct))


def _citizen_ids_upper(contract: Contract, t: pa.Table) -> pa.Table:
    """A citizen ID number's check character X as the standard writes it: people type ``x``."""
    for f in contract.fields:
        if f.name in t.column_names and pa.types.is_string(t[f.name].type) and any(isinstance(r, CheckRule) and r.check == "gb11643" for r in f.rules):
            t = _put(t, f.name, pc.replace_substring_regex(t[f.name], r"^(\s*[0-9]{17})x(\s*)$", r"\1X\2"))
    return t


def _put(t: pa.Table, name: str, col) -> pa.Table:
    if name in t.column_names:
        return t.set_column(t.column_names.index(name), name, col)
    return t.append_column(name, col)
