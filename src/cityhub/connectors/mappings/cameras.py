"""Mappings the camera connectors' declarations cannot say by renaming alone."""
from __future__ import annotations

import logging
import re

import pyarrow as pa

from cityhub.connectors.formats.gb28181 import directory_kind
from cityhub.connectors.mapping import renamed
from cityhub.core.time import now_cst

log = logging.getLogger(__name__)

_WXH = re.compile(r"^\s*(\d+)\s*[xX×*]\s*(\d+)\s*$")


def _hd(resolution: str | None) -> str:
    """720p or better: the shorter side is at least 720 pixels."""
    m = _WXH.match(resolution or "")
    return "true" if m and min(int(m.group(1)), int(m.group(2))) >= 720 else "false"


def registry(t: pa.Table, spec) -> pa.Table:
    out = renamed(t, spec)
    return out.append_column("hd", pa.array([_hd(r) for r in out["resolution"].to_pylist()], pa.string()))


def catalog(t: pa.Table, spec) -> pa.Table:
    """GB/T 28181 items. The county is CivilCode's first six digits; a CivilCode of the
    province or city (2 or 4 digits) says less than the DeviceID, whose centre code then
    gives it. Status is compared in upper case (vendors send ``on``, ``Online``: the
    declared value mapping then says what each means). A coordinate of ``0``, ``null``
    or nothing means the platform does not know it: null, with a warning, not a fault."""
    device, region = t["device_id"].to_pylist(), _regions(t)
    status = [v.strip().upper() if v is not None else None for v in t["status"].to_pylist()]
    out = t.set_column(t.column_names.index("status"), "status", pa.array(status, pa.string()))
    unknown = set()
    for f in ("longitude", "latitude"):
        values = [_coordinate(v) for v in out[f].to_pylist()]
        unknown |= {i for i, (v, raw) in enumerate(zip(values, out[f].to_pylist())) if v is None and raw is not None}
        out = out.set_column(out.column_names.index(f), f, pa.array(values, pa.string()))
    if unknown:
        ids = [device[i] for i in sorted(unknown)]
        log.warning("%s: %d devices without known coordinates (0, null or empty), landed with none: %s",
                    spec.name, len(ids), ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else ""))
    return out.append_column("region", pa.array(region, pa.string()))


_UNKNOWN = {"", "null", "none", "nan"}


def _coordinate(v: str | None) -> str | None:
    s = (v or "").strip()
    if s.lower() in _UNKNOWN:
        return None
    try:
        return None if float(s) == 0 else s
    except ValueError:
        return s  # not a number: the contract's type check quarantines it with the reason


def directory(t: pa.Table, spec) -> pa.Table:
    """GB/T 28181 directory items (regions, systems, business groups, virtual
    organisations): what each is, from its ID (a region's code is its ID)."""
    kinds = [directory_kind(d) for d in t["device_id"].to_pylist()]
    return pa.table({"node_id": t["device_id"], "name": t["name"], "kind": pa.array(kinds, pa.string()),
                     "parent_id": t["parent_id"], "civil_code": t["civil_code"], "platform_id": t["platform_id"]})


def changes(t: pa.Table, spec) -> pa.Table:
    """GB/T 28181 Catalog Notify items: the event and status in upper case, the county
    as for a catalogue item (a DEL or ON item often carries only its DeviceID)."""
    upper = [pa.array([v.strip().upper() if v is not None else None for v in t[f].to_pylist()], pa.string())
             for f in ("event", "status")]
    return pa.table({"sn": t["sn"], "device_id": t["device_id"], "event": upper[0], "name": t["name"],
                     "civil_code": t["civil_code"], "region": pa.array(_regions(t), pa.string()),
                     "status": upper[1], "platform_id": t["platform_id"]})


def notify_status(t: pa.Table, spec) -> pa.Table:
    """Status events from Catalog Notify items (ON, OFF, VLOST, DEFECT): a camera whose
    video is lost or that is faulty is not working, so OFF. A Notify carries no time:
    the event's time is when the hub took it; its id is the message's (platform, SN),
    the device and the event."""
    events = [(e or "").strip().upper() for e in t["event"].to_pylist()]
    ids = [f"{p or ''}:{sn or ''}:{d}:{e}" for p, sn, d, e in
           zip(t["platform_id"].to_pylist(), t["sn"].to_pylist(), t["device_id"].to_pylist(), events)]
    taken = now_cst().isoformat(sep=" ")
    return pa.table({
        "event_id": pa.array(ids, pa.string()), "device_id": t["device_id"],
        "region": pa.array(_regions(t), pa.string()),
        "status": pa.array(["ON" if e == "ON" else "OFF" for e in events], pa.string()),
        "event_time": pa.array([taken] * t.num_rows, pa.string()),
        "received_at": pa.array([taken] * t.num_rows, pa.string()),
    })


def _regions(t: pa.Table) -> list[str | None]:
    """CivilCode's first six digits, else (a province's or city's code, or none) the DeviceID's."""
    return [c[:6] if len(c) >= 6 else (d or "").strip()[:6] or None
            for c, d in zip(((c or "").strip() for c in t["civil_code"].to_pylist()), t["device_id"].to_pylist())]


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
