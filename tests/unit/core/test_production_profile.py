"""``CITYHUB_PROFILE=production``: every entry point refuses to start on a laptop's
defaults (a token secret generated per hub home, a weak one, SQLite for the hub DB or the
catalogue), saying what to set; and the object-store settings reach the lake's FileIO."""
from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

PG = "postgresql+psycopg://cityhub:pw@127.0.0.1:5432/"
STRONG = "x" * 48


@pytest.fixture
def production(hub_home, monkeypatch):
    monkeypatch.setenv("CITYHUB_PROFILE", "production")
    monkeypatch.setenv("CITYHUB_DB_URI", PG + "cityhub")
    monkeypatch.setenv("CITYHUB_CATALOG_URI", PG + "cityhub_catalog")
    monkeypatch.setenv("CITYHUB_TOKEN_SECRET", STRONG)
    return monkeypatch


def refusal(**env) -> str:
    from cityhub.core.settings import Settings

    with pytest.raises(ValidationError) as e:
        Settings(**env)
    return str(e.value)


def test_production_starts_with_everything_set(production):
    from cityhub.core.settings import Settings

    cfg = Settings()
    assert cfg.profile == "production" and cfg.secret == STRONG


def test_production_refuses_an_unset_token_secret(production):
    production.delenv("CITYHUB_TOKEN_SECRET")
    msg = refusal()
    assert "CITYHUB_PROFILE=production" in msg and "CITYHUB_TOKEN_SECRET is not set" in msg


@pytest.mark.parametrize("weak", ["short-secret", "CHANGE_ME_64_random_bytes_CHANGE_ME_64_random"])
def test_production_refuses_a_weak_or_example_secret(production, weak):
    production.setenv("CITYHUB_TOKEN_SECRET", weak)
    assert "CITYHUB_TOKEN_SECRET is too weak" in refusal()


def test_production_refuses_sqlite_for_the_hub_db_and_the_catalogue(production):
    production.delenv("CITYHUB_DB_URI")
    production.delenv("CITYHUB_CATALOG_URI")
    msg = refusal()
    assert "CITYHUB_DB_URI is SQLite" in msg and "CITYHUB_CATALOG_URI is SQLite" in msg
    assert STRONG not in msg


def test_development_keeps_its_defaults(hub_home):
    from cityhub.core.settings import Settings

    cfg = Settings()
    assert cfg.profile == "development" and cfg.hub_db_uri.startswith("sqlite") and cfg.secret == ""


def test_the_cli_refuses_to_start_and_says_why(production):
    from cityhub.cli.main import app

    production.delenv("CITYHUB_TOKEN_SECRET")
    out = CliRunner().invoke(app, ["check"], env={"COLUMNS": "250"})
    assert out.exit_code != 0
    assert "CITYHUB_TOKEN_SECRET is not set" in out.output


def test_the_api_refuses_to_start(production):
    from cityhub.api.main import create_app

    production.delenv("CITYHUB_TOKEN_SECRET")
    with pytest.raises(ValidationError, match="CITYHUB_TOKEN_SECRET is not set"):
        create_app()


def test_object_store_settings_reach_the_catalogues_file_io(hub_home, monkeypatch):
    from cityhub.core.settings import Settings
    from cityhub.lake import Lake
    from cityhub.lake.tables import file_io_properties

    monkeypatch.setenv("CITYHUB_LAKE", "s3://city-lake/warehouse")
    monkeypatch.setenv("CITYHUB_S3_ENDPOINT", "http://127.0.0.1:9000")
    monkeypatch.setenv("CITYHUB_S3_ACCESS_KEY_ID", "hub")
    monkeypatch.setenv("CITYHUB_S3_SECRET_ACCESS_KEY", "hub-secret")
    monkeypatch.setenv("CITYHUB_S3_REGION", "cn-north-1")
    cfg = Settings()
    assert "hub-secret" not in repr(cfg)
    want = {"s3.endpoint": "http://127.0.0.1:9000", "s3.access-key-id": "hub", "s3.secret-access-key": "hub-secret",
            "s3.region": "cn-north-1"}
    assert file_io_properties(cfg) == want
    props = Lake(cfg).catalog.properties
    assert {k: props.get(k) for k in want} == want


def test_without_an_endpoint_or_keys_the_environments_credentials_apply(hub_home):
    from cityhub.core.settings import Settings
    from cityhub.lake.tables import file_io_properties

    assert file_io_properties(Settings()) == {"s3.region": "us-east-1"}


def test_an_endpoint_must_be_an_http_url(hub_home):
    assert "s3_endpoint" in refusal(s3_endpoint="minio:9000")
