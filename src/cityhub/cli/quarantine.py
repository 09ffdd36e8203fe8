"""``cityhub quarantine``: what the hub refused, read, released back through the landing
once fixed, and expired after the declared retention. Every read is audited; raw items are
shown with personal data masked unless ``--unmasked`` (audited as such)."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from cityhub.access import audit
from cityhub.cli.context import console, obtain
from cityhub.pipelines import quarantine

app = typer.Typer(help="Quarantined items: list, show, release once fixed, expire.", no_args_is_help=True)


@app.command("list")
def quarantine_list(
    ctx: typer.Context,
    connector: Optional[str] = typer.Option(None, help="only this connector's items"),
    dataset: Optional[str] = typer.Option(None, help="only items meant for this dataset"),
    reason: Optional[str] = typer.Option(None, help="reasons starting with this (a rule: 'pattern', 'wrong_encoding')"),
    limit: int = typer.Option(50, min=1, help="newest first, at most this many"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line (raw masked)"),
):
    """Quarantined items, newest first, with their id, source and reason."""
    hub = obtain(ctx)
    found = quarantine.items(hub.lake, connector=connector, dataset=dataset, reason=reason, limit=limit)
    audit.record(hub.cfg, None, "cli.quarantine.list", dataset=dataset, rows=len(found),
                 filters={"connector": connector, "reason": reason, "limit": limit})
    if as_json:
        for it in found:
            typer.echo(json.dumps(_json(quarantine.masked(it, hub.decl.contracts.get(it.dataset))), ensure_ascii=False))
        return
    table = Table("id", "quarantined", "connector", "source", "reason")
    for it in found:
        table.add_row(it.id, f"{it.quarantined_at:%Y-%m-%d %H:%M}", it.connector, it.source[-40:], it.reason[:90])
    console().print(table)
    console().print(f"{len(found)} item(s); read one with: cityhub quarantine show ID", highlight=False)


@app.command("show")
def quarantine_show(
    ctx: typer.Context,
    item_id: str = typer.Argument(..., help="an id from `cityhub quarantine list`"),
    unmasked: bool = typer.Option(False, "--unmasked", help="the raw item as sent, personal data included (audited)"),
):
    """One item: where it came from, why it was refused, and its raw text."""
    hub = obtain(ctx)
    it = quarantine.item(hub.lake, item_id)
    audit.record(hub.cfg, None, "cli.quarantine.show", dataset=it.dataset, rows=1,
                 filters={"item": it.id, "unmasked": unmasked})
    if not unmasked:
        it = quarantine.masked(it, hub.decl.contracts.get(it.dataset))
    typer.echo(json.dumps(_json(it), ensure_ascii=False, indent=2))


@app.command("release")
def quarantine_release(
    ctx: typer.Context,
    item_ids: list[str] = typer.Argument(..., help="ids from `cityhub quarantine list`"),
    raw: Optional[Path] = typer.Option(None, help="a file holding the fixed raw text of the one item released"),
    as_of: Optional[str] = typer.Option(None, help="as-of day YYYY-MM-DD of snapshot datasets "
                                                   "(default: the day the item was quarantined)"),
):
    """Send items back through their connector's landing once the cause is fixed (a
    declaration, or the item itself with --raw): each lands or comes back with its new
    reason. Exit 1 when any came back."""
    hub = obtain(ctx)
    fixed = raw.read_text(encoding="utf-8") if raw is not None else None
    out = quarantine.release(hub.lake, item_ids, raw=fixed, as_of=date.fromisoformat(as_of) if as_of else None)
    audit.record(hub.cfg, None, "cli.quarantine.release", rows=len(item_ids),
                 filters={"items": item_ids, "fixed": fixed is not None})
    for i in out.landed:
        console().print(f"{i}: landed", highlight=False)
    for i in out.already_landed:
        console().print(f"{i}: already landed (removed from the quarantine)", highlight=False)
    for i, reasons in out.refused.items():
        console().print(f"[red]{i}: refused again: {'; '.join(reasons)}[/red]", highlight=False)
    if out.refused:
        raise typer.Exit(1)


@app.command("expire")
def quarantine_expire(
    ctx: typer.Context,
    older_than_days: Optional[int] = typer.Option(None, help="default: CITYHUB_QUARANTINE_RETENTION_DAYS"),
):
    """Remove items older than the retention (older lake snapshots still hold them)."""
    hub = obtain(ctx)
    days = older_than_days or hub.cfg.quarantine_retention_days
    n = quarantine.expire(hub.lake, days)
    console().print(f"{n} item(s) older than {days} days removed from the quarantine", highlight=False)


def _json(it: quarantine.Item) -> dict:
    return {**it.__dict__, "quarantined_at": it.quarantined_at.isoformat()}
