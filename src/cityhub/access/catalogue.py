"""The data resource catalogue (资源目录) in the hub database: departments and data
categories that admins manage through the API.

``catalog.yaml`` is its declaration (``cityhub.declarations.catalogue``), loaded
into the database on first use or by ``cityhub catalog load``; the update cycles
and the quality tolerance stay with the declaration.
"""
from __future__ import annotations

import threading
import time

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cityhub.core.errors import Conflict, InvalidRequest, NotFound
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.declarations import DeclaredCatalogue, Declarations
from cityhub.declarations.catalogue import Category, Department, FieldDecl, category_problems
from cityhub.lake.hubdb import catalog_categories, catalog_departments, engine


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


def current(cfg: Settings, decl: Declarations, max_age: float = TTL_S) -> Catalogue:
    """The catalogue, re-read from the hub database at most every ``max_age`` seconds
    (so an admin's change reaches every API worker within that time); seeded from the
    declaration when the database has none."""
    global _cached
    uri = cfg.hub_db_uri
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
            load(cfg, decl)
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
                                                      "fields": tuple(_field(f) for f in r.doc.get("fields", ()))})
    return Catalogue(deps, cats)


def _field(doc: dict) -> FieldDecl:
    """A stored field; one stored before fields declared their mask is masked whole."""
    if doc.get("sensitivity") == "personal" and not doc.get("mask"):
        doc = {**doc, "mask": "whole"}
    return FieldDecl(**doc)


def load(cfg: Settings, decl: Declarations, replace: bool = False,
         declared: DeclaredCatalogue | None = None) -> tuple[int, int]:
    """Upsert the declared departments and categories (default: those of ``decl``;
    ``replace``: drop the rest). What the declaration left out as broken is not loaded
    (``cityhub check`` names it)."""
    declared = declared or decl.catalogue
    deps, cats = declared.departments.values(), declared.categories.values()
    at = now_cst()
    with engine(cfg.hub_db_uri).begin() as con:
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


_UPSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}


def _upsert(con, table, key: str, values: dict) -> None:
    """Insert or update in one statement: API workers starting together all seed the
    catalogue, and a look-then-insert let two of them insert the same id (one crashed)."""
    dialect_insert = _UPSERTS.get(con.dialect.name)
    if dialect_insert is not None:
        stmt = dialect_insert(table).values(id=key, **values)
        con.execute(stmt.on_conflict_do_update(index_elements=[table.c.id], set_=values))
    elif con.execute(select(table.c.id).where(table.c.id == key)).first():
        con.execute(update(table).where(table.c.id == key).values(**values))
    else:
        con.execute(insert(table).values(id=key, **values))


def put_category(cfg: Settings, decl: Declarations, c: Category, by: str) -> bool:
    """Create or replace a category; True when it was created."""
    cat = current(cfg, decl, 0)
    problems = category_problems(c, decl.catalogue.update_cycles, decl.contracts, cat.departments)
    if problems:
        raise InvalidRequest("; ".join(problems))
    clash = [d for d in c.datasets if (o := cat.category_of(d)) is not None and o.id != c.id]
    if clash:
        raise Conflict(f"dataset(s) {', '.join(clash)} already belong to another category")
    created = c.id not in cat.categories
    with engine(cfg.hub_db_uri).begin() as con:
        _upsert(con, catalog_categories, c.id, {"owner": c.owner, "doc": _doc(c), "updated_at": now_cst(),
                                                "updated_by": by})
    _invalidate()
    return created


def delete_category(cfg: Settings, cid: str) -> None:
    with engine(cfg.hub_db_uri).begin() as con:
        n = con.execute(delete(catalog_categories).where(catalog_categories.c.id == cid)).rowcount
    _invalidate()
    if not n:
        raise NotFound(f"no category {cid!r}")


def put_department(cfg: Settings, decl: Declarations, d: Department) -> bool:
    created = d.id not in current(cfg, decl, 0).departments
    with engine(cfg.hub_db_uri).begin() as con:
        _upsert(con, catalog_departments, d.id, {**d.model_dump(exclude={"id"}), "updated_at": now_cst()})
    _invalidate()
    return created
