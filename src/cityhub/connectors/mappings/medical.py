"""Mappings for the health commission's feeds: FHIR Organization resources to rows
(a visit's county comes from the registry: a lookup declared in medical_visits_drop)."""
from __future__ import annotations



USCC_SYSTEM = "urn:cn:uscc"


def _ext(items: list | None, suffix: str):
    for e in items or ():
        if isinstance(e, dict) and str(e.get("url", "")).endswith(suffix):
            for k, v in e.items():
                if k.startswith("value"):
                    return v
    return None


def organizations(resources: list[dict], spec) -> list[dict]:
    """One row per Organization: the USCC identifier, kind coding, level and
    networked extensions, and the county from the address's region-code extension."""
    rows = []
    for r in resources:
        ident = next((i.get("value") for i in r.get("identifier") or () if isinstance(i, dict)
                      and i.get("system") == USCC_SYSTEM), None)
        coding = next((c for t in r.get("type") or () if isinstance(t, dict) for c in t.get("coding") or ()), {})
        address = (r.get("address") or [{}])[0] if isinstance(r.get("address"), list) else {}
        networked = _ext(r.get("extension"), "/platform-networked")
        rows.append({
            "uscc": ident, "org_id": r.get("id"), "name": r.get("name"),
            "kind": coding.get("code") if isinstance(coding, dict) else None,
            "level": _ext(r.get("extension"), "/hospital-level"),
            "region": _ext(address.get("extension") if isinstance(address, dict) else None, "/region-code"),
            "township_code": _ext(address.get("extension") if isinstance(address, dict) else None, "/township-code"),
            "networked": networked, "active": r.get("active", True),
        })
    return rows
