"""Grants: who may read what beyond the defaults, and the access decision.

A county (or a department, or the scoring layer to verify values by their evidence)
applies for a category with a purpose, the personal fields it needs in clear, city-wide
or county scope (county clients only: the others' grants are city-wide), and a
duration; the owning department (or a city admin) approves or rejects; an approved
grant runs from its approval for the duration applied for and then expires. The access decision for a
request combines the category's share type, the caller's role and its live grants:

- not shared: never served (only its owner reads its own data);
- conditional: needs a live grant (admins too: they decide on grants, they do not read);
- unconditional: every client;
- a county reads its own county unless a grant says city-wide; personal fields
  are masked unless a grant names them (the owner reads its own data in clear).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, bindparam, insert, or_, select, update

from cityhub.access import catalogue
from cityhub.access.clients import Principal
from cityhub.core.errors import Conflict, Forbidden, InvalidRequest, NotFound
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.declarations import Declarations
from cityhub.declarations.catalogue import Category
from cityhub.lake.hubdb import engine, grants


GRANTEES = ("county", "department", "scoring")
"""Roles that apply for grants: counties and departments to read, the scoring layer to
verify values against their evidence (``cityhub.access.policies``)."""


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(max_length=64, description="catalogue category id")
    purpose: str = Field(min_length=10, max_length=2000, description="what the data is for (shown to the owner)")
    fields: list[str] = Field(default_factory=list, max_length=100,
                              description="personal fields needed in clear; others stay masked")
    scope: Literal["county", "city"] = Field("county", description="city: rows of every county")
    days: int = Field(90, ge=1, le=366, description="how long the grant runs once approved")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000)


@dataclass(frozen=True)
class Access:
    regions: list[str] | None
    """County codes the caller may read (None: all of the city)."""
    unmasked: frozenset[str]
    grants: tuple[str, ...]
    """Ids of the grants that allowed it (for the audit log)."""


def _row(r) -> dict:
    d = dict(r._mapping)
    d["live"] = d["status"] == "approved" and d["starts_at"] <= now_cst() < d["expires_at"]
    return d


def apply(cfg: Settings, decl: Declarations, p: Principal, req: GrantRequest) -> dict:
    cat = catalogue.current(cfg, decl)
    c = cat.categories.get(req.category)
    if c is None:
        raise NotFound(f"no category {req.category!r}; see GET /v1/catalog")
    if not c.should_share:
        raise Forbidden(f"category {c.id} is not shared ({c.legal_basis}): it cannot be granted")
    if p.role == "department" and p.department == c.owner:
        raise InvalidRequest(f"category {c.id} is your own department's: no grant is needed")
    if p.role not in GRANTEES:
        raise Forbidden(f"grants are for {', '.join(GRANTEES)} clients, not role {p.role} "
                        "(an admin decides on grants and holds none)")
    known = {f["name"]: f for f in c.field_list(decl.contracts)}
    unknown = [f for f in req.fields if f not in known]
    if unknown:
        raise InvalidRequest(f"unknown field(s) {', '.join(unknown)} for category {c.id}; fields: {', '.join(known)}")
    now = now_cst()
    gid = uuid.uuid4().hex
    with engine(cfg.hub_db_uri).begin() as con:
        con.execute(insert(grants).values(
            id=gid, client_id=p.client_id, category_id=c.id, purpose=req.purpose, fields=sorted(set(req.fields)),
            scope=req.scope if p.role == "county" else "city", starts_at=now, expires_at=now + timedelta(days=req.days),
            status="pending", requested_at=now))
    return get(cfg, gid)


def get(cfg: Settings, gid: str) -> dict:
    with engine(cfg.hub_db_uri).connect() as con:
        r = con.execute(select(grants).where(grants.c.id == gid)).first()
    if r is None:
        raise NotFound(f"no grant {gid!r}")
    return _row(r)


def _may_decide(p: Principal, c: Category) -> bool:
    return p.role == "admin" or (p.role == "department" and p.department == c.owner)


def decide(cfg: Settings, decl: Declarations, p: Principal, gid: str, approve: bool,
           note: str | None = None) -> dict:
    g = get(cfg, gid)
    c = catalogue.current(cfg, decl).categories.get(g["category_id"])
    if c is None or not _may_decide(p, c):
        raise Forbidden(f"only the owner of category {g['category_id']} or a city admin may decide on this grant")
    if g["status"] != "pending":
        raise Conflict(f"grant {gid} is already {g['status']}")
    now = now_cst()
    values = {"status": "approved" if approve else "rejected", "decided_by": p.name, "decided_at": now,
              "decision_note": note}
    if approve:  # runs from approval for the duration applied for
        values.update(starts_at=now, expires_at=now + (g["expires_at"] - g["starts_at"]))
    with engine(cfg.hub_db_uri).begin() as con:
        n = con.execute(update(grants).where(and_(grants.c.id == gid, grants.c.status == "pending"))
                        .values(**values)).rowcount
    if not n:
        raise Conflict(f"grant {gid} was decided meanwhile")
    return get(cfg, gid)


def revoke(cfg: Settings, decl: Declarations, p: Principal, gid: str, note: str | None = None) -> dict:
    g = get(cfg, gid)
    c = catalogue.current(cfg, decl).categories.get(g["category_id"])
    if not (p.client_id == g["client_id"] or (c is not None and _may_decide(p, c))):
        raise Forbidden("only the grantee, the category's owner or a city admin may revoke a grant")
    with engine(cfg.hub_db_uri).begin() as con:  # the approval's decided_by stays
        con.execute(update(grants).where(grants.c.id == gid).values(
            status="revoked", decision_note=f"revoked by {p.name} at {now_cst():%Y-%m-%d %H:%M}"
                                            + (f": {note}" if note else "")))
    return get(cfg, gid)


def may_see(cfg: Settings, decl: Declarations, p: Principal, g: dict) -> bool:
    if p.role == "admin" or g["client_id"] == p.client_id:
        return True
    c = catalogue.current(cfg, decl).categories.get(g["category_id"])
    return p.role == "department" and c is not None and c.owner == p.department


def visible(cfg: Settings, decl: Declarations, p: Principal, status: str | None = None) -> list[dict]:
    """Admins see every grant; a department the grants on its categories and its own; others their own."""
    q = select(grants).order_by(grants.c.requested_at.desc())
    if p.role == "department":
        mine = [c.id for c in catalogue.current(cfg, decl).categories.values() if c.owner == p.department]
        q = q.where(or_(grants.c.client_id == p.client_id, grants.c.category_id.in_(mine)))
    elif p.role != "admin":
        q = q.where(grants.c.client_id == p.client_id)
    if status:
        q = q.where(grants.c.status == status)
    with engine(cfg.hub_db_uri).connect() as con:
        return [_row(r) for r in con.execute(q.limit(1000))]


_LIVE = select(grants).where(and_(
    grants.c.client_id == bindparam("client"), grants.c.category_id == bindparam("category"),
    grants.c.status == "approved", grants.c.starts_at <= bindparam("at"), grants.c.expires_at > bindparam("at")))
"""Built once: asked on every data request."""


def live(cfg: Settings, p: Principal, category_id: str, at: datetime | None = None) -> list[dict]:
    with engine(cfg.hub_db_uri).connect() as con:
        rows = con.execute(_LIVE, {"client": p.client_id, "category": category_id, "at": at or now_cst()}).all()
    return [dict(r._mapping) for r in rows]


def access(cfg: Settings, decl: Declarations, p: Principal, c: Category, dataset: str) -> Access:
    """What ``p`` may read of ``dataset`` (of category ``c``); ``Forbidden`` if nothing."""
    personal = decl.contract(dataset).personal_fields
    if p.role == "department" and p.department == c.owner:
        return Access(None, frozenset(personal), ())
    if not c.should_share:
        raise Forbidden(f"category {c.id} is not shared ({c.legal_basis})")
    held = live(cfg, p, c.id)
    if c.share_type == "conditional" and not held:
        raise Forbidden(f"category {c.id} is shared on condition: it needs an approved, unexpired grant "
                              "(POST /v1/grants), which this client does not have")
    unmasked = frozenset(f for g in held for f in g["fields"]) & personal
    if p.role == "county" and not any(g["scope"] == "city" for g in held):
        regions = [p.region]
    else:
        regions = None
    return Access(regions, unmasked, tuple(g["id"] for g in held))
