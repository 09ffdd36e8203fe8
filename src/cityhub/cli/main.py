"""``cityhub``: the command line. Commands are thin: they parse options and call
library code. The settings are built once per invocation (``cityhub.cli.context``).

Other distributions add commands through the ``cityhub.commands`` entry point group
(the simulators add ``simulate`` and the ``run`` demo)."""
from __future__ import annotations

import logging
from datetime import date
from importlib.metadata import entry_points
from typing import Optional

import typer
from typer.core import TyperGroup

from cityhub.api.serve import serve as serve_api
from cityhub.cli import catalog, clients, connectors, indicators, quarantine, reports
from cityhub.cli import lake as lake_cli
from cityhub.cli.context import console, fail, obtain
from cityhub.cli.render import progress, run_table
from cityhub.core import logs
from cityhub.core.errors import CityHubError
from cityhub.core.files import private_files
from cityhub.pipelines.checks import by_file, check
from cityhub.pipelines.ingest.runner import run_all

class _Hub(TyperGroup):
    """The root command: a hub error from any command is one line and exit code 2, in the
    script and in-process alike (not a traceback)."""

    def invoke(self, ctx):
        private_files()
        logs.configure(obtain(ctx).cfg)  # CITYHUB_LOG_FORMAT / _LEVEL, once per invocation (bad settings: exit 2)
        try:
            return super().invoke(ctx)
        except CityHubError as e:
            fail(e.detail)


app = typer.Typer(cls=_Hub, help="CityHub: the city brain's data-sharing hub.", no_args_is_help=True)
app.add_typer(connectors.app, name="connectors")
app.add_typer(indicators.app, name="indicators")
app.add_typer(clients.app, name="clients")
app.add_typer(catalog.app, name="catalog")
app.add_typer(reports.app, name="reports")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(lake_cli.app, name="lake")


@app.command("check")
def check_command(ctx: typer.Context):
    """Validate every declaration (contracts, connectors, indicators, regions, catalogue,
    thresholds): exit 1 naming every problem of every broken file."""
    c = obtain(ctx)
    problems = check(c.cfg, c.decl)
    d = c.decl
    if not problems:
        console().print(f"[green]ok[/green]: {len(d.contracts)} contracts, {len(d.connectors)} connectors, "
                      f"{len(d.indicators)} indicators, {len(d.cities)} cities, "
                      f"{len(d.catalogue.categories)} catalogue categories in {d.root}")
        return
    for file, found in by_file(problems).items():
        console().print(f"[red]{file}[/red]", highlight=False)
        for p in found:
            console().print(f"  {p}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="connectors to run (default: every declared one)"),
    as_of: Optional[str] = typer.Option(None, help="as-of day for run-day sources (YYYY-MM-DD; default today)"),
):
    """Run connectors: file drops, HTTP feeds, Kafka topics, databases (those configured).
    One that fails does not stop the others; the exit code is 1 when any failed or, for a
    run of all, any connector's declaration is broken (it is listed, not run)."""
    lake = obtain(ctx).lake
    for n in names or ():
        lake.decl.connector(n)  # an unknown or broken one: NotFound saying which and why
    with progress() as prog:
        prog.add_task("ingesting", total=None)
        reports, failed = run_all(lake, names or None, as_of=date.fromisoformat(as_of) if as_of else None)
    broken = {} if names else {n: f"declaration broken: {ps[0]}" for n, ps in lake.decl.broken("connector").items()}
    console().print(run_table(reports, {**failed, **broken}))
    if failed or broken:
        raise typer.Exit(1)


@app.command()
def serve(ctx: typer.Context, host: Optional[str] = None, port: Optional[int] = None,
          workers: int = typer.Option(2, help="uvicorn worker processes")):
    """Serve the API (uvicorn with uvloop and httptools; a listening socket per worker)."""
    cfg = obtain(ctx).cfg
    base = f"http://{host or cfg.api_host}:{port or cfg.api_port}"
    console().print(f"驾驶舱 cockpit: {base}/   API 文档: {base}/docs", highlight=False)
    serve_api(host or cfg.api_host, port or cfg.api_port, workers=workers,
              metrics_dir=cfg.home / "metrics" if cfg.metrics else None)  # the workers' shared metric files


def _plugins() -> None:
    for ep in entry_points(group="cityhub.commands"):
        try:
            ep.load()(app)
        except Exception as e:  # noqa: BLE001 - a broken add-on must not take the hub's own commands down
            logging.getLogger(__name__).warning("commands from %s not loaded: %s", ep.value, e)


_plugins()


def main() -> None:  # pragma: no cover
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
