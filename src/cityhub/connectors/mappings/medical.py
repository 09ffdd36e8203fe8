"""Mappings for the health commission's feeds: FHIR Organization resources to rows
(a visit's county comes from the registry: a lookup declared in medical_visits_drop)."""
from __future__ import annotations



USCC_SYSTEM = "urn:cn:uscc"
"""The USCC's identifier system when a connector declares none (``format.identifiers``)."""


def _ext(items: list | None, suffix: str):
    """The value of the extension whose url ends with ``suffix``; a coded value
    (``valueCoding``, ``valueCodeableConcept``: how many platforms send levels and
    flags) gives its first code, else its text."""
    for e in items or ():
        if isinstance(e, dict) and str(e.get("url", "")).endswith(suffix):
            for k, v in e.items():
                if k == "valueCoding":
                    return v.get("code") if isinstance(v, dict) else v
                if k == "valueCodeableConcept":
                    return _code(v)
                if k.startswith("value"):
                    return v
    return None


def _code(concept):
    if not isinstance(concept, dict):
        return concept
    coding = next((c for c in concept.get("coding") or () if isinstance(c, dict) and c.get("code") is not None), None)
    return coding["code"] if coding else concept.get("text")


def _identifier(resource: dict, systems: list[str]):
    return next((i.get("value") for i in resource.get("identifier") or () if isinstance(i, dict)
                 and i.get("system") in systems), None)


def organizations(resources: list[dict], spec) -> list[dict]:
    """One row per Organization: the USCC identifier, kind coding, level and
    networked extensions, and the county from the address's region-code extension."""
    systems = (spec.format.identifiers.get("uscc") if spec is not None else None) or [USCC_SYSTEM]
    rows = []
    for r in resources:
        ident = _identifier(r, systems)
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
