"""``cityhub clients``, in-process with typer's ``CliRunner``: a client disabled from
the command line can be enabled again, and its token and credentials work again."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from cityhub.cli.main import app
from tests.integration.api.world import QIHE
from tests.support import assert_problem, auth


def _cli(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_a_disabled_client_is_enabled_again_from_the_cli(api, hub_home):
    made = _cli("clients", "create", "--name", "qihe-app", "--role", "county", "--region", QIHE)
    assert made.exit_code == 0, made.output
    creds = json.loads(made.output)
    form = {"grant_type": "client_credentials", "client_id": creds["client_id"], "client_secret": creds["client_secret"]}
    tok = api.post("/v1/token", data=form).json()["access_token"]
    assert api.get("/v1/catalog", headers=auth(tok)).status_code == 200

    r = _cli("clients", "disable", "qihe-app")
    assert r.exit_code == 0 and "disabled" in r.output, r.output
    assert_problem(api.get("/v1/catalog", headers=auth(tok)), 401, "disabled")
    assert_problem(api.post("/v1/token", data=form), 401, "disabled")

    r = _cli("clients", "enable", "qihe-app")
    assert r.exit_code == 0 and "enabled" in r.output, r.output
    # the token it held works again at once, and its credentials give new ones
    assert api.get("/v1/catalog", headers=auth(tok)).status_code == 200
    again = api.post("/v1/token", data=form)
    assert again.status_code == 200, again.text
    assert api.get("/v1/catalog", headers=auth(again.json()["access_token"])).status_code == 200
    listed = _cli("clients", "list")
    assert listed.exit_code == 0 and "False" in listed.output

    r = _cli("clients", "enable", "nobody")
    assert r.exit_code == 2 and "nobody" in r.output
