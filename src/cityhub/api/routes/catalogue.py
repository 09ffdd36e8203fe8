"""The resource catalogue: departments and data categories."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from cityhub.access import catalogue
from cityhub.access.catalogue import Catalogue
from cityhub.api.deps import Admin, Caller, Hub, HubDep
from cityhub.api.problems import Problem
from cityhub.api.responses import json_response
from cityhub.declarations.catalogue import Category, Department

router = APIRouter(tags=["catalogue"])


def category_json(hub: Hub, cat: Catalogue, c: Category) -> dict:
    owner = cat.departments.get(c.owner)
    contracts = hub.decl.contracts
    return {"id": c.id, "name_zh": c.name_zh, "name_en": c.name_en, "owner": c.owner,
            "owner_name_zh": owner.name_zh if owner else None, "share_type": c.share_type,
            "open_type": c.open_type, "update_cycle": c.update_cycle, "credit": c.credit,
            "fed": bool(c.datasets), "legal_basis": c.legal_basis,
            "datasets": [{"id": d, "title": contracts[d].title, "key": list(contracts[d].key)}
                         for d in c.datasets if d in contracts],
            "fields": c.field_list(contracts)}


@router.get("/v1/catalog", summary="Departments and the data categories the caller may see")
def catalog(hub: HubDep, p: Caller):
    cat = hub.catalogue()
    out = [category_json(hub, cat, c) for c in cat.visible_to(p.role, p.department)]
    hub.audit(p, "catalog", rows=len(out))
    return json_response({"departments": [d.model_dump() for d in cat.departments.values()], "categories": out})


@router.get("/v1/catalog/categories/{category_id}", summary="One data category")
def catalog_category(category_id: str, hub: HubDep, p: Caller):
    cat = hub.catalogue()
    c = cat.categories.get(category_id)
    if c is None or c not in cat.visible_to(p.role, p.department):
        raise Problem(404, f"no category {category_id!r} you may see; see GET /v1/catalog")
    hub.audit(p, "catalog", category=category_id, rows=1)
    return json_response(category_json(hub, cat, c))


@router.put("/v1/catalog/categories/{category_id}", status_code=200,
            summary="Create or replace a data category (admin)")
def put_category(category_id: str, body: Category, hub: HubDep, p: Admin):
    if body.id != category_id:
        raise Problem(400, f"the body's id {body.id!r} is not the path's {category_id!r}")
    created = catalogue.put_category(hub.cfg, hub.decl, body, by=p.name)
    hub.audit(p, "catalog.put", category=category_id, filters={"created": created}, rows=1)
    return json_response(category_json(hub, catalogue.current(hub.cfg, hub.decl, 0), body),
                         status=201 if created else 200)


@router.delete("/v1/catalog/categories/{category_id}", status_code=204,
               summary="Remove a data category (admin); its datasets are then no longer served")
def delete_category(category_id: str, hub: HubDep, p: Admin):
    catalogue.delete_category(hub.cfg, category_id)
    hub.audit(p, "catalog.delete", category=category_id, rows=1)
    return Response(status_code=204)


@router.put("/v1/catalog/departments/{department_id}", summary="Create or replace a department (admin)")
def put_department(department_id: str, body: Department, hub: HubDep, p: Admin):
    if body.id != department_id:
        raise Problem(400, f"the body's id {body.id!r} is not the path's {department_id!r}")
    created = catalogue.put_department(hub.cfg, hub.decl, body)
    hub.audit(p, "catalog.put_department", filters={"department": department_id, "created": created}, rows=1)
    return json_response(body.model_dump(), status=201 if created else 200)
