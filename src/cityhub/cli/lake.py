"""``cityhub lake``: keeping the lake in shape (``cityhub.pipelines.maintenance``)."""
from __future__ import annotations

import json

import typer
from rich.table import Table

from cityhub.cli.context import console, obtain
from cityhub.pipelines import maintenance

app = typer.Typer(help="The lake: compaction, snapshot expiry, clean-up.", no_args_is_help=True)


@app.command("maintain")
def maintain(
    ctx: typer.Context,
    tables: list[str] = typer.Argument(None, help="tables to maintain (default: every table of the lake)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="change nothing: print what would be compacted and go"),
    retention_days: int | None = typer.Option(None, min=0, help="keep snapshots current within this many days "
                                                 "(default CITYHUB_SNAPSHOT_RETENTION_DAYS)"),
    min_age_hours: float | None = typer.Option(None, min=0, help="remove unreferenced files only once this old "
                                                  "(default CITYHUB_ORPHAN_MIN_AGE_HOURS)"),
    as_json: bool = typer.Option(False, "--json", help="the report as one JSON object"),
):
    """Compact small files, expire snapshots the retention no longer keeps (never one a
    stored indicator value names as evidence, nor a table's current one), and delete the
    files no kept snapshot reaches."""
    hub = obtain(ctx)
    cfg = hub.cfg.model_copy(update={k: v for k, v in (("snapshot_retention_days", retention_days),
                                                       ("orphan_min_age_hours", min_age_hours)) if v is not None})
    lake = hub.lake
    for t in tables or ():
        if not lake.exists(t):
            raise typer.BadParameter(f"the lake has no table {t!r}", param_hint="TABLES")
    report = maintenance.maintain(lake, maintenance.Policy.from_settings(cfg), dry_run=dry_run,
                                  tables=tables or None)
    summary = report.as_dict()
    if as_json:
        typer.echo(json.dumps(summary))
        return
    would = "would " if dry_run else ""
    table = Table("table", "snapshots", f"{would}expire", "kept as evidence", f"{would}compact",
                  f"{would}delete files", "orphans", "MB freed")
    for t in summary["tables"]:
        table.add_row(t["table"], str(t["snapshots"]), str(t["expired"]), str(t["kept_as_evidence"]),
                      f"{t['compacted_files']} -> {t['written_files']}" if t["compacted_files"] else "-",
                      str(t["deleted_files"]), f"{t['orphans']} (+{t['young_orphans']} young, left)"
                      if t["young_orphans"] else str(t["orphans"]), f"{t['bytes_freed'] / 1e6:.1f}")
    console().print(table)
    if dry_run:
        for t in report.tables:
            for path in [*t.deleted, *t.orphans]:
                typer.echo(f"would delete {path}")
    console().print(f"{would}expire {summary['expired']} snapshot(s), {would}delete {summary['deleted_files']} "
                    f"file(s), {summary['bytes_freed'] / 1e6:.1f} MB", highlight=False)
