"""``cityhub clients``: API clients and their OAuth2 credentials."""
from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from cityhub.access import clients
from cityhub.cli.context import console, fail, obtain
from cityhub.core.errors import CityHubError

app = typer.Typer(help="API clients and their tokens.", no_args_is_help=True)


@app.command("create")
def clients_create(
    ctx: typer.Context,
    name: str = typer.Option(...), role: str = typer.Option(..., help="county, department, scoring or admin"),
    region: Optional[str] = typer.Option(None, help="county code (required for role county)"),
    department: Optional[str] = typer.Option(None, help="department id (required for role department)"),
):
    """Register an API client and print its OAuth2 client credentials as JSON
    (the secret is shown once and stored hashed; POST /v1/token exchanges them)."""
    c = obtain(ctx)
    try:
        p, secret = clients.create(c.cfg, c.decl, name, role, region, department)
    except CityHubError as e:
        fail(e.detail)
    typer.echo(json.dumps({"client_id": p.client_id, "client_secret": secret, "name": p.name, "role": p.role,
                           "region": p.region, "department": p.department}))


@app.command("rotate-secret")
def clients_rotate(ctx: typer.Context, name: str):
    """Give a client a new secret (the old one stops working)."""
    try:
        typer.echo(clients.rotate_secret(obtain(ctx).cfg, name))
    except CityHubError as e:
        fail(e.detail)


@app.command("token")
def clients_token(ctx: typer.Context, name: str):
    """Issue a short-lived token for an existing client (an operator's shortcut for POST /v1/token)."""
    cfg = obtain(ctx).cfg
    try:
        typer.echo(clients.issue_token(cfg, clients.by_name(cfg, name)))
    except CityHubError as e:
        fail(e.detail)


@app.command("list")
def clients_list(ctx: typer.Context):
    table = Table("name", "client id", "role", "region", "department", "disabled", "created")
    for c in clients.list_clients(obtain(ctx).cfg):
        table.add_row(c["name"], c["id"], c["role"], c["region"] or "", c["department"] or "", str(c["disabled"]),
                      str(c["created_at"]))
    console().print(table)


@app.command("disable")
def clients_disable(ctx: typer.Context, name: str):
    """Disable a client: its tokens stop working at once."""
    _set_disabled(ctx, name, True)


@app.command("enable")
def clients_enable(ctx: typer.Context, name: str):
    """Enable a disabled client again: its unexpired tokens and its credentials work again."""
    _set_disabled(ctx, name, False)


def _set_disabled(ctx: typer.Context, name: str, disabled: bool) -> None:
    try:
        clients.set_disabled(obtain(ctx).cfg, name, disabled)
    except CityHubError as e:
        fail(e.detail)
    console().print(f"client {name} {'disabled' if disabled else 'enabled'}")
