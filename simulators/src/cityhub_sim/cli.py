"""Commands the simulators add to ``cityhub`` (entry point group ``cityhub.commands``):
``cityhub simulate cameras`` and the ``cityhub run`` demo."""
from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Optional

import typer

from cityhub.access import clients
from cityhub.api.serve import serve as serve_api
from cityhub.cli.context import console, fail, obtain
from cityhub.cli.render import indicator_table, progress, run_table, scopes
from cityhub.connectors.sources.kafka import ensure_topic, topic_of
from cityhub.core.errors import CityHubError
from cityhub.core.time import now_cst
from cityhub.pipelines.indicators.engine import latest, watch
from cityhub_sim import cameras, demo

simulate_app = typer.Typer(help="Simulated department feeds.", no_args_is_help=True)


def _yesterday() -> date:
    return now_cst().date() - timedelta(days=1)


@simulate_app.command("cameras")
def simulate_cameras(
    ctx: typer.Context,
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
    c = obtain(ctx)
    cfg = c.cfg
    try:
        sim = cameras.SimConfig(city=city or cfg.city, declarations=cfg.declarations, seed=seed, day=date.fromisoformat(day) if day else _yesterday(),
                                cameras_per_county=cameras_per_county, fault_rate=fault_rate, encoding=encoding)
        world = cameras.generate(sim)
    except (CityHubError, ValueError) as e:
        fail(str(e))
    paths = cameras.write_drop(world, out or cfg.drop_root)
    console().print(f"{len(world.registry)} cameras, {len(world.key_areas)} key areas, "
                  f"{len(world.catalog_pages)} catalogue pages, {len(world.events)} events, "
                  f"{len(world.faults)} injected faults -> {paths['faults'][0].parent}")
    if kafka:
        if not cfg.kafka_bootstrap:
            fail("--kafka needs CITYHUB_KAFKA_BOOTSTRAP")
        topic = topic_of(c.decl.connector("camera_status_kafka"), cfg)
        ensure_topic(cfg.kafka_bootstrap, topic)
        n = cameras.publish_events(world.events, cfg.kafka_bootstrap, topic)
        console().print(f"published {n} events to {topic}")
    if serve_catalog:
        server, url = cameras.serve_catalog(world.catalog_pages, port=port)
        console().print(f"serving the catalogue at {url}/catalog?page=1 (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.shutdown()


def run(ctx: typer.Context, seed: int = 1, day: Optional[str] = typer.Option(None, help="YYYY-MM-DD; default yesterday (CST)"),
        serve: bool = typer.Option(True, "--serve/--no-serve"), workers: int = 2):
    """The demo: simulate a day, ingest it, compute indicators, serve the API."""
    c = obtain(ctx)
    cfg, lake = c.cfg, c.lake
    the_day = date.fromisoformat(day) if day else _yesterday()
    with progress() as prog:
        task = prog.add_task("demo", total=10)

        def step(msg: str) -> None:
            prog.update(task, description=msg)
            prog.advance(task)

        result = demo.run(lake, the_day, seed=seed, progress=step)
        prog.update(task, description="demo data ready", completed=10)
    console().print(run_table(result.reports))
    year = latest(lake, region=cfg.city, period_label=f"{the_day:%Y}")
    console().print(f"\n{cfg.city}, year to date: the standard's value (its scope) and the whole area's beside it")
    console().print(indicator_table(year))
    for line in scopes(year):
        console().print(f"  {line}", highlight=False)
    token = next(v for k, v in result.tokens.items() if k.startswith("demo-county"))
    base = f"http://{cfg.api_host}:{cfg.api_port}"
    console().print(f"\n{result.indicators} indicator values computed for {the_day}. Try:\n")
    console().print(f"  curl -s -H 'Authorization: Bearer {token}' '{base}/v1/datasets/camera_registry/records?limit=2'\n",
                  soft_wrap=True)
    console().print(f"  curl -s -H 'Authorization: Bearer {result.tokens['demo-scoring']}' "
                  f"'{base}/v1/indicators?region={cfg.city}&code=5'\n", soft_wrap=True)
    if serve:
        # the cockpit, signed in as the demo scoring client (a fresh secret each run: secrets are stored hashed)
        secret = clients.rotate_secret(cfg, "demo-scoring")
        console().print(f"驾驶舱 cockpit: {base}/  (登录 sign in: client id {clients.by_name(cfg, 'demo-scoring').client_id}, "
                        f"secret {secret})   API 文档: {base}/docs\n", soft_wrap=True, highlight=False)
        # keeps today's "now" values within seconds of new data (Airflow does this in production)
        threading.Thread(target=watch, args=(lake,), daemon=True, name="now-watch").start()
        serve_api(cfg.api_host, cfg.api_port, workers=workers)


def register(app: typer.Typer) -> None:
    app.add_typer(simulate_app, name="simulate")
    app.command("run")(run)
