"""The data resource catalogue (资源目录): departments and data categories.

The catalogue lives in the hub database so that city admins can manage it through
the API; ``schemas/catalog.yaml`` is its declaration, loaded on first use (or by
``cityhub catalog load``). The update-cycle windows and the quality tolerance that
decide whether a category counts as shared are configuration in the same file.
Categories with a feed name their lake datasets (fields come from the contracts);
categories with no feed yet declare their fields and count as not shared.
"""
from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import delete, insert, select, update

from hub.config import settings
from hub.contracts import contracts
from hub.lake import now_cst
from hub.store import catalog_categories, catalog_departments, engine
from schemas import ROOT, load_yaml

ShareType = Literal["unconditional", "conditional", "not_shared"]
OpenType = Literal["unconditional", "conditional", "not_open"]
_ID = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"


class CatalogueError(ValueError):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class FieldDecl(BaseModel):
    """A field of a category with no feed yet (fed categories take their contract's fields)."""
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    type: Literal["string", "int32", "int64", "float64", "bool", "date", "timestamp"] = "string"
    sensitivity: Literal["public", "internal", "personal"] = "public"


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID, max_length=64)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    credit_unit: bool = False
    """A unit of the social credit system (must share its credit information: #30)."""


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=_ID, max_length=64)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    owner: str = Field(max_length=64, description="owning department id")
    share_type: ShareType
    open_type: OpenType
    update_cycle: str = Field(description="one of the declared update cycles (real_time, daily, ...)")
    datasets: tuple[str, ...] = ()
    legal_basis: str | None = Field(None, max_length=500, description="required when share_type is not_shared")
    credit: bool = False
    """Social credit information (公共信用信息): counts for #30."""
    fields: tuple[FieldDecl, ...] = ()

    @model_validator(mode="after")
    def _consistent(self):
        if self.share_type == "not_shared" and not self.legal_basis:
            raise ValueError("a not_shared category needs its legal_basis")
        if self.share_type == "not_shared" and self.open_type != "not_open":
            raise ValueError("a not_shared category cannot be open")
        if self.share_type == "conditional" and self.open_type == "unconditional":
            raise ValueError("a conditionally shared category cannot be open without condition")
        if self.update_cycle not in update_cycles():
            raise ValueError(f"update_cycle must be one of {', '.join(update_cycles())}")
        unknown = [d for d in self.datasets if d not in contracts() or d == "quarantine"]
        if unknown:
            raise ValueError(f"unknown dataset(s) {', '.join(unknown)}: a dataset needs a contract in schemas/contracts/")
        return self

    @property
    def should_share(self) -> bool:
        return self.share_type != "not_shared"

    @property
    def should_open(self) -> bool:
        return self.open_type != "not_open"

    def field_list(self) -> list[dict]:
        """The category's fields: from its datasets' contracts, else as declared."""
        if self.datasets:
            return [{"dataset": d, "name": f.name, "type": f.type, "sensitivity": f.sensitivity,
                     "filterable": f.filterable, "description": f.description}
                    for d in self.datasets for f in contracts()[d].fields]
        return [f.model_dump() for f in self.fields]


# -- configuration from the declaration -------------------------------------------

_DURATION = re.compile(r"^(\d+)([hd])$")


@lru_cache(maxsize=None)
def update_cycles() -> dict[str, timedelta]:
    """How old a category's newest landing may be and still count as fresh, per cycle."""
    out = {}
    for name, raw in load_yaml("catalog.yaml")["update_cycles"].items():
        m = _DURATION.match(str(raw))
        if not m:
            raise ValueError(f"update cycle {name}: {raw!r} is not like 36h or 8d")
        n = int(m.group(1))
        out[name] = timedelta(hours=n) if m.group(2) == "h" else timedelta(days=n)
    return out


def quality_tolerance() -> float:
    """Share of a period's delivered records that may be quarantined before a
    category stops counting as shared."""
    return float(load_yaml("catalog.yaml").get("quality_tolerance", 0.0))


# -- the catalogue in the hub database --------------------------------------------

class Catalogue:
    """A consistent read of departments and categories."""

    def __init__(self, departments: dict[str, Department], categories: dict[str, Category]):
        self.departments, self.categories = departments, categories
        self._by_dataset = {d: c for c in categories.values() for d in c.datasets}

    def category_of(self, dataset: str) -> Category | None:
        return self._by_dataset.get(dataset)

    def visible_to(self, role: str, department: str | None = None) -> list[Category]:
        """Admins see everything; owners their own; others what is shared."""
        return [c for c in self.categories.values()
                if role == "admin" or c.should_share or (department and c.owner == department)]


_lock = threading.Lock()
_refreshing = threading.Lock()  # one thread re-reads an expired catalogue; the rest use the old one meanwhile
_cached: tuple[float, str, Catalogue] | None = None
TTL_S = 2.0


def current(max_age: float = TTL_S) -> Catalogue:
    """The catalogue, re-read from the hub database at most every ``max_age`` seconds
    (so an admin's change reaches every API worker within that time)."""
    global _cached
    uri = settings().hub_db_uri
    now = time.monotonic()
    with _lock:
        hit = _cached
    old = hit[2] if hit and hit[1] == uri else None
    if old is not None and now - hit[0] < max_age:
        return old
    if old is not None and not _refreshing.acquire(blocking=max_age <= 0):
        return old  # another thread is re-reading it: the copy it replaces is seconds old
    try:
        cat = _read(uri)
        if not cat.categories and not cat.departments:
            load(declaration())
            cat = _read(uri)
        with _lock:
            _cached = (now, uri, cat)
    finally:
        if old is not None:
            _refreshing.release()
    return cat


def _invalidate() -> None:
    global _cached
    with _lock:
        _cached = None


def _read(uri: str) -> Catalogue:
    with engine(uri).connect() as con:
        deps = {r.id: Department(id=r.id, name_zh=r.name_zh, name_en=r.name_en, credit_unit=r.credit_unit)
                for r in con.execute(select(catalog_departments))}
        cats = {}
        for r in con.execute(select(catalog_categories).order_by(catalog_categories.c.id)):
            cats[r.id] = Category.model_construct(**{**r.doc, "datasets": tuple(r.doc.get("datasets", ())),
                                                      "fields": tuple(FieldDecl(**f) for f in r.doc.get("fields", ()))})
    return Catalogue(deps, cats)


def declaration(path: Path | None = None) -> dict:
    with open(path or ROOT / "catalog.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def parse(doc: dict) -> tuple[list[Department], list[Category]]:
    """Validate a declaration; ``CatalogueError`` lists every problem."""
    problems, deps, cats = [], [], []
    for did, d in (doc.get("departments") or {}).items():
        try:
            deps.append(Department(id=did, **d))
        except ValidationError as e:
            problems.append(f"department {did}: {_short(e)}")
    known = {d.id for d in deps}
    seen: set[str] = set()
    claimed: dict[str, str] = {}
    for raw in doc.get("categories") or []:
        try:
            c = Category(**raw)
        except ValidationError as e:
            problems.append(f"category {raw.get('id', '?')}: {_short(e)}")
            continue
        if c.owner not in known:
            problems.append(f"category {c.id}: unknown owner {c.owner!r}")
        if c.id in seen:
            problems.append(f"category {c.id}: declared twice")
        seen.add(c.id)
        for d in c.datasets:
            if d in claimed:
                problems.append(f"category {c.id}: dataset {d} already belongs to {claimed[d]}")
            claimed.setdefault(d, c.id)
        cats.append(c)
    if problems:
        raise CatalogueError(400, "; ".join(problems))
    return deps, cats


def _short(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'value'}: {err['msg']}" for err in e.errors())


def load(doc: dict, replace: bool = False) -> tuple[int, int]:
    """Upsert a declaration's departments and categories (``replace``: drop the rest)."""
    deps, cats = parse(doc)
    eng = engine(settings().hub_db_uri)
    at = now_cst()
    with eng.begin() as con:
        if replace:
            con.execute(delete(catalog_categories))
            con.execute(delete(catalog_departments))
        for d in deps:
            _upsert(con, catalog_departments, d.id, {**d.model_dump(exclude={"id"}), "updated_at": at})
        for c in cats:
            _upsert(con, catalog_categories, c.id, {"owner": c.owner, "doc": _doc(c), "updated_at": at,
                                                    "updated_by": "declaration"})
    _invalidate()
    return len(deps), len(cats)


def _doc(c: Category) -> dict:
    return c.model_dump(mode="json", exclude_defaults=False)


def _upsert(con, table, key: str, values: dict) -> None:
    if con.execute(select(table.c.id).where(table.c.id == key)).first():
        con.execute(update(table).where(table.c.id == key).values(**values))
    else:
        con.execute(insert(table).values(id=key, **values))


def put_category(c: Category, by: str) -> bool:
    """Create or replace a category; True when it was created."""
    cat = current(0)
    if c.owner not in cat.departments:
        raise CatalogueError(400, f"owner {c.owner!r} is not a department; known: {', '.join(sorted(cat.departments))}")
    clash = [d for d in c.datasets if (o := cat.category_of(d)) is not None and o.id != c.id]
    if clash:
        raise CatalogueError(409, f"dataset(s) {', '.join(clash)} already belong to another category")
    created = c.id not in cat.categories
    with engine(settings().hub_db_uri).begin() as con:
        _upsert(con, catalog_categories, c.id, {"owner": c.owner, "doc": _doc(c), "updated_at": now_cst(),
                                                "updated_by": by})
    _invalidate()
    return created


def delete_category(cid: str) -> None:
    with engine(settings().hub_db_uri).begin() as con:
        n = con.execute(delete(catalog_categories).where(catalog_categories.c.id == cid)).rowcount
    _invalidate()
    if not n:
        raise CatalogueError(404, f"no category {cid!r}")


def put_department(d: Department) -> bool:
    created = d.id not in current(0).departments
    with engine(settings().hub_db_uri).begin() as con:
        _upsert(con, catalog_departments, d.id, {**d.model_dump(exclude={"id"}), "updated_at": now_cst()})
    _invalidate()
    return created


# -- shortcuts used by the API ------------------------------------------------------

def category_of(dataset: str) -> Category | None:
    return current().category_of(dataset)


def categories() -> dict[str, Category]:
    return current().categories
