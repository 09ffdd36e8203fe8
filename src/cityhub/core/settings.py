"""All configuration, in one pydantic-settings model built once per process.

An entry point (a CLI command, the API's app factory, an Airflow task, a
benchmark) builds ``Settings()`` from the environment and passes it down; no
library module reads the environment itself. Defaults give a working local hub
under ``./var`` (lake, catalogue DB, file drops) with no services.

Every field is ``CITYHUB_<FIELD>`` in the environment. A connector's own
deployment settings are ``CITYHUB_<CONNECTOR>_URL``, ``..._TOPIC`` and
``..._FOLDER`` (e.g. ``CITYHUB_CAMERA_CATALOG_HTTP_URL``), read into
``connectors`` as typed ``ConnectorSettings``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from limits import parse as parse_rate
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CITY_CODE = r"^37\d{2}00$"
"""A Shandong city (GB/T 2260): 37xx00."""


class ConnectorSettings(BaseModel):
    """What differs per deployment for one connector; the declaration gives defaults."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = ""
    """HTTP base URL, or the SQLAlchemy URL of a department database."""
    topic: str = ""
    """Kafka topic."""
    folder: Path | None = None
    """File-drop folder (default: the declared folder under ``CITYHUB_DROP``)."""


_CONNECTOR_VAR = re.compile(r"^CITYHUB_([A-Z0-9_]+?)_(URL|TOPIC|FOLDER)$")


class _ConnectorVariables(PydanticBaseSettingsSource):
    """``CITYHUB_<CONNECTOR>_<URL|TOPIC|FOLDER>`` variables, grouped by connector."""

    def get_field_value(self, field, field_name):  # pragma: no cover - not used: __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, dict[str, str]] = {}
        for name, value in os.environ.items():
            m = _CONNECTOR_VAR.match(name)
            if m and value.strip():
                out.setdefault(m.group(1).lower(), {})[m.group(2).lower()] = value.strip()
        return {"connectors": out} if out else {}


class _Stripped(PydanticBaseSettingsSource):
    """Another source's values with surrounding blanks removed; a blank value counts as
    unset (the default applies), as an empty one does."""

    def __init__(self, settings_cls, inner: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field, field_name):  # pragma: no cover - not used: __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out = {}
        for k, v in self.inner().items():
            if isinstance(v, str):
                v = v.strip()
                if not v:
                    continue
            out[k] = v
        return out


class Settings(BaseSettings):
    """The hub's settings; see ``deploy/cityhub.env.example`` for a production set."""
    model_config = SettingsConfigDict(env_prefix="CITYHUB_", extra="ignore", frozen=True,
                                      env_ignore_empty=True, populate_by_name=True)

    home: Path = Path("var")
    """Root of everything the hub keeps locally."""
    lake_uri: str = Field("", validation_alias="CITYHUB_LAKE")
    """Iceberg warehouse: a local folder or ``file://`` URI, or object storage (``s3://bucket/prefix``);
    default ``<home>/lake``."""
    catalog_uri: str = ""
    """SQLAlchemy URI of the Iceberg SQL catalogue (default SQLite ``<home>/catalog.db``)."""
    hub_db_uri: str = Field("", validation_alias="CITYHUB_DB_URI")
    """Hub metadata (clients, grants, audit, catalogue, runs); default SQLite ``<home>/hub.db``."""
    # -- object storage of an ``s3://`` lake (pyiceberg's ``s3.*`` FileIO properties, and the
    #    file system DuckDB reads the data files through) --
    s3_endpoint: str = Field("", pattern=r"^(https?://[^\s?#/]+/?)?$")
    """An S3-compatible store's endpoint (``http://minio:9000``); empty: AWS's own."""
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    """Empty (both): the credentials the environment provides (instance role, AWS_* variables)."""
    s3_region: str = "us-east-1"
    profile: Literal["development", "production"] = "development"
    """``production``: start-up refuses what is fine on a laptop but not in service (a token
    secret generated per hub home, SQLite hub DB or catalogue); see ``production_problems``."""
    drop_root: Path | None = Field(None, validation_alias="CITYHUB_DROP")
    """File-drop folders the departments deliver into (default ``<home>/drop``)."""
    declarations: Path | None = None
    """A folder of declarations laid out like ``schemas/`` (default: those installed with the hub)."""
    city: str = Field("371400", pattern=CITY_CODE)
    kafka_bootstrap: str = ""
    """Empty when no broker is configured: the Kafka connectors are then skipped."""
    kafka_max_records: int = Field(50_000, gt=0)
    """Records per poll: large batches, decoded at once, are what make consumption fast."""
    token_secret: SecretStr = SecretStr("")
    """Signing secret for bearer tokens; empty: one generated once per hub home."""
    token_ttl_s: int = Field(3600, gt=0)
    report_key: Path | None = None
    """Ed25519 private key (PKCS#8 PEM) that signs indicator reports; empty: one generated
    once per hub home (``<home>/report_keys``, rotated by ``cityhub reports rotate-key``)."""
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    public_url: str = Field("", pattern=r"^(https?://[^\s?#]+)?$")
    """The API's public base URL (``https://data.example.gov.cn``) for the links in open-data
    metadata (DCAT, CKAN); empty: the URL each request came to."""
    max_page: int = Field(10_000, gt=0)
    """Cap on ``limit`` for record pages."""
    page_cache_mb: int = Field(1024, ge=0)
    """Memory per API worker for sorted in-memory runs of data files that serve record
    pages (``cityhub.read.sorted_runs``); 0 reads every page with DuckDB."""
    page_cache_max_files: int = Field(64, gt=0)
    """Snapshots with more data files than this read pages with DuckDB."""
    alert_webhook_url: str = ""
    """Chat-robot webhook (DingTalk / WeCom style JSON POST) told when a connector fails or
    ``connectors status --check`` finds a feed stale; empty: no alerts."""
    metrics: bool = True
    """Serve ``/metrics`` (Prometheus text format) and count requests for it; off: 404."""
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per log line (time, level, logger, message, run ids)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    """Level of the hub's log (the API's access log is uvicorn's, at INFO)."""
    quarantine_retention_days: int = Field(180, ge=1)
    """Quarantined items older than this are removed by ``cityhub quarantine expire``."""
    snapshot_retention_days: int = Field(366, ge=0)
    """Lake snapshots current at any time within this many days are kept by ``cityhub lake
    maintain`` (default: one assessment cycle, a year); those a stored indicator value names
    as evidence are kept whatever their age (``cityhub.pipelines.maintenance``)."""
    orphan_min_age_hours: float = Field(24, ge=0)
    """Files under a table that no snapshot references are removed once older than this, so
    a writer's files not yet committed are never taken (``cityhub lake maintain``)."""
    api_threads: int = Field(4, gt=0)
    """Threads per API worker for the sync routes (their page, grant and audit work)."""
    parse_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    """Processes that parse a large catalogue fetch in parallel."""
    rate_limit: str = "1200/minute"
    """Requests per client, e.g. ``600/minute`` (the ``limits`` notation)."""
    open_rate_limit: str = "120/minute"
    """Requests per address to the open-data endpoints without a token."""
    rate_limit_storage: str = "memory://"
    """``memory://`` (per API worker) or ``redis://host:6379`` / ``valkey://host:6379``
    (shared; needs the ``redis`` extra)."""
    token_rate_limit: str = "10/minute"
    """Failed ``POST /v1/token`` requests per client id (wrong secret, unknown or disabled
    client) before that id is answered 429 until the window frees, whatever it sends;
    counted in ``rate_limit_storage``, so shared by every worker when that is Redis."""
    connectors: dict[str, ConnectorSettings] = Field(default_factory=dict)
    """Per connector: ``CITYHUB_<CONNECTOR>_URL`` / ``_TOPIC`` / ``_FOLDER``."""
    # -- people signing in through the city's OpenID Connect provider (cityhub.access.oidc) --
    oidc_issuer: str = Field("", pattern=r"^(https?://[^\s?#]+)?$")
    """The provider's issuer URL (its ``/.well-known/openid-configuration`` is read);
    empty: no OpenID Connect sign-in, people sign in with a client's credentials."""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_scopes: str = "openid profile"
    oidc_role_claim: str = "roles"
    """The ID-token claim (a string or a list) naming the person's role or groups."""
    oidc_role_map: dict[str, str] = Field(default_factory=dict)
    """The provider's role or group values -> the hub's roles (county, department,
    scoring, admin), as JSON; empty: the claim's values are the hub's role names."""
    oidc_region_claim: str = "region"
    """The claim with a county user's 6-digit county code."""
    oidc_department_claim: str = "department"
    """The claim with a department user's department id (as in the catalogue)."""
    oidc_name_claim: str = "preferred_username"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings, _Stripped(settings_cls, env_settings), _ConnectorVariables(settings_cls),
                dotenv_settings, file_secret_settings)

    @field_validator("rate_limit", "open_rate_limit", "token_rate_limit")
    @classmethod
    def _rate(cls, v: str) -> str:
        parse_rate(v)  # "600/minute", "10 per second": refused here, not on the first request
        return v

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case(cls, v):
        """``info`` as ``INFO``, ``JSON`` as ``json``."""
        return v if not isinstance(v, str) else (v.upper() if v.lower() in ("debug", "info", "warning", "error")
                                                 else v.lower())

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        """Relative paths against the directory the process started in; defaults under ``home``."""
        home = self.home.resolve()
        lake = self.lake_uri or str(home / "lake")
        if "://" not in lake:
            lake = f"file://{Path(lake).resolve()}"
        derived = {
            "home": home, "lake_uri": lake,
            "catalog_uri": self.catalog_uri or f"sqlite:///{home / 'catalog.db'}",
            "hub_db_uri": self.hub_db_uri or f"sqlite:///{home / 'hub.db'}",
            "drop_root": (self.drop_root or home / "drop").resolve(),
            "declarations": self.declarations.resolve() if self.declarations else None,
            "report_key": self.report_key.resolve() if self.report_key else None,
        }
        for k, v in derived.items():
            object.__setattr__(self, k, v)  # frozen: set once, while validating
        return self

    @model_validator(mode="after")
    def _production(self) -> Settings:
        """Under ``CITYHUB_PROFILE=production`` every process refuses to start (these
        settings are built first thing) rather than run on a laptop's defaults."""
        problems = production_problems(self) if self.profile == "production" else []
        if problems:
            raise ValueError("CITYHUB_PROFILE=production, but " + "; ".join(problems))
        return self

    def connector(self, name: str) -> ConnectorSettings:
        """The deployment settings of connector ``name`` (empty when none are set)."""
        return self.connectors.get(name, ConnectorSettings())

    def with_connector(self, name: str, **values) -> Settings:
        """A copy with connector ``name``'s settings changed (a test's or demo's own source)."""
        merged = {**self.connectors, name: self.connector(name).model_copy(update=values)}
        return self.model_copy(update={"connectors": merged})

    @property
    def secret(self) -> str:
        return self.token_secret.get_secret_value()


def production_problems(cfg: Settings) -> list[str]:
    """What a production hub must not run with: a token secret generated per hub home
    (other hosts' workers and Airflow's tasks would sign with secrets of their own) or a
    weak one, and SQLite for the hub DB or the Iceberg catalogue (one host's file, and
    one writer at a time)."""
    out = []
    secret = cfg.token_secret.get_secret_value()
    if not secret:
        out.append("CITYHUB_TOKEN_SECRET is not set: set it explicitly (32+ random characters from the "
                   "secret store), the same for every API worker and Airflow task")
    elif len(secret) < 32 or "CHANGE_ME" in secret:
        out.append("CITYHUB_TOKEN_SECRET is too weak (fewer than 32 characters, or the example's CHANGE_ME)")
    for var, uri in (("CITYHUB_DB_URI", cfg.hub_db_uri), ("CITYHUB_CATALOG_URI", cfg.catalog_uri)):
        if uri.startswith("sqlite"):
            out.append(f"{var} is SQLite ({uri}): use PostgreSQL (postgresql+psycopg://...)")
    return out
