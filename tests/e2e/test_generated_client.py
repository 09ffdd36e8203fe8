"""A client generated from the served ``/openapi.json`` by a standard generator
(``openapi-python-client``), as another team would make one, used over real HTTP
against ``cityhub serve``: it gets a token by the declared client-credentials flow,
filters with the parameters the spec declares per dataset, follows the cursors,
reads the problem+json answers as typed errors and reads an indicator value, and
what it reads equals the lake's rows."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cityhub.pipelines.indicators.engine import compute
from tests.integration.api.world import DAY, QIHE, land_cameras
from tests.support import credentials

PACKAGE = "cityhub_generated"


@pytest.fixture
def generated(api_server, tmp_path):
    """The client package generated from the running hub's spec, imported."""
    spec = tmp_path / "openapi.json"
    spec.write_bytes(httpx.get(f"{api_server}/openapi.json", timeout=30).raise_for_status().content)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec),
                          "--meta", "none", "--output-path", str(tmp_path / PACKAGE)],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Warning" not in out.stdout + out.stderr, out.stdout + out.stderr  # every operation was generated
    sys.path.insert(0, str(tmp_path))
    try:
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))


def _op(name: str):
    """A generated operation module by its operation id."""
    for tag in ("auth", "data", "indicators", "catalogue"):
        try:
            return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")
        except ModuleNotFoundError:
            continue
    raise AssertionError(f"no generated operation {name}")


def test_a_generated_client_gets_a_token_filters_pages_and_reads_an_indicator(generated, api_server, lake, cfg,
                                                                              decl):
    land_cameras(lake, per_county=25, key_areas=3)
    compute(lake, DAY, codes=["5"])
    client_id, secret = credentials(cfg, decl, "generated-app", "county", QIHE)
    models = importlib.import_module(f"{PACKAGE}.models")
    anonymous = generated.Client(base_url=api_server, raise_on_unexpected_status=True)

    # the token, by the client-credentials flow the spec declares (and a typed refusal)
    token = _op("token")
    refused = token.sync(client=anonymous, body=models.BodyToken(grant_type="client_credentials",
                                                                 client_id=client_id, client_secret="wrong"))
    assert isinstance(refused, models.Problem) and refused.status == 401
    got = token.sync(client=anonymous, body=models.BodyToken(grant_type="client_credentials",
                                                             client_id=client_id, client_secret=secret))
    assert isinstance(got, models.TokenOut), got
    client = generated.AuthenticatedClient(base_url=api_server, token=got.access_token,
                                           raise_on_unexpected_status=True)

    # filter with the declared per-dataset parameters and follow the cursor
    records = _op("camera_catalog_records")
    seen, cursor, pages = [], None, 0
    while True:
        page = records.sync(client=client, status=["ON"], as_of=[f"ge:{DAY.isoformat()}"], limit=7,
                            cursor=cursor if cursor else generated.types.UNSET)
        assert isinstance(page, models.CameraCatalogPage), page
        assert page.dataset == "camera_catalog" and page.region == QIHE and page.count == len(page.records)
        seen += [(r.device_id, r.status, r.region) for r in page.records]
        pages += 1
        if not page.has_more:
            break
        cursor = page.next_cursor
    want = lake.query("SELECT device_id, status, region FROM camera_catalog WHERE region = ? AND status = 'ON' "
                      "AND as_of >= ?", ["camera_catalog"], [QIHE, DAY]).to_pylist()
    assert sorted(seen) == sorted((r["device_id"], r["status"], r["region"]) for r in want)
    assert len(seen) > 7 and pages >= 2  # several pages, all of the county's ON cameras and nothing else

    # a filter value that is not of the field's type: a typed 400
    bad = records.sync(client=client, as_of=["ge:yesterday"])
    assert isinstance(bad, models.Problem) and bad.status == 400 and "as_of" in bad.detail

    # an indicator value, as the lake holds it
    values = _op("indicator_values").sync(client=client, code="5", region=QIHE)
    assert isinstance(values, models.IndicatorValues), values
    [five] = [v for v in values.indicators if v.code == "5" and v.period == DAY.isoformat()]
    stored = lake.query("SELECT value, numerator, denominator FROM indicator_values WHERE code = '5' AND region = ? "
                        "AND period = ? ORDER BY computed_at DESC LIMIT 1", ["indicator_values"],
                        [QIHE, DAY.isoformat()]).to_pylist()[0]
    assert (five.value, five.numerator, five.denominator) == (stored["value"], stored["numerator"],
                                                              stored["denominator"])
    assert five.definition_version >= 1 and five.region == QIHE

    # another county's values are refused, typed
    other = _op("indicator_values").sync(client=client, code="5", region="371402")
    assert isinstance(other, models.Problem) and other.status == 403
