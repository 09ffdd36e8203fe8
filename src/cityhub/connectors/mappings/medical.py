"""Mappings for the health commission's feeds: FHIR Organization resources to rows
(a visit's county comes from the registry: a lookup declared in medical_visits_drop)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cityhub.connectors.formats.decoded import NotColumnar, columnar

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


@columnar
def organizations(resources: list[dict] | pa.Table, spec) -> list[dict] | pa.Table:
    """One row per Organization: the USCC identifier, kind coding, level and
    networked extensions, and the county from the address's region-code extension.
    A typed Arrow table of resources is mapped with Arrow compute, to the same text."""
    systems = (spec.format.identifiers.get("uscc") if spec is not None else None) or [USCC_SYSTEM]
    if isinstance(resources, pa.Table):
        return _organizations_columnar(resources, systems)
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


# ------------------------------------------------------------------ columnar
# The same rules on a typed Arrow table (connectors.formats.fhir.decode_columnar): an
# absent key is null there (FHIR has no nulls). Anything whose text would not be what
# the dict path gives (a time, an object where a code is expected, two values in one
# extension) raises NotColumnar, and the delivery is mapped as dicts.


def _organizations_columnar(t: pa.Table, systems: list[str]) -> pa.Table:
    n = t.num_rows

    def col(name: str):
        return t[name] if name in t.column_names else None  # chunked: a chunk per payload, never copied whole

    extensions = _items(col("extension"))
    addresses = _items(col("address"))
    address_ext = None  # the extensions of each row's first address
    if addresses is not None and (ext := _child(addresses[0], "extension")) is not None:
        nested = _items(ext)
        if nested is not None:
            first_address = np.zeros(len(addresses[1]), bool)
            first_address[_first_positions(addresses[1], None)] = True
            address_ext = (nested[0], addresses[1][nested[1]], first_address[nested[1]])
    active = col("active")
    return pa.table({
        "uscc": _identifier_col(_items(col("identifier")), systems, n), "org_id": _text(col("id"), n),
        "name": _text(col("name"), n), "kind": _kind_col(_items(col("type")), n),
        "level": _ext_col(extensions, "/hospital-level", n),
        "region": _ext_col(address_ext, "/region-code", n),
        "township_code": _ext_col(address_ext, "/township-code", n),
        "networked": _ext_col(extensions, "/platform-networked", n),
        "active": _text(active, n).fill_null("true") if active is not None else pa.array(["true"] * n, pa.string()),
    })


def _text(a, n: int):
    """Values as the dict path's ``text()`` writes them (strings, booleans, integers)."""
    if a is None or pa.types.is_null(a.type):
        return pa.nulls(n, pa.string())
    if pa.types.is_string(a.type):
        return a
    if pa.types.is_boolean(a.type) or pa.types.is_int64(a.type):
        return a.cast(pa.string())  # true/false, digits: as Python's str()
    raise NotColumnar(f"a {a.type} value")


def _child(a, name: str):
    return pc.struct_field(a, name) if a.type.get_field_index(name) >= 0 else None


def _items(a):
    """A list of objects per row: (the objects, the row of each, which count: None for all);
    None: no objects at all."""
    if a is None or pa.types.is_null(a.type):
        return None
    if not pa.types.is_list(a.type):
        raise NotColumnar(f"a {a.type} where a list is expected")
    if pa.types.is_null(a.type.value_type):
        return None
    if not pa.types.is_struct(a.type.value_type):
        raise NotColumnar(f"a list of {a.type.value_type} where objects are expected")
    return pc.list_flatten(a), pc.list_parent_indices(a).to_numpy(), None


def _first_positions(parents: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Positions of each row's first item (where ``mask``)."""
    idx = np.flatnonzero(mask) if mask is not None else np.arange(len(parents))
    p = parents[idx]
    first = np.ones(len(p), bool)
    first[1:] = p[1:] != p[:-1]
    return idx[first]


def _first(parents: np.ndarray, mask: np.ndarray | None, n: int) -> pa.Array:
    """Per row, the position of its first item (where ``mask``), null for none."""
    at = _first_positions(parents, mask)
    out = np.full(n, -1, np.int64)
    out[parents[at]] = at
    return pa.array(out, mask=out < 0)


def _and(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    return b if a is None else a if b is None else a & b


def _bools(a) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False) if isinstance(a, pa.Array) else a.to_numpy(), bool)


def _text_field(items, name: str, what: str):
    """Field ``name`` of the listed structs (``_items``), or None where none has it;
    NotColumnar when it is not text (``what`` names it in the reason)."""
    field = _child(items[0], name) if items is not None else None
    if field is not None and not pa.types.is_string(field.type):
        raise NotColumnar(f"{what} that is not text")
    return field


def _identifier_col(items, systems: list[str], n: int):
    system = _text_field(items, "system", "an identifier system")
    if system is None:
        return pa.nulls(n, pa.string())
    flat, parents, _ = items
    mask = _bools(pc.is_in(system, value_set=pa.array(systems, pa.string())).fill_null(False))
    value = _child(flat, "value")
    return _text(value.take(_first(parents, mask, n)) if value is not None else None, n)


def _kind_col(types, n: int):
    coding = _child(types[0], "coding") if types is not None else None
    codings = _items(coding)
    if codings is None:
        return pa.nulls(n, pa.string())
    flat, parents, _ = codings
    code = _child(flat, "code")
    return _text(code.take(_first(types[1][parents], None, n)) if code is not None else None, n)


def _ext_col(items, suffix: str, n: int):
    """``_ext`` per row: the first extension whose url ends with ``suffix`` and that has a value."""
    url = _text_field(items, "url", "an extension url")
    if url is None:
        return pa.nulls(n, pa.string())
    flat, parents, among = items
    values = [(f.name, pc.struct_field(flat, f.name)) for f in flat.type if f.name.startswith("value")]
    valid = [_bools(v.is_valid()) for _, v in values]
    count = np.sum(valid, axis=0) if valid else np.zeros(len(parents), np.int64)
    mask = _and(among, _bools(pc.ends_with(url, suffix).fill_null(False)) & (count > 0))
    pos = _first(parents, mask, n)
    chosen = pos.drop_null().to_numpy()
    if (count[chosen] > 1).any():
        raise NotColumnar("an extension with two values")  # which is taken depends on key order
    out = pa.nulls(n, pa.string())
    for (name, v), ok in zip(values, valid):
        if ok[chosen].any():
            out = pc.coalesce(out, _value_text(name, v.take(pos), n))
    return out


def _value_text(name: str, v, n: int):
    if name == "valueCoding" and pa.types.is_struct(v.type):
        return _text(_child(v, "code"), n)
    if name == "valueCodeableConcept" and pa.types.is_struct(v.type):
        codings = _items(_child(v, "coding"))
        code = _child(codings[0], "code") if codings is not None else None
        if code is not None:
            code = _text(code, len(code))
            code = code.take(_first(codings[1], _bools(code.is_valid()), n))
        text = _child(v, "text")
        return pc.coalesce(_text(code, n), _text(text, n))
    return _text(v, n)
