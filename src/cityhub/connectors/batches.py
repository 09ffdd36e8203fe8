"""A unit's payloads as the batch the landing takes: decoded, drift-checked, mapped
to the contract's text columns, with the state that marks the unit taken."""
from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa

from cityhub.connectors import formats
from cityhub.connectors.drift import DriftFindings
from cityhub.connectors.formats.decoded import Decoded
from cityhub.connectors.formats.jsonl import decode_lines
from cityhub.connectors.mapping import to_text
from cityhub.connectors.parsing import acyclic
from cityhub.connectors.sources.units import Unit, mark_taken
from cityhub.core.payloads import Batch
from cityhub.declarations.connectors import ConnectorSpec
from cityhub.declarations.contracts import Contract


def _batch(spec: ConnectorSpec, contract: Contract, decoded: Decoded, batch_id: str, state: dict | None,
           as_of: date | None, observed_at: datetime | None = None) -> tuple[Batch[Contract], DriftFindings]:
    text, reasons, drift = to_text(spec, contract, decoded, as_of if spec.as_of != "none" else None, observed_at)
    return Batch(connector=spec.name, contract=contract, batch_id=batch_id, text=text, sources=decoded.sources,
                 raw=decoded.raw, raws=decoded.raws, rejects=decoded.rejects, state=state, row_reasons=reasons), drift


def unit_batch(spec: ConnectorSpec, contract: Contract, unit: Unit, state: dict,
               workers: int | None = None) -> tuple[Batch[Contract], DriftFindings]:
    """The batch one unit lands as, with the state that marks it taken (``workers``:
    processes for parsing a large catalogue fetch). The cycle collector pauses while the
    records are decoded and mapped (see ``connectors.parsing``)."""
    with acyclic():
        return _unit_batch(spec, contract, unit, state, workers)


def _unit_batch(spec: ConnectorSpec, contract: Contract, unit: Unit, state: dict,
                workers: int | None) -> tuple[Batch[Contract], DriftFindings]:
    new_state = mark_taken(state, unit)
    if not unit.payloads:  # only what the source refused (empty or linked files): nothing to decode or map
        empty = pa.table({f: pa.array([], pa.string()) for f in contract.field_names})
        return Batch(connector=spec.name, contract=contract, batch_id=f"{spec.name}:{unit.id}", text=empty,
                     sources=[], raw=lambda i: "", rejects=list(unit.rejects), state=new_state), DriftFindings()
    decoded = formats.decode(spec, unit.payloads, workers)
    decoded.rejects = [*unit.rejects, *decoded.rejects]
    whole_pages_refused = {r.source for r in decoded.rejects} & {p.name for p in unit.payloads}
    if unit.cursor is not None and not whole_pages_refused:
        # (a page that could not be read keeps the cursor where it was: its rows are fetched again)
        cursor = unit.cursor(decoded.record_dicts())
        if cursor is not None:
            new_state["cursor"] = cursor
    return _batch(spec, contract, decoded, f"{spec.name}:{unit.id}", new_state, unit.as_of, unit.delivered_at)


def lines_batch(spec: ConnectorSpec, contract: Contract, values: list[bytes], sources: list[str], batch_id: str,
                state: dict, as_of: date | None) -> tuple[Batch[Contract], DriftFindings]:
    """A batch of messages (Kafka), one JSON record each."""
    with acyclic():
        decoded = decode_lines(values, sources, formats.source_fields(spec))
        return _batch(spec, contract, decoded, batch_id, state, as_of)


def decoded_batch(spec: ConnectorSpec, contract: Contract, decoded: Decoded, batch_id: str,
                  as_of: date | None) -> Batch[Contract]:
    """Records decoded outside a source's units (a released quarantine item) as the batch
    the landing takes; no state: nothing is marked taken."""
    return _batch(spec, contract, decoded, batch_id, None, as_of)[0]
