"""Mappings shared by several connectors."""
from __future__ import annotations

import pyarrow as pa

from cityhub.connectors.mapping import renamed
from cityhub.core.time import now_cst


def with_received_at(t: pa.Table, spec) -> pa.Table:
    """Events: the declared columns plus when the hub took them (CST)."""
    out = renamed(t, spec)
    return out.append_column("received_at", pa.array([now_cst().isoformat(sep=" ")] * t.num_rows, pa.string()))
