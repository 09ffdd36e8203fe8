"""The connector lease on the production hub DB: a real PostgreSQL cluster (Debian's
``postgresql``, started by ``deploy/smoke/services.py``). Processes that try to take
one connector's lease at the same moment: exactly one holds it, every other is told
who does; once the holder is done the lease is free again."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, free_port

sys.path.insert(0, str(REPO / "deploy" / "smoke"))
import services

CONTEND = """
import sys, time
from cityhub.core.settings import Settings
from cityhub.pipelines.ingest import leases
cfg = Settings()
print("ready", flush=True)
sys.stdin.readline()                     # every contender asks at the same moment
with leases.held(cfg, sys.argv[1]) as busy:
    print(busy or "held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    if not (services.PG_BIN / "initdb").exists():  # .ci/run installs it (apt-get install postgresql)
        pytest.skip(f"no PostgreSQL server in {services.PG_BIN}")
    svc = services.start_postgres(tmp_path_factory.mktemp("pg"), free_port(), ["hub"])
    try:
        yield svc.info["uri"]("hub")
    finally:
        svc.stop()


@pytest.fixture
def pg_hub(hub_home, postgres, monkeypatch):
    monkeypatch.setenv("CITYHUB_DB_URI", postgres)
    from cityhub.lake.hubdb import engine

    engine(postgres)  # the hub DB's tables exist before ingests run, as in production
    return postgres


def contenders(n: int, connector: str, hold_s: float) -> list[subprocess.Popen]:
    """``n`` processes, started and imported, then told to take the lease at once."""
    procs = [subprocess.Popen([sys.executable, "-c", CONTEND, connector, str(hold_s)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
             for _ in range(n)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    return procs


def test_one_of_several_contending_processes_holds_the_lease(pg_hub):
    procs = contenders(4, "camera_status_kafka", 2.0)
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out.strip())
    assert outs.count("held") == 1, outs
    busy = [o for o in outs if o != "held"]
    assert len(busy) == 3 and all(o.startswith("already running elsewhere (") and o.endswith("skipped")
                                  for o in busy), busy


def test_the_lease_is_free_again_after_its_holder_finished(pg_hub):
    first = contenders(1, "camera_registry", 0.0)[0]
    out, err = first.communicate(timeout=120)
    assert out.strip() == "held", err
    second = contenders(1, "camera_registry", 0.0)[0]
    out, err = second.communicate(timeout=120)
    assert out.strip() == "held", err

    from sqlalchemy import select

    from cityhub.lake.hubdb import connector_leases, engine
    with engine(pg_hub).connect() as con:
        assert con.execute(select(connector_leases)).fetchall() == []
