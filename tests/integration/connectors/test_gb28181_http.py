"""GB/T 28181 catalogue over HTTP: the paginator follows SumNum across pages."""
from __future__ import annotations

from cityhub.connectors.formats import PageCounter
from cityhub.connectors.formats.gb28181 import parse_page
from cityhub.connectors.sources import http
from cityhub_sim.cameras import SimConfig, generate, serve_catalog


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
