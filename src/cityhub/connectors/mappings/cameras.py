"""Mappings the camera connectors' declarations cannot say by renaming alone."""
from __future__ import annotations

import logging
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    or nothing means the platform does not know it: null, with a warning, not a fault.
    In Arrow compute: a catalogue is 100k items."""
    out = t.set_column(t.column_names.index("status"), "status", _upper(t["status"]))
    unknown = np.zeros(t.num_rows, dtype=bool)
    for f in ("longitude", "latitude"):
        values = _coordinates(out[f])
        unknown |= (pc.is_null(values).to_numpy(zero_copy_only=False)
                    & pc.is_valid(out[f]).to_numpy(zero_copy_only=False))
        out = out.set_column(out.column_names.index(f), f, values)
    if (count := int(unknown.sum())):
        ids = t["device_id"].take(pa.array(np.flatnonzero(unknown)[:10])).to_pylist()
        log.warning("%s: %d devices without known coordinates (0, null or empty), landed with none: %s",
                    spec.name, count, ", ".join(map(str, ids)) + (" ..." if count > 10 else ""))
    return out.append_column("region", _regions(t))


_UNKNOWN = {"", "null", "none", "nan"}
_PLAIN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
"""A coordinate as platforms write it: decided in Arrow; anything else by ``_coordinate``."""


def _coordinates(col: pa.ChunkedArray) -> pa.Array:
    """Each coordinate trimmed, or null where it is unknown (``_coordinate``'s rule)."""
    s = pc.utf8_trim_whitespace(col).combine_chunks()
    plain = pc.fill_null(pc.match_substring_regex(s, _PLAIN), False)
    zero = pc.equal(pc.cast(pc.if_else(plain, s, "1"), pa.float64()), 0)
    out = pc.if_else(zero, pa.scalar(None, pa.string()), s)
    odd = np.flatnonzero(~plain.to_numpy(zero_copy_only=False) & pc.is_valid(s).to_numpy(zero_copy_only=False))
    if len(odd):  # "null", "NaN", "1e3", text: the per-value rule, for these few
        fixed = [_coordinate(v) for v in s.take(pa.array(odd)).to_pylist()]
        mask = np.zeros(len(s), dtype=bool)
        mask[odd] = True
        out = pc.replace_with_mask(out, pa.array(mask), pa.array(fixed, pa.string()))
    return out


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
    return pa.table({"sn": t["sn"], "device_id": t["device_id"], "event": _upper(t["event"]), "name": t["name"],
                     "civil_code": t["civil_code"], "region": _regions(t),
                     "status": _upper(t["status"]), "platform_id": t["platform_id"]})


def notify_status(t: pa.Table, spec) -> pa.Table:
    """Status events from Catalog Notify items (ON, OFF, VLOST, DEFECT): a camera whose
    video is lost or that is faulty is not working, so OFF. A Notify carries no time:
    the event's time is when the hub took it; its id is the message's (platform, SN),
    the device and the event."""
    events = pc.fill_null(_upper(t["event"]), "").to_pylist()
    ids = [f"{p or ''}:{sn or ''}:{d}:{e}" for p, sn, d, e in
           zip(t["platform_id"].to_pylist(), t["sn"].to_pylist(), t["device_id"].to_pylist(), events)]
    taken = now_cst().isoformat(sep=" ")
    return pa.table({
        "event_id": pa.array(ids, pa.string()), "device_id": t["device_id"],
        "region": _regions(t),
        "status": pa.array(["ON" if e == "ON" else "OFF" for e in events], pa.string()),
        "event_time": pa.array([taken] * t.num_rows, pa.string()),
        "received_at": pa.array([taken] * t.num_rows, pa.string()),
    })


def _upper(col) -> pa.ChunkedArray:
    """A code as vendors send it (``on``, `` Online``), trimmed and in upper case."""
    return pc.utf8_upper(pc.utf8_trim_whitespace(col))


def _regions(t: pa.Table) -> pa.Array:
    """CivilCode's first six digits, else (a province's or city's code, or none) the DeviceID's."""
    civil = pc.fill_null(pc.utf8_trim_whitespace(t["civil_code"]), "")
    device = pc.utf8_slice_codeunits(pc.fill_null(pc.utf8_trim_whitespace(t["device_id"]), ""), 0, 6)
    region = pc.if_else(pc.greater_equal(pc.utf8_length(civil), 6), pc.utf8_slice_codeunits(civil, 0, 6), device)
    return pc.if_else(pc.equal(region, ""), pa.scalar(None, pa.string()), region)


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
