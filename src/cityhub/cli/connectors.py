"""``cityhub connectors``: declared connectors, their status, dry runs."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from cityhub.cli.context import console, fail, obtain
from cityhub.cli.render import drift_note
from cityhub.core.errors import CityHubError
from cityhub.pipelines.ingest.alerts import alert
from cityhub.pipelines.ingest.runner import dry_run
from cityhub.pipelines.ingest.status import status, unhealthy

app = typer.Typer(help="Declared connectors: list, status, dry runs.", no_args_is_help=True)


@app.command("list")
def connectors_list(ctx: typer.Context):
    """Declared connectors: source, format, dataset, schedule (and those left out as broken)."""
    decl = obtain(ctx).decl
    table = Table("connector", "source", "format", "dataset", "schedule", "fresh within")
    for spec in decl.connectors.values():
        table.add_row(spec.name, spec.source.kind, f"{spec.format.kind} ({spec.format.encoding})", spec.dataset,
                      spec.schedule, f"{spec.freshness_hours:g} h")
    for name, problems in decl.broken("connector").items():
        table.add_row(f"[red]{name}[/red]", "", "", "", "", f"[red]broken: {problems[0]}[/red]")
    console().print(table)


@app.command("status")
def connectors_status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json"),
                      check: bool = typer.Option(False, "--check", help="exit 1 when a configured connector is stale, "
                                                 "failing or has never delivered (for cron and Airflow sensors)")):
    """Last run, rows landed and quarantined, lag and freshness of every connector."""
    rows = status(obtain(ctx).lake)
    if as_json:
        typer.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=1))
    else:
        _status_table(rows)
    if check:
        bad = unhealthy(rows)
        for name, why in bad.items():
            typer.echo(f"{name}: {why}", err=True)
            if why.startswith("stale"):  # a failed run alerted when it failed
                alert(obtain(ctx).cfg, "stale", name, why)
        if bad:
            raise typer.Exit(1)


def _status_table(rows: list[dict]) -> None:
    table = Table("connector", "last run", "result", "landed", "quarantined", "corrected", "lag", "last data", "fresh",
                  "drift")
    for r in rows:
        fresh = {True: "[green]fresh[/green]", False: "[red]stale[/red]", None: "-"}[r["fresh"]]
        table.add_row(r["connector"], str(r["last_run"] or "never")[:19], r["result"][:60], str(r["landed"]),
                      str(r["quarantined"]), str(r["corrected"]), str(r["lag"] if r["lag"] is not None else "-"),
                      str(r["last_data"] or "-")[:19], fresh, drift_note(r["drift"]))
    console().print(table)


@app.command("test")
def connectors_test(ctx: typer.Context, name: str,
                    sample: Path = typer.Option(..., exists=True, dir_okay=False, help="a file in the connector's format")):
    """Dry run: what SAMPLE would land and what would be quarantined, and why. Nothing is committed."""
    try:
        assessment, drift = dry_run(obtain(ctx).lake, name, sample)
    except CityHubError as e:
        fail(e.detail)
    rows = assessment.rows
    console().print(f"[bold]{name}[/bold] on {sample}: {rows.num_rows} row(s) would land, "
                  f"{len(assessment.quarantine)} would be quarantined, "
                  f"{assessment.report.already_landed} already landed, {assessment.report.corrected} corrected")
    if drift:
        console().print(f"schema drift: {json.dumps(drift.as_dict(), ensure_ascii=False)}")
    if rows.num_rows:
        preview = Table(*rows.column_names[:8])
        for r in rows.slice(0, 5).to_pylist():
            preview.add_row(*[str(r[c]) for c in rows.column_names[:8]])
        console().print(preview)
    if assessment.quarantine:
        q = Table("source", "key", "reason")
        for r in assessment.quarantine[:50]:
            q.add_row(r["source"], str(r["record_key"] or ""), r["reason"])
        console().print(q)
