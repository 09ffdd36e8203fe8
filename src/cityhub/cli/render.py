"""Tables the commands print."""
from __future__ import annotations

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityhub.cli.context import console


def progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                    console=console(), transient=False)


def drift_note(drift: dict | None) -> str:
    """+new -missing ~type-changed fields, compactly."""
    if not drift:
        return ""
    parts = [f"+{k}" for k in drift.get("new_fields", {})] + [f"-{k}" for k in drift.get("missing_fields", {})]
    parts += [f"~{k.split(':')[0]}" for k in drift.get("type_changes", {})]
    return "drift " + " ".join(parts) if parts else ""


def run_table(reports, failed: dict | None = None) -> Table:
    table = Table("connector", "units", "received", "landed", "quarantined", "already landed", "note")
    for name, r in reports.items():
        note = r.skipped or (drift_note(r.drift.as_dict()) if r.drift else "")
        table.add_row(name, str(r.units), str(r.received), str(r.landed), str(r.quarantined),
                      str(r.already_landed), note)
    for name, e in (failed or {}).items():
        table.add_row(name, "-", "-", "-", "-", "-", f"[red]failed: {e}[/red]")
    return table


def indicator_table(rows: list[dict]) -> Table:
    table = Table("code", "region", "period", "value", "numerator", "denominator", "reason")
    for r in rows:
        v = "-" if r["value"] is None else f"{r['value']:.4f}"
        n = "-" if r["numerator"] is None else f"{r['numerator']:.0f}"
        d = "-" if r["denominator"] is None else f"{r['denominator']:.0f}"
        table.add_row(r["code"], r["region"], r["period"], v, n, d, r["reason"] or "")
    return table
