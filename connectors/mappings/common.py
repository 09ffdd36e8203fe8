"""Mappings shared by several connectors."""
from __future__ import annotations

import pyarrow as pa

from hub.lake import now_cst


def renamed(t: pa.Table, spec) -> pa.Table:
    """The declared ``columns`` (contract field <- source field), as text."""
    n = t.num_rows
    return pa.table({f: t[src].cast(pa.string()) if src in t.column_names else pa.nulls(n, pa.string())
                     for f, src in spec.columns.items()})


def with_received_at(t: pa.Table, spec) -> pa.Table:
    """Events: the declared columns plus when the hub took them (CST)."""
    out = renamed(t, spec)
    return out.append_column("received_at", pa.array([now_cst().isoformat(sep=" ")] * t.num_rows, pa.string()))
