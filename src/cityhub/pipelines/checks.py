"""``cityhub check``: every declaration, and what it names that only code can
confirm (mapping functions, the configured city)."""
from __future__ import annotations

from cityhub.connectors.mapping import unresolved
from cityhub.core.settings import Settings
from cityhub.declarations import Declarations
from cityhub.declarations.loading import Problem


def check(cfg: Settings, decl: Declarations) -> list[Problem]:
    """Every problem of the declaration set ``cfg`` points at, file by file."""
    problems = list(decl.problems)
    problems += [Problem(f"connectors/{name}.yaml", "function", why) for name, why in unresolved(decl).items()]
    if cfg.city not in decl.cities:
        problems.append(Problem("regions.yaml", "cities", f"the configured city CITYHUB_CITY={cfg.city} is not declared"
                                + (f" ({'; '.join(map(str, decl.disabled[f'city:{cfg.city}']))})"
                                   if f"city:{cfg.city}" in decl.disabled else "")))
    return problems


def by_file(problems: list[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        out.setdefault(p.file, []).append(p)
    return out
