"""The cockpit's routes in-process: the shells are served (and name no outside address),
``/docs`` is built on the hub's own swagger-ui files, and star readiness of every region
at once is what ``/v1/star-readiness`` answers region by region. The pages themselves are
driven in a real browser by ``tests/e2e/browser``."""
from __future__ import annotations

import json
import re

import pytest

from cityhub.pipelines.indicators.engine import compute
from tests.integration.api.world import CITY, DAY, DECHENG, QIHE, land_cameras
from tests.support import auth, token

OUTSIDE = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


@pytest.fixture
def world(api, lake, cfg, decl):
    land_cameras(lake, per_county=8, key_areas=2)
    compute(lake, DAY)
    return {"scoring": token(cfg, decl, "pages-scoring", "scoring"),
            "county": token(cfg, decl, "pages-county", "county", QIHE)}


def test_the_shells_and_assets_are_served_with_nothing_from_outside(api, decl):
    page = api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text and "驾驶舱" in page.text
    assert not OUTSIDE.search(page.text)
    cfg = json.loads(re.search(r'<script id="cockpit-config" type="application/json">(.*?)</script>', page.text).group(1))
    assert cfg["city"]["code"] == CITY and set(cfg["city"]["counties"]) == set(decl.city(CITY).counties)
    assert cfg["layout"]["geographic"] and set(cfg["layout"]["cells"]) == set(decl.city(CITY).counties)
    for asset in ("/static/app.js", "/static/app.css", "/static/cockpit.js", "/vendor/echarts/echarts.min.js"):
        assert api.get(asset).status_code == 200, asset
    detail = api.get("/indicators/5")
    assert detail.status_code == 200 and "重点公共区域视频监控联网率" in detail.text
    assert api.get("/indicators/99").status_code == 404


def test_docs_use_the_hubs_own_swagger_ui(api):
    docs = api.get("/docs")
    assert docs.status_code == 200
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text and "/vendor/swagger-ui/swagger-ui.css" in docs.text
    assert not OUTSIDE.search(docs.text), "the documentation loads something from outside the hub"
    for asset in ("/vendor/swagger-ui/swagger-ui-bundle.js", "/vendor/swagger-ui/swagger-ui.css"):
        assert api.get(asset).status_code == 200, asset
    assert api.get("/redoc").status_code == 404  # FastAPI's ReDoc page would load from a CDN


def test_star_readiness_of_every_region_is_each_regions_star_readiness(api, world, decl):
    every = api.get("/v1/star-readiness/regions", headers=auth(world["scoring"])).json()["regions"]
    assert [r["region"] for r in every] == [CITY, *decl.city(CITY).counties]
    for r in every:
        assert r == api.get("/v1/star-readiness", headers=auth(world["scoring"]), params={"region": r["region"]}).json()
    own = api.get("/v1/star-readiness/regions", headers=auth(world["county"])).json()["regions"]
    assert own == [api.get("/v1/star-readiness", headers=auth(world["county"])).json()]
    assert [r["region"] for r in own] == [QIHE] and DECHENG not in json.dumps(own)
    assert api.get("/v1/star-readiness/regions").status_code == 401
