"""``cityhub catalog``: the resource catalogue in the hub database."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from cityhub.access import catalogue
from cityhub.cli.context import console, fail, obtain
from cityhub.core.errors import DeclarationError
from cityhub.declarations.registry import catalogue_file

app = typer.Typer(help="The data resource catalogue (departments, categories).", no_args_is_help=True)


@app.command("load")
def catalog_load(ctx: typer.Context,
                 file: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                     help="a declaration like schemas/catalog.yaml (the default)"),
                 replace: bool = typer.Option(False, "--replace", help="remove categories the file does not declare")):
    """Load (upsert) the catalogue declaration into the hub database."""
    c = obtain(ctx)
    try:
        declared = catalogue_file(file, c.decl) if file else None
    except DeclarationError as e:
        fail(e.detail)
    deps, cats = catalogue.load(c.cfg, c.decl, replace=replace, declared=declared)
    console().print(f"loaded {deps} departments and {cats} categories")


@app.command("list")
def catalog_list(ctx: typer.Context):
    """Categories with their share and open types, and whether a feed brings their data."""
    c = obtain(ctx)
    t = Table("category", "name", "owner", "share", "open", "cycle", "credit", "datasets")
    for cat in catalogue.current(c.cfg, c.decl).categories.values():
        t.add_row(cat.id, cat.name_zh, cat.owner, cat.share_type, cat.open_type, cat.update_cycle,
                  "yes" if cat.credit else "", ", ".join(cat.datasets) or "[dim]no feed[/dim]")
    console().print(t)
