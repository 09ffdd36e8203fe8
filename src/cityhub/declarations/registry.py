"""The whole set of declarations, loaded once per folder, with what is broken.

Each file, and each item inside the shared files (an indicator, a city, a
department, a category), is validated on its own. A broken one is left out with
its problems, and so is what depends on it (a connector whose contract is broken,
an indicator whose input is): the rest of the hub keeps working, and
``cityhub check`` and Airflow's import errors name exactly what was left out.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cityhub.core.errors import ConfigurationError, DeclarationError, NotFound
from cityhub.declarations.catalogue import CatalogueFile, Category, Department, OpenData, category_problems, cycle
from cityhub.declarations.connectors import ConnectorSpec
from cityhub.declarations.contracts import Contract
from cityhub.declarations.indicators import Indicator, IndicatorFile
from cityhub.declarations.loading import Document, Problem, names, packaged_root, read, validate
from cityhub.declarations.regions import City
from cityhub.declarations.sql import bind_check
from cityhub.declarations.thresholds import StarThresholds


@dataclass(frozen=True)
class DeclaredCatalogue:
    """The declared catalogue: departments, categories, cycles, tolerance."""
    departments: dict[str, Department]
    categories: dict[str, Category]
    update_cycles: dict[str, timedelta]
    quality_tolerance: float
    open_data: OpenData = field(default_factory=OpenData)
    """Licence and contact of the open data (``open_data:``)."""


@dataclass(frozen=True)
class Declarations:
    root: Path
    contracts: dict[str, Contract]
    connectors: dict[str, ConnectorSpec]
    views: dict[str, str]
    indicators: dict[str, Indicator]
    cities: dict[str, City]
    catalogue: DeclaredCatalogue
    thresholds: StarThresholds | None
    problems: tuple[Problem, ...] = ()
    disabled: dict[str, tuple[Problem, ...]] = field(default_factory=dict)
    """``connector:<name>``, ``contract:<name>``, ``indicator:<code>``, ... -> why it was left out."""

    # -- lookups that say what is known ------------------------------------------------

    def contract(self, name: str) -> Contract:
        return self._lookup("contract", self.contracts, name)

    def connector(self, name: str) -> ConnectorSpec:
        return self._lookup("connector", self.connectors, name)

    def indicator(self, code: str) -> Indicator:
        return self._lookup("indicator", self.indicators, code)

    def _lookup(self, kind: str, table: dict, name: str):
        try:
            return table[name]
        except KeyError:
            raise NotFound(f"no {kind} {name!r}{self._why(kind, name)} (declared: {names(sorted(table))})") from None

    def city(self, code: str) -> City:
        """The declared city ``code`` (``37xx00``); a clear error for anything else."""
        try:
            return self.cities[code]
        except KeyError:
            raise ConfigurationError(f"city {code!r} is not declared in regions.yaml{self._why('city', code)} "
                                     f"(known: {names(sorted(self.cities))})") from None

    def city_of(self, region: str) -> City | None:
        """The declared city a city or county code belongs to."""
        return next((c for c in self.cities.values() if c.contains(region)), None)

    def _why(self, kind: str, name: str) -> str:
        found = self.disabled.get(f"{kind}:{name}")
        return f": it is broken ({'; '.join(str(p) for p in found)})" if found else ""

    def broken(self, kind: str) -> dict[str, tuple[Problem, ...]]:
        """What of ``kind`` was left out, by name, with why."""
        prefix = f"{kind}:"
        return {k[len(prefix):]: v for k, v in self.disabled.items() if k.startswith(prefix)}

    def fed_datasets(self) -> list[str]:
        """Datasets some declared connector lands into."""
        return sorted({s.dataset for s in self.connectors.values()})

    def category_of(self, dataset: str) -> Category | None:
        return next((c for c in self.catalogue.categories.values() if dataset in c.datasets), None)


# -- loading ---------------------------------------------------------------------------

_CACHE: dict[Path, tuple[tuple, Declarations]] = {}
_LOCK = threading.Lock()


def load(root: Path | None = None) -> Declarations:
    """The declarations in ``root`` (default: those installed with the hub); read again
    only when a file in it (a declaration or a sample) changed."""
    root = (root or packaged_root()).resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    fingerprint = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    with _LOCK:
        hit = _CACHE.get(root)
        if hit is None or hit[0] != fingerprint:
            hit = _CACHE[root] = (fingerprint, _load(root))
        return hit[1]


class _Loader:
    def __init__(self, root: Path):
        self.root = root
        self.problems: list[Problem] = []
        self.disabled: dict[str, list[Problem]] = {}

    def broken(self, kind: str) -> list[str]:
        return [k.split(":", 1)[1] for k in self.disabled if k.startswith(f"{kind}:")]

    def fail(self, key: str | None, problems: list[Problem]) -> None:
        self.problems.extend(problems)
        if key is not None and problems:
            self.disabled.setdefault(key, []).extend(problems)

    def doc(self, relpath: str) -> Document | None:
        path = self.root / relpath
        if not path.is_file():
            self.fail(None, [Problem(relpath, "", "missing")])
            return None
        docs, problems = read(self.root, [path])
        self.fail(None, problems)
        return docs[0] if docs else None

    def each(self, folder: str, kind: str) -> list[Document]:
        """The YAML files of ``folder``, each declaring one ``kind`` named like the file."""
        docs, problems = read(self.root, sorted((self.root / folder).glob("*.yaml")))
        for p in problems:
            self.fail(f"{kind}:{Path(p.file).stem}", [p])
        return docs


def _load(root: Path) -> Declarations:
    ld = _Loader(root)
    contracts = _contracts(ld)
    connectors = _connectors(ld, contracts)
    cities = _cities(ld)
    views, indicators = _indicators(ld, contracts, cities)
    catalogue = _catalogue(ld, contracts)
    thresholds = _thresholds(ld, indicators)
    return Declarations(root=root, contracts=contracts, connectors=connectors, views=views, indicators=indicators,
                        cities=cities, catalogue=catalogue, thresholds=thresholds, problems=tuple(ld.problems),
                        disabled={k: tuple(v) for k, v in ld.disabled.items()})


def _named(ld: _Loader, kind: str, doc: Document, model, seen: Mapping[str, object]):
    """A file that declares one thing named like the file."""
    stem = Path(doc.file).stem
    item, problems = validate(model, doc.data, doc)
    if item is not None and item.name != stem:
        problems = [doc.problem(("name",), f"{item.name!r} must be the file's name, {stem!r}")]
    elif item is not None and item.name in seen:
        problems = [doc.problem(("name",), f"{item.name!r} is declared twice")]
    ld.fail(f"{kind}:{stem}", problems)
    return None if problems else item


def _contracts(ld: _Loader) -> dict[str, Contract]:
    out: dict[str, Contract] = {}
    docs = {}
    for doc in ld.each("contracts", "contract"):
        c = _named(ld, "contract", doc, Contract, out)
        if c is not None:
            out[c.name] = c
            docs[c.name] = doc
    dropped = True
    while dropped:  # references to other datasets, once all are known (again when one was dropped)
        dropped = False
        for name, c in list(out.items()):
            for i, j, ref in c.references():
                why = _dangling(ref, out, ld)
                if why and name in out:
                    ld.fail(f"contract:{name}", [docs[name].problem(("fields", i, "rules", j, "references"), why)])
                    out.pop(name)
                    dropped = True
    return out


def _dangling(ref, contracts: dict[str, Contract], ld: _Loader) -> str | None:
    """What is wrong with a ``references`` rule's target, if anything."""
    target = contracts.get(ref.dataset)
    if target is None:
        broken = " (it is broken)" if f"contract:{ref.dataset}" in ld.disabled else ""
        return f"references {ref.dataset}, which is not a contract{broken}"
    if not target.has(ref.field):
        return f"references field {ref.field}, which {ref.dataset} does not have"
    return None


def _connectors(ld: _Loader, contracts: dict[str, Contract]) -> dict[str, ConnectorSpec]:
    out: dict[str, ConnectorSpec] = {}
    for doc in ld.each("connectors", "connector"):
        spec = _named(ld, "connector", doc, ConnectorSpec, out)
        if spec is None:
            continue
        c = contracts.get(spec.dataset)
        problems = []
        if c is None:
            broken = ld.disabled.get(f"contract:{spec.dataset}")
            problems.append(doc.problem(("dataset",), f"contract {spec.dataset} is broken" if broken
                                        else f"no contract named {spec.dataset!r} in contracts/"))
        elif c.system:
            problems.append(doc.problem(("dataset",), f"{spec.dataset} is written by the hub itself, not by a feed"))
        else:
            for section in ("columns", "values", "constants", "lookups"):
                for f in getattr(spec, section):
                    if not c.has(f):
                        problems.append(doc.problem((section, f), f"{f!r} is not a field of contract {c.name}"))
            for f, lookup in spec.lookups.items():
                other = contracts.get(lookup.dataset)
                if other is None:
                    problems.append(doc.problem(("lookups", f, "dataset"), f"no contract named {lookup.dataset!r}"))
                    continue
                for mine, theirs in lookup.match.items():
                    if not c.has(mine):
                        problems.append(doc.problem(("lookups", f, "match", mine), f"{mine!r} is not a field of {c.name}"))
                for field in [*lookup.match.values(), lookup.take, *([lookup.newest] if lookup.newest else [])]:
                    if not other.has(field):
                        problems.append(doc.problem(("lookups", f), f"{field!r} is not a field of {lookup.dataset}"))
        if spec.conformance is not None:
            conf = spec.conformance
            for where, files in (("clean", conf.clean), ("faulty", conf.faulty.files)):
                for i, f in enumerate(files):
                    if not (ld.root / "connectors" / f).is_file():
                        problems.append(doc.problem(("conformance", where, i), f"sample file {f} is missing"))
        ld.fail(f"connector:{spec.name}", problems)
        if not problems:
            out[spec.name] = spec
    dropped = True
    while dropped:  # conformance order needs the connectors it names (again when one was dropped)
        dropped = False
        for name, spec in list(out.items()):
            missing = [b for b in (spec.conformance.before if spec.conformance else ()) if b not in out]
            if missing:
                ld.fail(f"connector:{name}", [Problem(f"connectors/{name}.yaml", "conformance.before",
                                                      f"names connector(s) {', '.join(missing)} that are not declared")])
                out.pop(name)
                dropped = True
            missing = [a for a in spec.also if a not in out] if name in out else []
            if missing:
                ld.fail(f"connector:{name}", [Problem(f"connectors/{name}.yaml", "also",
                                                      f"names connector(s) {', '.join(missing)} that are not declared")])
                out.pop(name)
                dropped = True
    return out


def _cities(ld: _Loader) -> dict[str, City]:
    doc = ld.doc("regions.yaml")
    out: dict[str, City] = {}
    if doc is None:
        return out
    raw = doc.data.get("cities") if isinstance(doc.data, dict) else None
    if not isinstance(raw, dict) or set(doc.data) != {"cities"}:
        ld.fail(None, [doc.problem((), "must be a mapping with one key, cities: {code: {name, name_en, counties}}")])
        return out
    for code, body in raw.items():
        city, problems = validate(City, {"code": str(code), **(body if isinstance(body, dict) else {})}, doc,
                                  ("cities", str(code)))
        ld.fail(f"city:{code}", problems)
        if city is not None:
            out[city.code] = city
    return out


def _indicators(ld: _Loader, contracts: dict[str, Contract], cities: dict[str, City]
                ) -> tuple[dict[str, str], dict[str, Indicator]]:
    doc = ld.doc("indicators.yaml")
    if doc is None:
        return {}, {}
    file, problems = validate(IndicatorFile, doc.data, doc)
    if file is None:
        ld.fail("indicators", problems)
        return {}, {}
    out: dict[str, Indicator] = {}
    for i, raw in enumerate(file.indicators):
        ind, problems = validate(Indicator, raw, doc, ("indicators", i))
        key = f"indicator:{raw.get('code', i) if isinstance(raw, dict) else i}"
        if ind is None:
            ld.fail(key, problems)
            continue
        where = ("indicators", i)
        if ind.code in out:
            problems.append(doc.problem(where + ("code",), f"indicator {ind.code} is declared twice"))
        for j, name in enumerate(ind.inputs):
            if name not in contracts:
                problems.append(doc.problem(where + ("inputs", j), f"{name} is not a contract"
                                            + (" (it is broken)" if f"contract:{name}" in ld.disabled else "")))
        for j, name in enumerate(ind.views):
            if name not in file.views:
                problems.append(doc.problem(where + ("views", j), f"no view named {name} under views:"))
        if not problems:
            for part, message in bind_check(ind, file.views, contracts):
                problems.append(doc.problem(where, f"{part}: {message}"))
        ld.fail(f"indicator:{ind.code}", problems)
        if not problems:
            out[ind.code] = ind
    return dict(file.views), out


def catalogue_file(path: Path, decl: Declarations) -> DeclaredCatalogue:
    """A catalogue declared in another file (``cityhub catalog load --file``), checked like
    the installed one; ``DeclarationError`` names every problem."""
    ld = _Loader(path.resolve().parent)
    ld.disabled = {k: list(v) for k, v in decl.disabled.items() if k.startswith("contract:")}
    cat = _catalogue(ld, decl.contracts, path.name)
    if ld.problems:
        raise DeclarationError("; ".join(str(p) for p in ld.problems))
    return cat


def _catalogue(ld: _Loader, contracts: dict[str, Contract], relpath: str = "catalog.yaml") -> DeclaredCatalogue:
    empty = DeclaredCatalogue({}, {}, {}, 0.0)
    doc = ld.doc(relpath)
    if doc is None:
        return empty
    file, problems = validate(CatalogueFile, doc.data, doc)
    if file is None:
        ld.fail("catalogue", problems)
        return empty
    cycles = {k: cycle(v) for k, v in file.update_cycles.items()}
    deps: dict[str, Department] = {}
    for did, body in file.departments.items():
        d, problems = validate(Department, {"id": did, **(body or {})}, doc, ("departments", did))
        ld.fail(f"department:{did}", problems)
        if d is not None:
            deps[d.id] = d
    cats: dict[str, Category] = {}
    claimed: dict[str, str] = {}
    broken = frozenset(ld.broken("contract"))
    for i, raw in enumerate(file.categories):
        c, problems = validate(Category, raw, doc, ("categories", i))
        if c is not None:
            problems = [doc.problem(("categories", i), m)
                        for m in category_problems(c, cycles, contracts, deps, broken)]
            if c.id in cats:
                problems.append(doc.problem(("categories", i, "id"), f"category {c.id} is declared twice"))
            for d in c.datasets:
                if d in claimed and claimed[d] != c.id:
                    problems.append(doc.problem(("categories", i, "datasets"),
                                                f"dataset {d} already belongs to {claimed[d]}"))
        cid = raw.get("id", i) if isinstance(raw, dict) else i
        ld.fail(f"category:{cid}", problems)
        if c is not None and not problems:
            cats[c.id] = c
            claimed.update({d: c.id for d in c.datasets})
    open_data, problems = validate(OpenData, file.open_data or {}, doc, ("open_data",))
    ld.fail("open_data", problems)  # left out: no licence is claimed
    if open_data is None:
        open_data = OpenData()
    elif open_data.contact is not None and open_data.contact not in deps:
        ld.fail("open_data:contact", [doc.problem(("open_data", "contact"),
                                                  f"contact {open_data.contact!r} is not a declared department")])
        open_data = open_data.model_copy(update={"contact": None})
    return DeclaredCatalogue(deps, cats, cycles, file.quality_tolerance, open_data)


def _thresholds(ld: _Loader, indicators: dict[str, Indicator]) -> StarThresholds | None:
    doc = ld.doc("star_thresholds.yaml")
    if doc is None:
        return None
    t, problems = validate(StarThresholds, doc.data, doc)
    if t is not None:
        problems = [doc.problem(("indicators", code), f"no indicator {code} is declared")
                    for code in t.indicators if code not in indicators
                    and f"indicator:{code}" not in ld.disabled]
    ld.fail(None, problems)
    return t
