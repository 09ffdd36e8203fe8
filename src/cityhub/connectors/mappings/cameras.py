"""Mappings the camera connectors' declarations cannot say by renaming alone."""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from cityhub.connectors.mapping import renamed
from cityhub.core.time import now_cst

_WXH = re.compile(r"^\s*(\d+)\s*[xX×*]\s*(\d+)\s*$")


def _hd(resolution: str | None) -> str:
    """720p or better: the shorter side is at least 720 pixels."""
    m = _WXH.match(resolution or "")
    return "true" if m and min(int(m.group(1)), int(m.group(2))) >= 720 else "false"


def registry(t: pa.Table, spec) -> pa.Table:
    out = renamed(t, spec)
    return out.append_column("hd", pa.array([_hd(r) for r in out["resolution"].to_pylist()], pa.string()))


def catalog(t: pa.Table, spec) -> pa.Table:
    """GB/T 28181 items: the county is CivilCode's first six digits."""
    return t.append_column("region", pc.utf8_slice_codeunits(t["civil_code"], 0, 6))


def status(t: pa.Table, spec) -> pa.Table:
    """Status events: the county from CivilCode, else from the DeviceID's centre code."""
    civil, device = t["civil_code"].to_pylist(), t["device_id"].to_pylist()
    region = [(c or (d or "")[:6]) or None for c, d in zip(civil, device)]
    received = now_cst().isoformat(sep=" ")
    return pa.table({
        "event_id": t["event_id"], "device_id": t["device_id"], "region": pa.array(region, pa.string()),
        "status": t["status"], "event_time": t["event_time"],
        "received_at": pa.array([received] * t.num_rows, pa.string()),
    })
