"""GB/T 28181 catalogue over HTTP: the paginator follows SumNum across pages."""
from __future__ import annotations

from cityhub_sim.cameras import SimConfig, generate, serve_catalog

from cityhub.connectors.formats import PageCounter
from cityhub.connectors.formats.gb28181 import parse_page
from cityhub.connectors.sources import http


def test_http_paging_follows_sumnum(cfg, decl):
    world = generate(SimConfig(cameras_per_county=30, key_areas_per_county=5, fault_rate=0, page_size=50))
    assert len(world.catalog_pages) > 3
    spec = decl.connector("camera_catalog_http")
    server, url = serve_catalog(world.catalog_pages)
    try:
        [unit] = list(http.units(spec, cfg.with_connector(spec.name, url=url), {}, PageCounter(spec)))
    finally:
        server.shutdown()
    pages = [p.data for p in unit.payloads]
    assert pages == world.catalog_pages
    total = sum(len(parse_page(d).items) for d in pages)
    assert total == parse_page(pages[0]).sum_num == len(world.catalog_items)


def test_a_run_fetches_the_catalogue_once_and_parses_it_while_fetching(cfg, decl, monkeypatch):
    """One unit per HTTP run: the feed is fetched once (asking again after landing only
    re-fetched every page to find it taken), and a large fetch is parsed as it arrives."""
    from cityhub.connectors.formats import gb28181
    from cityhub.lake import Lake
    from cityhub.pipelines.ingest.runner import run

    world = generate(SimConfig(cameras_per_county=25, key_areas_per_county=5, fault_rate=0, page_size=5))
    assert len(world.catalog_pages) >= gb28181.PARALLEL_MIN_PAGES
    gets, ahead = [], []
    real_get, real_ahead = http._get, gb28181.parse_ahead
    monkeypatch.setattr(http, "_get", lambda client, url, params: gets.append(params) or real_get(client, url, params))

    def parse_ahead(pages, kind, workers):
        for p in real_ahead(pages, kind, workers):
            ahead.append(p.parsed is not None)
            yield p
    monkeypatch.setattr(gb28181, "parse_ahead", parse_ahead)
    server, url = serve_catalog(world.catalog_pages)
    try:
        lake = Lake(cfg.with_connector("camera_catalog_http", url=url).model_copy(update={"parse_workers": 2}), decl)
        report = run(lake, "camera_catalog_http")
        again = run(lake, "camera_catalog_http")
    finally:
        server.shutdown()
    assert report.units == 1 and report.quarantined == 0
    assert report.landed + report.also["camera_directory"].landed == len(world.catalog_items)
    assert len(gets) == 2 * len(world.catalog_pages)  # once per run, each page once
    assert ahead == [True] * 2 * len(world.catalog_pages)
    assert again.units == 0 and again.landed == 0
