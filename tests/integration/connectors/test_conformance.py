"""One conformance suite over every declared connector, against real parts
(files in their encodings, HTTP servers on loopback that fail now and then, the
Kafka-protocol broker): the happy path, every injected fault to quarantine with
its reason, schema drift reported, an idempotent re-run, and a run interrupted
between its quarantine commit and its data commit that resumes without loss or
duplicates."""
from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from cityhub.connectors.sources import file_drop
from cityhub.core.settings import Settings
from cityhub.declarations import load
from cityhub.lake import Lake
from cityhub.pipelines.ingest.runner import run
from tests.integration.connectors.conformance import Delivery, delivery, drift_of, reasons_of

_DECL = load()
# a connector that lands with another's deliveries (its ``also``) is tested through that one
NAMES = [n for n in _DECL.connectors if not any(n in s.also for s in _DECL.connectors.values())]


def prepare(name: str, clean: bool, cfg: Settings, decl, request) -> tuple[Delivery, Lake]:
    """Deliver ``name``'s world; the lake over the settings that reach its source,
    with the reference data it needs landed first."""
    d = delivery(decl, name, clean)
    bootstrap = request.getfixturevalue("kafka_broker") if d.kafka else None
    fed, stop = d.deliver(cfg, bootstrap)
    request.addfinalizer(stop)
    lake = Lake(fed, decl)
    for before in d.before:
        run(lake, before)
    return d, lake


def as_delivered(drop_root: Path, into: Path) -> Path:
    """A copy of the drop folders as they were delivered: taken files back out of ``archive/``."""
    if not drop_root.is_dir():
        return into
    shutil.copytree(drop_root, into)
    for archived in sorted(into.rglob(file_drop.ARCHIVE), reverse=True):
        for f in archived.iterdir():
            f.rename(archived.parent / f.name)
        archived.rmdir()
    return into


def count(lake: Lake, table: str, where: str = "", params=None) -> int:
    return lake.query(f'SELECT count(*) AS n FROM "{table}" {where}', [table], params)["n"][0].as_py()


def quarantined(lake: Lake, name: str) -> list[dict]:
    if lake.snapshot_id("quarantine") is None:
        return []
    return lake.query("SELECT * FROM quarantine WHERE connector = ?", ["quarantine"], [name]).to_pylist()


def codes(row: dict) -> set[str]:
    return {r.split(":", 1)[0] for r in row["reason"].split("; ")}


def matches(needle: str, q: dict) -> bool:
    """The quarantine row is about the item ``needle`` names: by key, raw text, or
    source (a page or file, or a line/item within it)."""
    src = q["source"]
    return (needle in (q["record_key"] or "") or needle in (q["raw"] or "") or src.endswith(needle)
            or f"{needle}#" in src or f"{needle}:" in src)


@pytest.mark.parametrize("name", NAMES)
def test_every_connector_has_a_conformance_delivery(name, decl):
    assert delivery(decl, name, clean=True).deliver


def test_a_connector_without_a_delivery_fails_the_suite(decl):
    """A connector declared with neither sample files nor a delivery in conformance.py."""
    spec = decl.connector("bus_stop_boards_sql").model_copy(update={"name": "parking_spaces_sql"})
    assert spec.conformance is None
    only_it = SimpleNamespace(connector={"parking_spaces_sql": spec}.__getitem__)
    with pytest.raises(LookupError, match="parking_spaces_sql has no conformance delivery"):
        delivery(only_it, "parking_spaces_sql", clean=True)


@pytest.mark.parametrize("name", NAMES)
def test_happy_path_lands_everything(name, cfg, decl, request):
    _, lake = prepare(name, True, cfg, decl, request)
    r = run(lake, name)
    assert r.skipped is None, r.skipped
    assert r.landed > 0 and r.quarantined == 0, r.land.reasons
    assert not r.drift, r.drift.as_dict()
    assert count(lake, decl.connector(name).dataset) == r.landed


@pytest.mark.parametrize("name", NAMES)
def test_every_fault_goes_to_quarantine_with_its_reason(name, cfg, decl, request):
    d, lake = prepare(name, False, cfg, decl, request)
    r = run(lake, name)
    rows = quarantined(lake, name)
    expected = [f for f in d.faults if f["expect"] == "quarantine"]
    assert expected, "the delivery injects no faults to check"

    counted: dict[str, int] = {}
    anonymous: set[str] = set()
    for f in expected:
        needle = d.needle(f)
        if needle is None:  # no identity left: checked by count below
            counted[f["kind"]] = counted.get(f["kind"], 0) + 1
            anonymous |= reasons_of(f)
            continue
        found = [q for q in rows if matches(needle, q)]
        assert found, f"fault {f} did not reach quarantine"
        assert any(codes(q) & reasons_of(f) for q in found), (f, [q["reason"] for q in found])
        assert all(q["raw"] for q in found), "quarantine keeps the raw item"
    for kind, n in counted.items():
        want = set().union(*(reasons_of(f) for f in expected if f["kind"] == kind))
        assert sum(1 for q in rows if codes(q) & want) >= n, kind
    for f in d.faults:
        if f["expect"] == "drift":
            assert getattr(r.drift, drift_of(f)), (f, r.drift.as_dict())
    # nothing is refused that was not a fault (a fault may refuse a row and its duplicate)
    needles = [n for n in (d.needle(f) for f in expected) if n is not None]
    strays = [q for q in rows if not any(matches(n, q) for n in needles) and not codes(q) & anonymous]
    assert not strays, strays[:3]
    assert r.landed > 0


@pytest.mark.parametrize("name", NAMES)
def test_a_rerun_adds_nothing(name, cfg, decl, request):
    _, lake = prepare(name, False, cfg, decl, request)
    first = run(lake, name)
    dataset = decl.connector(name).dataset
    before = (count(lake, dataset), len(quarantined(lake, name)))
    second = run(lake, name)
    assert (count(lake, dataset), len(quarantined(lake, name))) == before
    assert second.landed == 0 and second.quarantined == 0
    assert first.landed == before[0]


@pytest.mark.parametrize("name", NAMES)
def test_interrupted_run_resumes_without_loss_or_duplicates(name, cfg, decl, request, monkeypatch, tmp_path):
    spec = decl.connector(name)
    _, lake = prepare(name, False, cfg, decl, request)
    real = Lake.commit

    def crash_on_data(self, table, rows, **kw):
        if table == spec.dataset:
            raise RuntimeError("simulated crash between the quarantine and the data commit")
        return real(self, table, rows, **kw)

    monkeypatch.setattr(Lake, "commit", crash_on_data)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(lake, name)
    monkeypatch.setattr(Lake, "commit", real)
    resumed = run(lake, name)
    c = decl.contract(spec.dataset)
    keys = ", ".join(f'"{k}"' for k in c.key)
    total = count(lake, spec.dataset)
    distinct = lake.query(f'SELECT count(*) AS n FROM (SELECT DISTINCT {keys} FROM "{spec.dataset}")',
                          [spec.dataset])["n"][0].as_py()
    assert total == distinct, "a key landed twice"
    q = quarantined(lake, name)
    assert len(q) == len({(r["source"], r["record_key"], r["reason"]) for r in q}), "quarantined twice"
    assert resumed.landed > 0

    # the same delivery into a fresh lake (its own home, the same drop folders and
    # sources), uninterrupted, lands exactly as much
    fed = lake.cfg
    fresh = Lake(Settings(home=tmp_path / "fresh", drop_root=as_delivered(fed.drop_root, tmp_path / "drop"),
                          kafka_bootstrap=fed.kafka_bootstrap, connectors=fed.connectors), decl)
    assert fresh.cfg.catalog_uri != fed.catalog_uri and fresh.cfg.hub_db_uri != fed.hub_db_uri
    for before in delivery(decl, name, False).before:
        run(fresh, before)
    reference = run(fresh, name)
    assert total == count(fresh, spec.dataset) == reference.landed
    assert len(q) == len(quarantined(fresh, name))
