"""The data resource catalogue: departments and data categories, from
``schemas/catalog.yaml``, and which categories a caller may see."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from schemas import load_yaml

SHARE_TYPES = ("unconditional", "conditional", "not_shared")
OPEN_TYPES = ("unconditional", "conditional", "not_open")


@dataclass(frozen=True)
class Category:
    id: str
    name_zh: str
    name_en: str
    owner: str
    share_type: str
    open_type: str
    update_cycle: str
    datasets: tuple[str, ...]
    legal_basis: str | None = None


@lru_cache(maxsize=None)
def categories() -> dict[str, Category]:
    doc = load_yaml("catalog.yaml")
    out = {}
    for c in doc["categories"]:
        cat = Category(id=c["id"], name_zh=c["name_zh"], name_en=c["name_en"], owner=c["owner"],
                       share_type=c["share_type"], open_type=c["open_type"], update_cycle=c["update_cycle"],
                       datasets=tuple(c.get("datasets", ())), legal_basis=c.get("legal_basis"))
        if cat.share_type not in SHARE_TYPES or cat.open_type not in OPEN_TYPES:
            raise ValueError(f"category {cat.id}: bad share_type/open_type")
        if cat.share_type == "not_shared" and not cat.legal_basis:
            raise ValueError(f"category {cat.id}: not_shared needs a legal_basis")
        if cat.owner not in doc["departments"]:
            raise ValueError(f"category {cat.id}: unknown owner {cat.owner}")
        out[cat.id] = cat
    return out


def category_of(dataset: str) -> Category | None:
    for c in categories().values():
        if dataset in c.datasets:
            return c
    return None


def visible_to(role: str) -> list[Category]:
    """Categories a caller may discover: admins see everything, others what is shared."""
    return [c for c in categories().values() if role == "admin" or c.share_type != "not_shared"]
