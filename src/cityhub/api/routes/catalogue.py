"""The resource catalogue: departments and data categories."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from cityhub.access import catalogue
from cityhub.access.catalogue import Catalogue
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import Admin, Caller, Hub, HubDep
from cityhub.api.problems import Problem
from cityhub.api.spec import problems
from cityhub.declarations.catalogue import Category, Department, OpenType, ShareType
from cityhub.declarations.fieldtypes import FieldTypeName, MaskKind, Sensitivity

router = APIRouter(tags=["catalogue"])


class CategoryDataset(BaseModel):
    id: str = Field(description="the dataset's name: /v1/datasets/{id}/records")
    title: str
    key: list[str] = Field(description="the fields that identify a row")


class CategoryField(BaseModel):
    dataset: str | None = Field(None, description="the dataset it is a field of (none: declared, not fed yet)")
    name: str
    type: FieldTypeName
    sensitivity: Sensitivity
    filterable: bool | None = Field(None, description="whether the records routes filter on it")
    description: str | None = None
    mask: MaskKind | None = Field(None, description="how a personal field is masked without a grant naming it")


class _CategoryHead(BaseModel):
    """What the catalogue and the open catalogue say alike of a category."""
    id: str
    name_zh: str
    name_en: str
    owner: str = Field(description="the owning department's id")
    owner_name_zh: str | None
    share_type: ShareType
    open_type: OpenType
    update_cycle: str
    credit: bool = Field(description="social credit information (公共信用信息): counts for #30")
    fed: bool = Field(description="whether a feed lands its data in the hub")


class CategoryOut(_CategoryHead):
    """A data category of the resource catalogue (数据资源目录)."""
    legal_basis: str | None
    datasets: list[CategoryDataset]
    fields: list[CategoryField]


class DepartmentOut(BaseModel):
    id: str
    name_zh: str
    name_en: str
    credit_unit: bool


class CatalogOut(BaseModel):
    departments: list[DepartmentOut]
    categories: list[CategoryOut] = Field(description="the categories the caller may see")


class OpenCategoryOut(_CategoryHead):
    """An open data category (conditionally open: a registered client's token is needed),
    its public fields only."""
    datasets: list[CategoryDataset] = Field(description="its open records are /v1/open/datasets/{id}/records")
    fields: list[CategoryField] = Field(description="its public fields: the only ones open data serves")


class OpenCatalogOut(BaseModel):
    categories: list[OpenCategoryOut] = Field(description="the categories that are open and shared")


CatalogAudit = Annotated[AuditEntry, audited("catalog")]


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


@router.get("/v1/catalog", response_model=CatalogOut, responses=problems(401),
            summary="Departments and the data categories the caller may see")
def catalog(hub: HubDep, p: Caller, entry: CatalogAudit):
    cat = hub.catalogue()
    out = [category_json(hub, cat, c) for c in cat.visible_to(p.role, p.department)]
    entry.note(rows=len(out))
    return {"departments": [d.model_dump() for d in cat.departments.values()], "categories": out}


@router.get("/v1/catalog/categories/{category_id}", response_model=CategoryOut, responses=problems(401, 404),
            summary="One data category")
def catalog_category(category_id: str, hub: HubDep, p: Caller, entry: CatalogAudit):
    entry.note(category=category_id)
    cat = hub.catalogue()
    c = cat.categories.get(category_id)
    if c is None or c not in cat.visible_to(p.role, p.department):
        raise Problem(404, f"no category {category_id!r} you may see; see GET /v1/catalog")
    entry.note(rows=1)
    return category_json(hub, cat, c)


@router.put("/v1/catalog/categories/{category_id}", response_model=CategoryOut,
            responses={201: {"model": CategoryOut, "description": "Created"}, **problems(400, 401, 403, 409)},
            summary="Create or replace a data category (admin)")
def put_category(category_id: str, body: Category, hub: HubDep, entry: Annotated[AuditEntry, audited("catalog.put")], p: Admin,
                 response: Response):
    entry.note(category=category_id)
    if body.id != category_id:
        raise Problem(400, f"the body's id {body.id!r} is not the path's {category_id!r}")
    created = catalogue.put_category(hub.cfg, hub.decl, body, by=p.name)
    entry.note(filters={"created": created}, rows=1)
    response.status_code = 201 if created else 200
    return category_json(hub, catalogue.current(hub.cfg, hub.decl, 0), body)


@router.delete("/v1/catalog/categories/{category_id}", status_code=204, responses=problems(401, 403, 404),
               summary="Remove a data category (admin); its datasets are then no longer served")
def delete_category(category_id: str, hub: HubDep, entry: Annotated[AuditEntry, audited("catalog.delete")], p: Admin):
    entry.note(category=category_id)
    catalogue.delete_category(hub.cfg, category_id)
    entry.note(rows=1)
    return Response(status_code=204)


@router.put("/v1/catalog/departments/{department_id}", response_model=DepartmentOut,
            responses={201: {"model": DepartmentOut, "description": "Created"}, **problems(400, 401, 403)},
            summary="Create or replace a department (admin)")
def put_department(department_id: str, body: Department, hub: HubDep, entry: Annotated[AuditEntry, audited("catalog.put_department")],
                   p: Admin, response: Response):
    entry.note(filters={"department": department_id})
    if body.id != department_id:
        raise Problem(400, f"the body's id {body.id!r} is not the path's {department_id!r}")
    created = catalogue.put_department(hub.cfg, hub.decl, body)
    entry.note(filters={"department": department_id, "created": created}, rows=1)
    response.status_code = 201 if created else 200
    return body.model_dump()
