"""``cityhub``: the command line. Commands are thin: they parse options and call
library code, showing progress on long work."""
from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="CityHub: the city brain's data-sharing hub.", no_args_is_help=True)
simulate_app = typer.Typer(help="Simulated department feeds.", no_args_is_help=True)
connectors_app = typer.Typer(help="Declared connectors: list, status, dry runs.", no_args_is_help=True)
indicators_app = typer.Typer(help="DB37/T 3890.1 indicator values.", no_args_is_help=True)
clients_app = typer.Typer(help="API clients and their tokens.", no_args_is_help=True)
catalog_app = typer.Typer(help="The data resource catalogue (departments, categories).", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
app.add_typer(connectors_app, name="connectors")
app.add_typer(indicators_app, name="indicators")
app.add_typer(clients_app, name="clients")
app.add_typer(catalog_app, name="catalog")
console = Console()


def _yesterday() -> date:
    from hub.lake import now_cst
    return now_cst().date() - timedelta(days=1)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def _fail(msg: str) -> None:
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(2)


@simulate_app.command("cameras")
def simulate_cameras(
    city: str = typer.Option(None, help="city code (37xx00); default CITYHUB_CITY"),
    seed: int = typer.Option(1),
    day: Optional[str] = typer.Option(None, help="YYYY-MM-DD; default yesterday (CST)"),
    cameras_per_county: int = typer.Option(400),
    fault_rate: float = typer.Option(0.02, help="probability per item of each fault class"),
    encoding: str = typer.Option("GB18030", help="catalogue page encoding"),
    out: Optional[Path] = typer.Option(None, help="drop root; default CITYHUB_DROP"),
    serve_catalog: bool = typer.Option(False, "--serve-catalog", help="also serve the catalogue over HTTP until Ctrl-C"),
    port: int = typer.Option(8181, help="port for --serve-catalog (127.0.0.1)"),
    kafka: bool = typer.Option(False, "--kafka", help="also publish status events to CITYHUB_KAFKA_BOOTSTRAP"),
):
    """Simulate a day of camera data: key areas, registry, GB/T 28181 catalogue pages, status events."""
    from hub.config import settings
    from hub.regions import UnknownRegion
    from hub.simulator import cameras

    cfg = settings()
    try:
        sim = cameras.SimConfig(city=city or cfg.city, seed=seed, day=date.fromisoformat(day) if day else _yesterday(),
                                cameras_per_county=cameras_per_county, fault_rate=fault_rate, encoding=encoding)
        world = cameras.generate(sim)
    except (UnknownRegion, ValueError) as e:
        _fail(str(e))
    paths = cameras.write_drop(world, out or cfg.drop_root)
    console.print(f"{len(world.registry)} cameras, {len(world.key_areas)} key areas, "
                  f"{len(world.catalog_pages)} catalogue pages, {len(world.events)} events, "
                  f"{len(world.faults)} injected faults -> {paths['faults'][0].parent}")
    if kafka:
        if not cfg.kafka_bootstrap:
            _fail("--kafka needs CITYHUB_KAFKA_BOOTSTRAP")
        from connectors.kafka_admin import ensure_topic
        from connectors.spec import connector
        from hub.config import connector_setting

        topic = connector_setting("camera_status_kafka", "topic", connector("camera_status_kafka").source.get("topic"))
        ensure_topic(cfg.kafka_bootstrap, topic)
        n = cameras.publish_events(world.events, cfg.kafka_bootstrap, topic)
        console.print(f"published {n} events to {topic}")
    if serve_catalog:
        server, url = cameras.serve_catalog(world.catalog_pages, port=port)
        console.print(f"serving the catalogue at {url}/catalog?page=1 (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.shutdown()


def _drift_note(drift: dict | None) -> str:
    """+new −missing ~type-changed fields, compactly."""
    if not drift:
        return ""
    parts = [f"+{k}" for k in drift.get("new_fields", {})] + [f"-{k}" for k in drift.get("missing_fields", {})]
    parts += [f"~{k.split(':')[0]}" for k in drift.get("type_changes", {})]
    return "drift " + " ".join(parts) if parts else ""


def _run_table(reports) -> Table:
    table = Table("connector", "units", "received", "landed", "quarantined", "already landed", "note")
    for name, r in reports.items():
        note = r.skipped or (_drift_note(r.drift.as_dict()) if r.drift else "")
        table.add_row(name, str(r.units), str(r.received), str(r.landed), str(r.quarantined),
                      str(r.already_landed), note)
    return table


@app.command("ingest")
def ingest(
    names: list[str] = typer.Argument(None, help="connectors to run (default: every declared one)"),
    as_of: Optional[str] = typer.Option(None, help="as-of day for run-day sources (YYYY-MM-DD; default today)"),
):
    """Run connectors: file drops, HTTP feeds, Kafka topics, databases (those configured)."""
    from connectors.runner import run
    from connectors.spec import registry

    chosen = names or list(registry())
    bad = [n for n in chosen if n not in registry()]
    if bad:
        _fail(f"unknown connector(s) {', '.join(bad)}; declared: {', '.join(registry())}")
    reports = {}
    with _progress() as prog:
        task = prog.add_task("ingesting", total=len(chosen))
        for n in chosen:
            prog.update(task, description=f"running {n}")
            reports[n] = run(n, as_of=date.fromisoformat(as_of) if as_of else None)
            prog.advance(task)
    console.print(_run_table(reports))


@connectors_app.command("list")
def connectors_list():
    """Declared connectors: source, format, dataset, schedule."""
    from connectors.spec import registry

    table = Table("connector", "source", "format", "dataset", "schedule", "fresh within")
    for spec in registry().values():
        table.add_row(spec.name, spec.source.kind, f"{spec.format.kind} ({spec.format.encoding})", spec.dataset,
                      spec.schedule, f"{spec.freshness_hours:g} h")
    console.print(table)


@connectors_app.command("status")
def connectors_status(as_json: bool = typer.Option(False, "--json")):
    """Last run, rows landed and quarantined, lag and freshness of every connector."""
    from connectors.status import status

    rows = status()
    if as_json:
        typer.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=1))
        return
    table = Table("connector", "last run", "result", "landed", "quarantined", "lag", "last data", "fresh", "drift")
    for r in rows:
        fresh = {True: "[green]fresh[/green]", False: "[red]stale[/red]", None: "-"}[r["fresh"]]
        table.add_row(r["connector"], str(r["last_run"] or "never")[:19], r["result"][:60], str(r["landed"]),
                      str(r["quarantined"]), str(r["lag"] if r["lag"] is not None else "-"),
                      str(r["last_data"] or "-")[:19], fresh, _drift_note(r["drift"]))
    console.print(table)


@connectors_app.command("test")
def connectors_test(name: str, sample: Path = typer.Option(..., exists=True, dir_okay=False, help="a file in the connector's format")):
    """Dry run: what SAMPLE would land and what would be quarantined, and why. Nothing is committed."""
    from connectors.runner import dry_run

    try:
        assessment, drift = dry_run(name, sample)
    except KeyError as e:
        _fail(str(e))
    rows = assessment.rows
    console.print(f"[bold]{name}[/bold] on {sample}: {rows.num_rows} row(s) would land, "
                  f"{len(assessment.quarantine)} would be quarantined, "
                  f"{assessment.report.already_landed} already landed")
    if drift:
        console.print(f"schema drift: {json.dumps(drift.as_dict(), ensure_ascii=False)}")
    if rows.num_rows:
        preview = Table(*rows.column_names[:8])
        for r in rows.slice(0, 5).to_pylist():
            preview.add_row(*[str(r[c]) for c in rows.column_names[:8]])
        console.print(preview)
    if assessment.quarantine:
        q = Table("source", "key", "reason")
        for r in assessment.quarantine[:50]:
            q.add_row(r["source"], str(r["record_key"] or ""), r["reason"])
        console.print(q)


@indicators_app.command("compute")
def indicators_compute(
    day: Optional[str] = typer.Option(None, help="YYYY-MM-DD; default today (CST)"),
    code: list[str] = typer.Option(None, help="only these indicator codes"),
):
    """Compute indicators for the city and every county (day, month to date, year to date)."""
    from hub.config import settings
    from hub.lake import default_lake, now_cst
    from pipelines.indicators import compute

    cfg = settings()
    with _progress() as prog:
        prog.add_task("computing indicators", total=None)
        rows = compute(default_lake(), cfg.city, date.fromisoformat(day) if day else now_cst().date(), code or None)
    _show(rows)


@indicators_app.command("watch")
def indicators_watch(interval: float = typer.Option(10.0, help="seconds between checks for new data")):
    """Recompute today's "now" values whenever an input dataset gets new data."""
    from hub.config import settings
    from hub.lake import default_lake
    from pipelines.indicators import watch

    console.print(f"watching the indicator inputs every {interval:g}s (Ctrl-C to stop)")
    watch(default_lake(), settings().city, interval,
          on_refresh=lambda seen: console.print(f"recomputed now: {sum(1 for v in seen.values() if v)} inputs"))


@indicators_app.command("show")
def indicators_show(code: Optional[str] = None, region: Optional[str] = None, period: Optional[str] = None):
    """The latest stored values."""
    from hub.lake import default_lake
    from pipelines.indicators import latest

    _show(latest(default_lake(), code=code, region=region, period_label=period))


def _show(rows: list[dict]) -> None:
    table = Table("code", "region", "period", "value", "numerator", "denominator", "reason")
    for r in rows:
        v = "-" if r["value"] is None else f"{r['value']:.4f}"
        n = "-" if r["numerator"] is None else f"{r['numerator']:.0f}"
        d = "-" if r["denominator"] is None else f"{r['denominator']:.0f}"
        table.add_row(r["code"], r["region"], r["period"], v, n, d, r["reason"] or "")
    console.print(table)


@catalog_app.command("load")
def catalog_load(file: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                    help="a declaration like schemas/catalog.yaml (the default)"),
                 replace: bool = typer.Option(False, "--replace", help="remove categories the file does not declare")):
    """Load (upsert) the catalogue declaration into the hub database."""
    from hub import catalogue

    try:
        deps, cats = catalogue.load(catalogue.declaration(file), replace=replace)
    except catalogue.CatalogueError as e:
        _fail(e.detail)
    console.print(f"loaded {deps} departments and {cats} categories")


@catalog_app.command("list")
def catalog_list():
    """Categories with their share and open types, and whether a feed brings their data."""
    from hub import catalogue

    cat = catalogue.current()
    t = Table("category", "name", "owner", "share", "open", "cycle", "credit", "datasets")
    for c in cat.categories.values():
        t.add_row(c.id, c.name_zh, c.owner, c.share_type, c.open_type, c.update_cycle, "yes" if c.credit else "",
                  ", ".join(c.datasets) or "[dim]no feed[/dim]")
    console.print(t)


@clients_app.command("create")
def clients_create(
    name: str = typer.Option(...), role: str = typer.Option(..., help="county, department, scoring or admin"),
    region: Optional[str] = typer.Option(None, help="county code (required for role county)"),
    department: Optional[str] = typer.Option(None, help="department id (required for role department)"),
):
    """Register an API client and print its OAuth2 client credentials as JSON
    (the secret is shown once and stored hashed; POST /v1/token exchanges them)."""
    from hub import clients

    try:
        p, secret = clients.create(name, role, region, department)
    except clients.ClientError as e:
        _fail(str(e))
    typer.echo(json.dumps({"client_id": p.client_id, "client_secret": secret, "name": p.name, "role": p.role,
                           "region": p.region, "department": p.department}))


@clients_app.command("rotate-secret")
def clients_rotate(name: str):
    """Give a client a new secret (the old one stops working)."""
    from hub import clients

    try:
        typer.echo(clients.rotate_secret(name))
    except clients.ClientError as e:
        _fail(str(e))


@clients_app.command("token")
def clients_token(name: str):
    """Issue a short-lived token for an existing client (an operator's shortcut
    for POST /v1/token)."""
    from hub import clients

    try:
        typer.echo(clients.issue_token(clients.by_name(name)))
    except clients.ClientError as e:
        _fail(str(e))


@clients_app.command("list")
def clients_list():
    from hub import clients

    table = Table("name", "client id", "role", "region", "department", "disabled", "created")
    for c in clients.list_clients():
        table.add_row(c["name"], c["id"], c["role"], c["region"] or "", c["department"] or "", str(c["disabled"]),
                      str(c["created_at"]))
    console.print(table)


@clients_app.command("disable")
def clients_disable(name: str):
    """Disable a client: its tokens stop working at once."""
    from hub import clients

    try:
        clients.set_disabled(name, True)
    except clients.ClientError as e:
        _fail(str(e))
    console.print(f"client {name} disabled")


@app.command()
def serve(host: Optional[str] = None, port: Optional[int] = None,
          workers: int = typer.Option(2, help="uvicorn worker processes")):
    """Serve the API (uvicorn with uvloop and httptools; a listening socket per worker)."""
    from hub.api.serve import serve as serve_api
    from hub.config import settings

    cfg = settings()
    serve_api(host or cfg.api_host, port or cfg.api_port, workers=workers)


@app.command()
def run(seed: int = 1, day: Optional[str] = typer.Option(None, help="YYYY-MM-DD; default yesterday (CST)"),
        serve_api: bool = typer.Option(True, "--serve/--no-serve"), workers: int = 2):
    """The demo: simulate a day, ingest it, compute indicators, serve the API."""
    from hub.config import settings
    from hub.lake import default_lake
    from pipelines import demo

    cfg = settings()
    the_day = date.fromisoformat(day) if day else _yesterday()
    with _progress() as prog:
        task = prog.add_task("demo", total=10)

        def step(msg: str) -> None:
            prog.update(task, description=msg)
            prog.advance(task)

        result = demo.run(default_lake(), cfg, the_day, seed=seed, progress=step)
        prog.update(task, description="demo data ready", completed=10)
    console.print(_run_table(result.reports))
    county, token = next((k, v) for k, v in result.tokens.items() if k.startswith("demo-county"))
    base = f"http://{cfg.api_host}:{cfg.api_port}"
    console.print(f"\n{result.indicators} indicator values computed for {the_day}. Try:\n")
    console.print(f"  curl -s -H 'Authorization: Bearer {token}' '{base}/v1/datasets/camera_registry/records?limit=2'\n",
                  soft_wrap=True)
    console.print(f"  curl -s -H 'Authorization: Bearer {result.tokens['demo-scoring']}' "
                  f"'{base}/v1/indicators?region={cfg.city}&code=5'\n", soft_wrap=True)
    if serve_api:
        import threading

        from pipelines.indicators import watch

        # keeps today's "now" values within seconds of new data (Airflow does this in production)
        threading.Thread(target=watch, args=(default_lake(), cfg.city), daemon=True, name="now-watch").start()
        serve(host=None, port=None, workers=workers)


def main() -> None:  # pragma: no cover
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
