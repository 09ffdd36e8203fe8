"""Tables the commands print."""
from __future__ import annotations

import json

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
    table = Table("connector", "units", "received", "landed", "quarantined", "already landed", "corrected", "note")
    for name, r in reports.items():
        note = r.skipped or "; ".join(filter(None, [drift_note(r.drift.as_dict()) if r.drift else "",
                                                   *(g.reason() for g in r.gaps)]))
        table.add_row(name, str(r.units), str(r.received), str(r.landed), str(r.quarantined),
                      str(r.already_landed), str(r.corrected), note)
    for name, e in (failed or {}).items():
        table.add_row(name, "-", "-", "-", "-", "-", "-", f"[red]failed: {e}[/red]")
    return table


def _num(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def indicator_table(rows: list[dict]) -> Table:
    """Values in the standard's scope, with the whole area's figure beside them."""
    table = Table("code", "indicator", "region", "period", "value", "numerator", "denominator", "whole area",
                  "reason")
    for r in rows:
        whole = next((x for x in json.loads(r.get("components") or "[]") if x["code"] == f"{r['code']}.whole"), None)
        table.add_row(r["code"], r.get("name_zh") or r["name"], r["region"], r["period"], _num(r["value"], ".4f"),
                      _num(r["numerator"], ".0f"), _num(r["denominator"], ".0f"),
                      _num(whole["value"], ".4f") if whole else "", r["reason"] or "")
    return table


def scopes(rows: list[dict]) -> list[str]:
    """The scopes the values were counted over, each once."""
    return list(dict.fromkeys(f"{r['region']}: {r['scope']}" for r in rows if r.get("scope")))
