"""The data resource catalogue (资源目录) as declared in ``schemas/catalog.yaml``:
departments, data categories, update cycles and the quality tolerance.

The catalogue lives in the hub database so that admins can manage it through the
API (``cityhub.access.catalogue``); this module is its declaration and the models
both share. Categories with a feed name their lake datasets (fields come from the
contracts); categories with no feed yet declare their fields.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from cityhub.declarations.contracts import Contract
from cityhub.declarations.fieldtypes import FieldTypeName, MaskKind, Sensitivity, check_mask
from cityhub.declarations.loading import Declared

ShareType = Literal["unconditional", "conditional", "not_shared"]
OpenType = Literal["unconditional", "conditional", "not_open"]
Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=64)]
_DURATION = re.compile(r"^(\d+)([hd])$")


def _duration(v: str) -> str:
    if not _DURATION.match(str(v)):
        raise ValueError(f"{v!r} is not like 36h or 8d")
    return v


Duration = Annotated[str, AfterValidator(_duration)]


class FieldDecl(Declared):
    """A field of a category with no feed yet (fed categories take their contract's fields)."""
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    type: FieldTypeName = "string"
    sensitivity: Sensitivity = "public"
    mask: MaskKind | None = None

    @model_validator(mode="after")
    def _masking(self):
        check_mask(self.name, self.sensitivity, self.mask)
        return self


class Department(Declared):
    id: Id
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    credit_unit: bool = False
    """A unit of the social credit system (must share its credit information: #30)."""


class Category(Declared):
    id: Id
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
        return self

    @property
    def should_share(self) -> bool:
        return self.share_type != "not_shared"

    @property
    def should_open(self) -> bool:
        return self.open_type != "not_open"

    def field_list(self, contracts: Mapping[str, Contract]) -> list[dict]:
        """The category's fields: from its datasets' contracts, else as declared."""
        if self.datasets:
            return [{"dataset": d, "name": f.name, "type": f.type, "sensitivity": f.sensitivity,
                     "filterable": f.filterable, "description": f.description}
                    for d in self.datasets if d in contracts for f in contracts[d].fields]
        return [f.model_dump() for f in self.fields]


def category_problems(c: Category, cycles: Mapping[str, timedelta], contracts: Mapping[str, Contract],
                      departments: Mapping[str, object], broken: frozenset[str] = frozenset()) -> list[str]:
    """What a category names that does not exist: its cycle, datasets (``broken``: contracts
    that exist but were left out), owner."""
    out = []
    if c.update_cycle not in cycles:
        out.append(f"update_cycle {c.update_cycle!r} is not one of {', '.join(cycles)}")
    for d in c.datasets:
        if d in broken:
            out.append(f"dataset {d}: its contract is broken")
        elif d not in contracts or d == "quarantine":
            out.append(f"unknown dataset {d}: a dataset needs a contract in contracts/")
    if c.owner not in departments:
        out.append(f"owner {c.owner!r} is not a declared department")
    return out


class Licence(Declared):
    """The licence open data is published under (DCAT ``dct:license``, CKAN ``license_*``)."""
    uri: str = Field(pattern=r"^https?://\S+$", max_length=500, description="the licence document's URI")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100,
                    description="short id (CKAN license_id, e.g. cc-by)")
    title: str = Field(min_length=1, max_length=200)


class OpenData(Declared):
    """How open data is described to portals (``/v1/open/dcat.jsonld``, the CKAN API):
    its licence and who to contact. Without a licence, none is claimed."""
    licence: Licence | None = None
    contact: str | None = Field(None, max_length=64, description="department id of the open-data contact "
                                                                  "(default: each category's owner)")
    contact_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=200)


class CatalogueFile(Declared):
    """``catalog.yaml``; departments, categories and ``open_data`` are validated one by one."""
    update_cycles: dict[str, Duration] = Field(min_length=1)
    quality_tolerance: float = Field(0.0, ge=0, le=1)
    open_data: dict | None = None
    departments: dict[str, dict] = {}
    categories: list[dict] = []


def cycle(text: str) -> timedelta:
    n, unit = _DURATION.match(text).groups()
    return timedelta(hours=int(n)) if unit == "h" else timedelta(days=int(n))
