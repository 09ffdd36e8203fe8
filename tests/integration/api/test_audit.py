"""The audit log of reads, in-process: a county's page is recorded with its county."""
from __future__ import annotations

from cityhub.access import audit
from tests.integration.api.world import QIHE, land_cameras
from tests.support import auth, token


def test_a_page_is_audited_with_the_rows_served_and_the_county(api, cfg, decl, lake):
    land_cameras(lake, parts=("status",))
    r = api.get("/v1/datasets/camera_status/records", headers=auth(token(cfg, decl, "qihe-app", "county", QIHE)),
                params={"limit": 7})
    assert r.status_code == 200 and r.json()["count"] == 7
    entries = audit.entries(cfg, dataset="camera_status")
    assert entries[0]["action"] == "records" and entries[0]["rows"] == 7
    assert entries[0]["filters"]["region"] == QIHE
