"""The SQL source's compound watermark: rows that share the last ``updated_at`` read are
not skipped, whether the chunk limit cut between them or they were committed after the
read. The position (updated_at, stop_id) of the last row is the connector's state.
On SQLite and on a real PostgreSQL (Debian's, started privately as in
tests/integration/pipelines/test_ingest_leases_postgres.py)."""
from __future__ import annotations

import sys

import pytest
import sqlalchemy as sa

from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "deploy" / "smoke"))
import services

NAME = "bus_stop_boards_sql"
PG_PORT = 18851


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    if not (services.PG_BIN / "initdb").exists():  # .ci/run installs it (apt-get install postgresql)
        pytest.skip(f"no PostgreSQL server in {services.PG_BIN}")
    svc = services.start_postgres(tmp_path_factory.mktemp("pg"), PG_PORT, ["transit"])
    try:
        yield svc.info["uri"]("transit")
    finally:
        svc.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def transit_db(request, tmp_path):
    """A transit company's database with an empty stop_boards table: its SQLAlchemy URL."""
    if request.param == "sqlite":
        url, stamp = f"sqlite:///{tmp_path / 'transit.db'}", "TEXT"
    else:
        url, stamp = request.getfixturevalue("postgres_url"), "TIMESTAMP"
    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.execute(sa.text("DROP TABLE IF EXISTS stop_boards"))
        con.execute(sa.text(f"CREATE TABLE stop_boards (stop_id TEXT, stop_name TEXT, county_code TEXT, "
                            f"has_e_board INTEGER, route_count INTEGER, updated_at {stamp})"))
    engine.dispose()
    return url


def insert(url: str, region: str, rows: list[tuple[str, str]]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.execute(sa.text("INSERT INTO stop_boards VALUES (:id, :name, :region, 1, 3, CAST(:at AS TIMESTAMP))"
                            if engine.dialect.name == "postgresql" else
                            "INSERT INTO stop_boards VALUES (:id, :name, :region, 1, 3, :at)"),
                    [{"id": sid, "name": f"stop {sid}", "region": region, "at": at} for sid, at in rows])
    engine.dispose()


def landed(lake: Lake) -> list[str]:
    return sorted(lake.query("SELECT stop_id FROM bus_stop_boards", ["bus_stop_boards"])["stop_id"].to_pylist())


def test_rows_sharing_the_boundary_value_are_read_in_the_next_chunk_and_the_next_run(cfg, decl, transit_db):
    spec = decl.connector(NAME)
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"chunk": 2})})
    lake = Lake(cfg.with_connector(NAME, url=transit_db), decl)
    region = next(iter(decl.city(cfg.city).counties))
    # the limit of 2 cuts between S2 and S3, which share 11:00
    insert(transit_db, region, [("S1", "2026-11-22 10:00:00"), ("S2", "2026-11-22 11:00:00"),
                                ("S3", "2026-11-22 11:00:00"), ("S4", "2026-11-22 11:00:00")])
    first = run(lake, spec)
    assert landed(lake) == ["S1", "S2", "S3", "S4"]
    assert (first.land.landed, first.land.quarantined) == (4, 0)
    assert lake.state("bus_stop_boards", NAME)["cursor"] == {"at": "2026-11-22 11:00:00", "key": "S4"}
    # committed after that read, at the same 11:00: the next run takes it, and only it
    insert(transit_db, region, [("S5", "2026-11-22 11:00:00"), ("S6", "2026-11-22 12:00:00")])
    second = run(lake, spec)
    assert (second.land.landed, second.land.already_landed, second.land.quarantined) == (2, 0, 0)
    assert landed(lake) == ["S1", "S2", "S3", "S4", "S5", "S6"]
    assert lake.state("bus_stop_boards", NAME)["cursor"] == {"at": "2026-11-22 12:00:00", "key": "S6"}
    assert run(lake, spec).land.received == 0


def test_a_plain_cursor_left_by_the_earlier_version_resumes_after_its_value(cfg, decl, tmp_path):
    """State written before the compound watermark (a bare value) is read as (value, no key)."""
    from cityhub.connectors.sources import sql

    spec = decl.connector(NAME)
    assert sql._position(spec.source, {"cursor": "2026-11-22 11:00:00"}) == ("2026-11-22 11:00:00", None)
    assert sql._position(spec.source, {}) == (spec.source.start, None)


def test_a_declared_key_needs_the_cursor_key_in_the_query(decl):
    from pydantic import ValidationError

    src = decl.connector(NAME).source
    with pytest.raises(ValidationError, match="query must use :cursor_key"):
        type(src).model_validate({**src.model_dump(), "query": "SELECT * FROM t WHERE updated_at > :cursor "
                                                                "ORDER BY updated_at LIMIT :limit"})
