"""Declared lookups: fields a source does not send, taken from another lake dataset by
key before the batch is validated (a visit's county from its institution's registry
entry, not from the code the institution was registered under)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from cityhub.core.payloads import Batch
from cityhub.declarations.connectors import ConnectorSpec, Lookup
from cityhub.declarations.contracts import Contract
from cityhub.lake import Lake


def apply(lake: Lake, spec: ConnectorSpec, batch: Batch[Contract]) -> Batch[Contract]:
    """``batch`` with every looked-up field filled where the source left it empty; a key
    the other dataset does not have stays empty (the contract's rules then say why)."""
    text = batch.text
    for field, lookup in spec.lookups.items():
        if text.num_rows == 0:
            break
        found = _values(lake, lookup, text)
        keys = _keys(text, list(lookup.match))
        taken = pa.array([found.get(k) for k in keys.to_pylist()], pa.string())
        if field in text.column_names:
            have = text[field]
            taken = pc.if_else(pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(have), ""), False), have, taken)
            text = text.set_column(text.column_names.index(field), field, taken)
        else:
            text = text.append_column(field, taken)
    batch.text = text
    return batch


def _keys(t: pa.Table, fields: list[str]) -> pa.ChunkedArray:
    cols = [pc.fill_null(pc.utf8_trim_whitespace(t[f].cast(pa.string())) if f in t.column_names
                         else pa.nulls(t.num_rows, pa.string()), "") for f in fields]
    return cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "\x1f")


def _values(lake: Lake, lookup: Lookup, text: pa.Table) -> dict[str, str]:
    """Key -> value of the other dataset (its newest version where declared)."""
    if lake.snapshot_id(lookup.dataset) is None:
        return {}
    theirs = list(lookup.match.values())
    key = " || chr(31) || ".join(f'CAST("{f}" AS VARCHAR)' for f in theirs)
    value = (f'arg_max(CAST("{lookup.take}" AS VARCHAR), "{lookup.newest}")' if lookup.newest
             else f'any_value(CAST("{lookup.take}" AS VARCHAR))')
    wanted = pa.table({"k": pc.unique(_keys(text, list(lookup.match)))})
    con, _ = lake.connect([lookup.dataset])
    try:
        con.register("__wanted", wanted)
        rows = con.execute(f'SELECT {key} AS k, {value} AS v FROM "{lookup.dataset}" '
                           f"WHERE {key} IN (SELECT k FROM __wanted) GROUP BY ALL").fetchall()
    finally:
        con.close()
    return {k: v for k, v in rows if v is not None}
