"""Who may read what beyond a dataset's own records, each policy said once: the rows
behind an indicator's value (its evidence), open data's condition, and the audit log.

Each answers what the caller may read or raises the hub's error saying why not
(``Forbidden``, ``Unauthorized``, ``NotFound``); the API applies them as dependencies
and audits the refusals.

**Evidence** is rows of the indicator's input datasets, so it passes the access
decision of those datasets' records (:func:`cityhub.access.grants.access`), input by
input, for every role alike:

- a county or a department reads what it could read of the records (a grant for a
  conditional category, its own county's values unless a grant says city-wide);
- the scoring layer verifies values: it reads the evidence of unconditionally shared
  categories, of conditional ones only with a live grant (it applies for one as a
  county does, ``POST /v1/grants``; the owner decides), never of categories that are
  not shared;
- an admin decides on grants and holds none: unconditional categories only;
- the owning department reads its own categories' evidence;
- the hub's own facts (system datasets outside the catalogue, e.g. ``category_facts``
  behind #27, #28, #30) are evidence for every client; any other dataset that no
  category serves is not served as evidence either.

Personal fields are never part of evidence, whatever a grant names
(``cityhub.pipelines.indicators.evidence`` leaves them out).
"""
from __future__ import annotations

from dataclasses import dataclass

from cityhub.access import grants
from cityhub.access.catalogue import Catalogue
from cityhub.access.clients import Principal
from cityhub.core.errors import Forbidden, NotFound, Unauthorized
from cityhub.core.settings import Settings
from cityhub.declarations import Declarations
from cityhub.declarations.catalogue import Category
from cityhub.declarations.contracts import Contract

# -- evidence ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceInput:
    """One input dataset of an indicator, as the caller may read it."""
    dataset: str
    category: str | None
    """The catalogue category that serves it (None: the hub's own facts)."""
    grants: tuple[str, ...]
    """Ids of the grants that allowed it (for the audit log)."""


class Refused(Forbidden):
    """A refusal for one dataset of one category (named in the audit entry)."""

    def __init__(self, detail: str, dataset: str | None = None, category: str | None = None):
        super().__init__(detail)
        self.dataset, self.category = dataset, category


def evidence(cfg: Settings, decl: Declarations, cat: Catalogue, p: Principal, code: str) -> list[EvidenceInput]:
    """What ``p`` may read of the rows behind indicator ``code``'s values (see the module's
    text); ``Refused`` naming the first input it may not read, ``NotFound`` for an
    undeclared indicator."""
    out = []
    for d in decl.indicator(code).inputs:
        c = cat.category_of(d)
        if c is None:
            if not decl.contract(d).system or d == "quarantine":
                raise Refused(f"the evidence of {code} is rows of {d}, which no catalogue category serves",
                              dataset=d)
            out.append(EvidenceInput(d, None, ()))
            continue
        try:
            acc = grants.access(cfg, decl, p, c, d)
        except Forbidden as e:
            raise Refused(f"the evidence of {code} is rows of {d}: {e.detail}", dataset=d, category=c.id) from None
        out.append(EvidenceInput(d, c.id, acc.grants))
    return out


# -- open data ---------------------------------------------------------------------------


class TokenRequired(Unauthorized):
    """No token where one is needed (answered with a bare ``WWW-Authenticate: Bearer``)."""


@dataclass(frozen=True)
class OpenDataset:
    contract: Contract
    category: Category
    public: list[str]
    """Its public fields: the only ones open data serves (others are left out, not masked)."""


def open_dataset(decl: Declarations, cat: Catalogue, dataset: str) -> OpenDataset:
    """``dataset`` as open data: its category is open and shared and it has public fields;
    ``NotFound`` otherwise."""
    c = decl.contracts.get(dataset)
    category = cat.category_of(dataset)
    public = [f.name for f in c.fields if f.sensitivity == "public"] if c else []
    if c is None or category is None or not category.should_open or not category.should_share or not public:
        raise NotFound(f"no open dataset {dataset!r}; see GET /v1/open/catalog")
    return OpenDataset(c, category, public)


def open_condition(cfg: Settings, decl: Declarations, p: Principal | None, od: OpenDataset) -> None:
    """Open data's condition: an unconditionally open category needs no token; a
    conditionally open one any registered client's token; and one shared on condition
    the same live grant as its records (``TokenRequired``, ``Forbidden``)."""
    c = od.category
    if c.open_type != "conditional" and c.share_type != "conditional":
        return
    if p is None:
        raise TokenRequired(f"category {c.id} is open on condition: register for a client and send its token")
    if c.share_type == "conditional":
        grants.access(cfg, decl, p, c, od.contract.name)


# -- the audit log -------------------------------------------------------------------------


def audit_categories(cat: Catalogue, p: Principal) -> list[str] | None:
    """The categories whose entries ``p`` may read in the audit log: every entry for an
    admin (None), a department's own categories' entries; ``Forbidden`` for the others."""
    if p.role == "admin":
        return None
    if p.role == "department":
        return [c.id for c in cat.categories.values() if c.owner == p.department]
    raise Forbidden(f"client {p.name!r} has role {p.role}: the audit log is for admins and departments")


# -- the quarantine ------------------------------------------------------------------------


def quarantine_datasets(cat: Catalogue, p: Principal) -> list[str] | None:
    """The datasets whose quarantined items ``p`` may read and release: every one for an
    admin (None), a department's own categories' datasets; ``Forbidden`` for the others."""
    return _operated_datasets(cat, p, "the quarantine is for admins and the departments that own the data")


def quarantine_unmasked(cat: Catalogue, p: Principal, dataset: str) -> bool:
    """Whether ``p`` reads a quarantined item of ``dataset`` as sent, personal data
    included: only the department that owns the dataset (it sent the data)."""
    c = cat.category_of(dataset)
    return p.role == "department" and c is not None and c.owner == p.department


# -- the feeds' operation (the engineers' console) -----------------------------------------


def operations_datasets(cat: Catalogue, p: Principal) -> list[str] | None:
    """The datasets whose feeds ``p`` may watch (connector runs, freshness, lag, drift,
    failures): every one for an admin, who operates the hub (None); a department its own
    categories' datasets, whose feeds it sends; ``Forbidden`` for the others."""
    return _operated_datasets(cat, p, "the connectors' status is for admins and the departments that send the data")


def _operated_datasets(cat: Catalogue, p: Principal, refusal: str) -> list[str] | None:
    """Every dataset for an admin (None), a department's own categories' datasets, and
    ``Forbidden`` with ``refusal`` for the other roles."""
    if p.role == "admin":
        return None
    if p.role == "department":
        return sorted(d for c in cat.categories.values() if c.owner == p.department for d in c.datasets)
    raise Forbidden(f"client {p.name!r} has role {p.role}: {refusal}")
