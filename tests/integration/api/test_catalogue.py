"""The resource catalogue, in-process: what a county sees of it."""
from __future__ import annotations

from tests.integration.api.world import QIHE
from tests.support import auth, token


def test_a_county_sees_the_shared_categories(api, cfg, decl):
    r = api.get("/v1/catalog", headers=auth(token(cfg, decl, "qihe-app", "county", QIHE)))
    assert r.status_code == 200, r.text
    cats = r.json()["categories"]
    assert {"ps.camera_registry", "ps.camera_catalog"} <= {c["id"] for c in cats}
    assert all(c["share_type"] in ("unconditional", "conditional") for c in cats)
