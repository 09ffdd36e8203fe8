"""``cityhub indicators``: compute, show and keep "now" current."""
from __future__ import annotations

from datetime import date
from typing import Optional

import typer

from cityhub.cli.context import console, obtain
from cityhub.cli.render import indicator_table, progress, scopes
from cityhub.core.time import now_cst
from cityhub.pipelines.indicators.engine import compute, latest, watch

app = typer.Typer(help="DB37/T 3890.1 indicator values.", no_args_is_help=True)


@app.command("compute")
def indicators_compute(
    ctx: typer.Context,
    day: Optional[str] = typer.Option(None, help="YYYY-MM-DD; default today (CST)"),
    code: list[str] = typer.Option(None, help="only these indicator codes"),
):
    """Compute indicators for the city and every county (day, month to date, year to date)."""
    lake = obtain(ctx).lake
    with progress() as prog:
        prog.add_task("computing indicators", total=None)
        rows = compute(lake, date.fromisoformat(day) if day else now_cst().date(), code or None)
    console().print(indicator_table(rows))
    for line in scopes(rows):
        console().print(f"  {line}", highlight=False)


@app.command("watch")
def indicators_watch(ctx: typer.Context,
                     interval: float = typer.Option(10.0, help="seconds between checks for new data")):
    """Recompute today's "now" values whenever an input dataset gets new data."""
    console().print(f"watching the indicator inputs every {interval:g}s (Ctrl-C to stop)")
    watch(obtain(ctx).lake, interval,
          on_refresh=lambda seen: console().print(f"recomputed now: {sum(1 for v in seen.values() if v)} inputs"))


@app.command("show")
def indicators_show(ctx: typer.Context, code: Optional[str] = None, region: Optional[str] = None,
                    period: Optional[str] = None):
    """The latest stored values, with the scope each was counted over."""
    rows = latest(obtain(ctx).lake, code=code, region=region, period_label=period)
    console().print(indicator_table(rows))
    for line in scopes(rows):
        console().print(f"  {line}", highlight=False)
