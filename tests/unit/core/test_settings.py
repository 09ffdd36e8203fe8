"""One settings model, built once from the environment: defaults under ./var, typed
values refused with the variable's name, connector settings grouped per connector."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cityhub.core.settings import ConnectorSettings, Settings


@pytest.fixture
def env(monkeypatch, tmp_path):
    for var in [v for v in __import__("os").environ if v.startswith("CITYHUB_")]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults_give_a_local_hub_under_var(env, tmp_path):
    cfg = Settings()
    home = (tmp_path / "var").resolve()
    assert cfg.home == home and cfg.lake_uri == f"file://{home / 'lake'}"
    assert cfg.catalog_uri == f"sqlite:///{home / 'catalog.db'}" and cfg.hub_db_uri == f"sqlite:///{home / 'hub.db'}"
    assert cfg.drop_root == home / "drop" and cfg.city == "371400" and cfg.declarations is None
    assert cfg.secret == "" and cfg.connectors == {}


def test_variables_override_and_relative_paths_resolve_where_the_process_started(env, tmp_path):
    env.setenv("CITYHUB_HOME", "h")
    env.setenv("CITYHUB_LAKE", "s3://lake/prefix")
    env.setenv("CITYHUB_DB_URI", "postgresql+psycopg://hub@db/hub")
    env.setenv("CITYHUB_CITY", "371500")
    env.setenv("CITYHUB_PAGE_CACHE_MB", "0")
    env.setenv("CITYHUB_TOKEN_SECRET", "s3cret")
    env.setenv("CITYHUB_DECLARATIONS", "decl")
    cfg = Settings()
    assert cfg.home == tmp_path.resolve() / "h" and cfg.lake_uri == "s3://lake/prefix"
    assert cfg.hub_db_uri.startswith("postgresql+psycopg://") and cfg.city == "371500" and cfg.page_cache_mb == 0
    assert cfg.secret == "s3cret" and "s3cret" not in repr(cfg)
    assert cfg.declarations == tmp_path.resolve() / "decl"


def test_a_blank_value_counts_as_unset(env):
    for var in ("CITYHUB_TOKEN_SECRET", "CITYHUB_KAFKA_BOOTSTRAP", "CITYHUB_LAKE", "CITYHUB_CITY"):
        env.setenv(var, "   ")
    env.setenv("CITYHUB_API_HOST", " 0.0.0.0 ")
    cfg = Settings()
    assert cfg.secret == "" and cfg.kafka_bootstrap == "" and cfg.city == "371400"
    assert cfg.lake_uri.endswith("/var/lake") and cfg.api_host == "0.0.0.0"


@pytest.mark.parametrize("var, value, field", [
    ("CITYHUB_CITY", "110000", "city"),  # not a Shandong city code
    ("CITYHUB_PAGE_CACHE_MB", "lots", "page_cache_mb"),
    ("CITYHUB_API_THREADS", "0", "api_threads"),
    ("CITYHUB_RATE_LIMIT", "many per minute", "rate_limit"),
])
def test_a_bad_value_is_refused_naming_its_setting(env, var, value, field):
    env.setenv(var, value)
    with pytest.raises(ValidationError) as e:
        Settings()
    assert field in str(e.value)


def test_connector_settings_are_grouped_per_connector(env, tmp_path):
    env.setenv("CITYHUB_CAMERA_CATALOG_HTTP_URL", "http://platform:8181")
    env.setenv("CITYHUB_CAMERA_STATUS_KAFKA_TOPIC", "status")
    env.setenv("CITYHUB_CAMERA_REGISTRY_FOLDER", str(tmp_path / "in"))
    env.setenv("CITYHUB_EMPTY_URL", "  ")
    cfg = Settings()
    assert cfg.connector("camera_catalog_http").url == "http://platform:8181"
    assert cfg.connector("camera_status_kafka").topic == "status"
    assert cfg.connector("camera_registry").folder == tmp_path / "in"
    assert cfg.connector("nothing_set") == ConnectorSettings() and "empty" not in cfg.connectors


def test_settings_are_built_once_and_copies_change_one_connector(env):
    cfg = Settings()
    env.setenv("CITYHUB_CITY", "371500")
    assert cfg.city == "371400"  # built already: the environment is read when the settings are built
    other = cfg.with_connector("camera_catalog_http", url="http://x")
    assert other.connector("camera_catalog_http").url == "http://x" and cfg.connector("camera_catalog_http").url == ""
    with pytest.raises(ValidationError):
        cfg.city = "371500"  # frozen


def test_nothing_but_the_settings_reads_the_environment():
    src = Path(__file__).resolve().parents[3] / "src" / "cityhub"
    readers = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.py")
                     if "os.environ" in p.read_text(encoding="utf-8") or "os.getenv" in p.read_text(encoding="utf-8"))
    # the quality gate only switches Great Expectations' own analytics off (os.environ.setdefault)
    # and the API's metrics only tell prometheus-client its multiprocess directory, which it takes
    # from nowhere but the environment (set in each worker, from the serving code's argument)
    assert readers == ["api/metrics.py", "core/settings.py", "pipelines/landing/quality.py"]
    assert "os.environ.setdefault(\"GX_ANALYTICS_ENABLED\"" in (src / "pipelines/landing/quality.py").read_text()
    assert [line.strip() for line in (src / "api/metrics.py").read_text().splitlines() if "os.environ" in line] == [
        'os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)']
