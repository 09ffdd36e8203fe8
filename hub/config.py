"""All configuration: environment variables with embedded defaults, in one place.

Nothing else reads ``os.environ`` for CityHub settings. Defaults give a working
local hub under ``./var`` (lake, catalogue DB, file drops) with no services.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


def _read(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value.strip() else default


@dataclass(frozen=True)
class Settings:
    home: Path
    """Root of everything the hub keeps locally."""
    lake_uri: str
    """Iceberg warehouse (Parquet data files and table metadata): a local folder
    (``file://...``) or object storage (``s3://bucket/prefix``)."""
    catalog_uri: str
    """SQLAlchemy URI of the Iceberg SQL catalogue (SQLite locally, PostgreSQL in production)."""
    hub_db_uri: str
    """Hub metadata (API clients): SQLite locally, PostgreSQL in production."""
    drop_root: Path
    """File-drop folders the departments deliver into."""
    city: str
    kafka_bootstrap: str
    """Empty when no broker is configured: the Kafka paths are then skipped."""
    kafka_max_records: int
    """Records per poll: large batches, decoded at once, are what make consumption fast."""
    token_secret: str
    token_ttl_s: int
    api_host: str
    api_port: int
    max_page: int
    """Cap on ``limit`` for record pages."""
    page_cache_mb: int
    """Memory per API worker for sorted in-memory runs of data files that serve
    record pages (``hub.sorted_runs``); 0 reads every page with DuckDB."""
    page_cache_max_files: int
    """Snapshots with more data files than this read pages with DuckDB (a page
    merges one run per file)."""
    api_threads: int
    """Threads per API worker for the sync routes (their page, grant and audit work)."""
    parse_workers: int
    """Processes that parse a large catalogue fetch in parallel."""
    rate_limit: str
    """Requests per client, e.g. ``600/minute`` (the ``limits`` notation)."""
    open_rate_limit: str
    """Requests per address to the open-data endpoints without a token."""
    rate_limit_storage: str
    """``memory://`` (per API worker) or ``redis://host:6379`` (shared)."""


_VARS = (
    "CITYHUB_HOME",
    "CITYHUB_LAKE",
    "CITYHUB_CATALOG_URI",
    "CITYHUB_DB_URI",
    "CITYHUB_DROP",
    "CITYHUB_CITY",
    "CITYHUB_KAFKA_BOOTSTRAP",
    "CITYHUB_KAFKA_MAX_RECORDS",
    "CITYHUB_TOKEN_SECRET",
    "CITYHUB_TOKEN_TTL_S",
    "CITYHUB_API_HOST",
    "CITYHUB_API_PORT",
    "CITYHUB_MAX_PAGE",
    "CITYHUB_PAGE_CACHE_MB",
    "CITYHUB_PAGE_CACHE_MAX_FILES",
    "CITYHUB_PARSE_WORKERS",
    "CITYHUB_API_THREADS",
    "CITYHUB_RATE_LIMIT",
    "CITYHUB_OPEN_RATE_LIMIT",
    "CITYHUB_RATE_LIMIT_STORAGE",
)
"""The variables ``Settings`` is built from (connectors' own come and go with their declarations)."""
_KEYS = tuple(map(os.environ.encodekey, _VARS)) if hasattr(os.environ, "encodekey") else _VARS


def settings() -> Settings:
    """The settings for the environment as it is now (tests change it between
    calls); built once per distinct set of values. Called on every request, so
    it reads only its own variables: walking all of ``os.environ`` costs more
    than the rest of a page."""
    data = getattr(os.environ, "_data", None)  # CPython's own dict behind os.environ: one C call
    env = tuple(map(data.get, _KEYS)) if isinstance(data, dict) else tuple(map(os.environ.get, _VARS))
    return _settings(env, os.getcwd())  # relative defaults (./var) depend on the directory


@lru_cache(maxsize=16)
def _settings(env_key: tuple, cwd: str) -> Settings:
    def _env(name: str, default: str) -> str:  # only the variables the cache is keyed on
        assert name in _VARS, f"{name} must be listed in _VARS"
        return _read(name, default)

    home = Path(_env("CITYHUB_HOME", "var")).resolve()
    lake = _env("CITYHUB_LAKE", str(home / "lake"))
    if "://" not in lake:
        lake = f"file://{Path(lake).resolve()}"
    return Settings(
        home=home,
        lake_uri=lake,
        catalog_uri=_env("CITYHUB_CATALOG_URI", f"sqlite:///{home / 'catalog.db'}"),
        hub_db_uri=_env("CITYHUB_DB_URI", f"sqlite:///{home / 'hub.db'}"),
        drop_root=Path(_env("CITYHUB_DROP", str(home / "drop"))).resolve(),
        city=_env("CITYHUB_CITY", "371400"),
        kafka_bootstrap=_env("CITYHUB_KAFKA_BOOTSTRAP", ""),
        kafka_max_records=int(_env("CITYHUB_KAFKA_MAX_RECORDS", "50000")),
        token_secret=_env("CITYHUB_TOKEN_SECRET", ""),
        token_ttl_s=int(_env("CITYHUB_TOKEN_TTL_S", "3600")),
        api_host=_env("CITYHUB_API_HOST", "127.0.0.1"),
        api_port=int(_env("CITYHUB_API_PORT", "8000")),
        max_page=int(_env("CITYHUB_MAX_PAGE", "10000")),
        page_cache_mb=int(_env("CITYHUB_PAGE_CACHE_MB", "1024")),
        page_cache_max_files=int(_env("CITYHUB_PAGE_CACHE_MAX_FILES", "64")),
        api_threads=int(_env("CITYHUB_API_THREADS", "4")),
        parse_workers=int(_env("CITYHUB_PARSE_WORKERS", str(os.cpu_count() or 1))),
        rate_limit=_env("CITYHUB_RATE_LIMIT", "1200/minute"),
        open_rate_limit=_env("CITYHUB_OPEN_RATE_LIMIT", "120/minute"),
        rate_limit_storage=_env("CITYHUB_RATE_LIMIT_STORAGE", "memory://"),
    )


def connector_setting(connector: str, key: str, default: str = "") -> str:
    """A connector's own setting: ``CITYHUB_<CONNECTOR>_<KEY>`` (e.g.
    ``CITYHUB_CAMERA_CATALOG_HTTP_URL``), else the declaration's default."""
    return _read(f"CITYHUB_{connector}_{key}".upper().replace("-", "_").replace(".", "_"), default)
