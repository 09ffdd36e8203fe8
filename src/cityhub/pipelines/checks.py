"""``cityhub check``: every declaration, and what it names that only code or the lake
can confirm (mapping functions, the configured city, the definitions stored values were
computed with)."""
from __future__ import annotations

from pathlib import Path

from cityhub.connectors.mapping import unresolved
from cityhub.core.settings import Settings
from cityhub.declarations import Declarations
from cityhub.declarations.indicators import definition
from cityhub.declarations.loading import Problem
from cityhub.lake import Lake
from cityhub.pipelines.indicators import definitions


def check(cfg: Settings, decl: Declarations) -> list[Problem]:
    """Every problem of the declaration set ``cfg`` points at, file by file."""
    problems = list(decl.problems)
    problems += [Problem(f"connectors/{name}.yaml", "function", why) for name, why in unresolved(decl).items()]
    if cfg.city not in decl.cities:
        problems.append(Problem("regions.yaml", "cities", f"the configured city CITYHUB_CITY={cfg.city} is not declared"
                                + (f" ({'; '.join(map(str, decl.disabled[f'city:{cfg.city}']))})"
                                   if f"city:{cfg.city}" in decl.disabled else "")))
    lake = _existing_lake(cfg, decl)
    if lake is not None:
        declared = [definition(ind, decl.views) for ind in decl.indicators.values()]
        for d, version in definitions.changed_without_new_version(lake, declared):
            problems.append(Problem("indicators.yaml", f"indicator {d.indicator.code}.version",
                                    f"its queries changed, but values computed with other queries are stored as "
                                    f"version {version}: give the changed definition version {version + 1}"))
    return problems


def _existing_lake(cfg: Settings, decl: Declarations) -> Lake | None:
    """The hub's lake when it has one (check never creates one)."""
    if cfg.catalog_uri.startswith("sqlite:///") and not Path(cfg.catalog_uri[len("sqlite:///"):]).exists():
        return None
    return Lake(cfg, decl)


def by_file(problems: list[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        out.setdefault(p.file, []).append(p)
    return out
