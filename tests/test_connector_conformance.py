"""One conformance suite over every declared connector, against real parts
(files in their encodings, HTTP servers on loopback that fail now and then, the
Kafka-protocol broker): the happy path, every injected fault to quarantine with
its reason, schema drift reported, an idempotent re-run, and a run interrupted
between its quarantine commit and its data commit that resumes without loss or
duplicates."""
from __future__ import annotations

import pytest

from connectors.runner import run
from connectors.spec import registry
from hub.config import settings
from hub.contracts import contract
from hub.lake import Lake
from tests.conformance import DRIFT, REASONS, delivery

NAMES = list(registry())


def prepare(name: str, clean: bool, lake: Lake, request, monkeypatch):
    d = delivery(name, clean)
    bootstrap = None
    if d.kafka:
        bootstrap = request.getfixturevalue("kafka_broker")
        monkeypatch.setenv("CITYHUB_KAFKA_BOOTSTRAP", bootstrap)
    stop = d.deliver(settings().drop_root, bootstrap)
    request.addfinalizer(stop)
    for before in d.before:
        run(before, lake)
    return d


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
def test_every_connector_has_a_conformance_delivery(name):
    assert delivery(name, clean=True).deliver


@pytest.mark.parametrize("name", NAMES)
def test_happy_path_lands_everything(name, lake, request, monkeypatch):
    prepare(name, True, lake, request, monkeypatch)
    r = run(name, lake)
    assert r.skipped is None, r.skipped
    assert r.landed > 0 and r.quarantined == 0, r.land.reasons
    assert not r.drift, r.drift.as_dict()
    assert count(lake, registry()[name].dataset) == r.landed


@pytest.mark.parametrize("name", NAMES)
def test_every_fault_goes_to_quarantine_with_its_reason(name, lake, request, monkeypatch):
    d = prepare(name, False, lake, request, monkeypatch)
    r = run(name, lake)
    rows = quarantined(lake, name)
    expected = [f for f in d.faults if f["expect"] == "quarantine"]
    assert expected, "the delivery injects no faults to check"

    counted = {}
    for f in expected:
        needle = d.needle(f)
        if needle is None:  # no identity left: checked by count below
            counted[f["kind"]] = counted.get(f["kind"], 0) + 1
            continue
        found = [q for q in rows if matches(needle, q)]
        assert found, f"fault {f} did not reach quarantine"
        assert any(codes(q) & REASONS[f["kind"]] for q in found), (f, [q["reason"] for q in found])
        assert all(q["raw"] for q in found), "quarantine keeps the raw item"
    for kind, n in counted.items():
        assert sum(1 for q in rows if codes(q) & REASONS[kind]) >= n, kind
    for f in d.faults:
        if f["expect"] == "drift":
            assert getattr(r.drift, DRIFT[f["kind"]]), (f, r.drift.as_dict())
    # nothing is refused that was not a fault (a fault may refuse a row and its duplicate)
    needles = [n for n in (d.needle(f) for f in expected) if n is not None]
    anonymous = set().union(*(REASONS[k] for k in counted)) if counted else set()
    strays = [q for q in rows if not any(matches(n, q) for n in needles) and not codes(q) & anonymous]
    assert not strays, strays[:3]
    assert r.landed > 0


@pytest.mark.parametrize("name", NAMES)
def test_a_rerun_adds_nothing(name, lake, request, monkeypatch):
    prepare(name, False, lake, request, monkeypatch)
    first = run(name, lake)
    dataset = registry()[name].dataset
    before = (count(lake, dataset), len(quarantined(lake, name)))
    second = run(name, lake)
    assert (count(lake, dataset), len(quarantined(lake, name))) == before
    assert second.landed == 0 and second.quarantined == 0
    assert first.landed == before[0]


@pytest.mark.parametrize("name", NAMES)
def test_interrupted_run_resumes_without_loss_or_duplicates(name, lake, request, monkeypatch, tmp_path):
    spec = registry()[name]
    prepare(name, False, lake, request, monkeypatch)
    real = Lake.commit

    def crash_on_data(self, table, rows, **kw):
        if table == spec.dataset:
            raise RuntimeError("simulated crash between the quarantine and the data commit")
        return real(self, table, rows, **kw)

    monkeypatch.setattr(Lake, "commit", crash_on_data)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(name, lake)
    monkeypatch.setattr(Lake, "commit", real)
    resumed = run(name, lake)
    c = contract(spec.dataset)
    keys = ", ".join(f'"{k}"' for k in c.key)
    total = count(lake, spec.dataset)
    distinct = lake.query(f'SELECT count(*) AS n FROM (SELECT DISTINCT {keys} FROM "{spec.dataset}")',
                          [spec.dataset])["n"][0].as_py()
    assert total == distinct, "a key landed twice"
    q = quarantined(lake, name)
    assert len(q) == len({(r["source"], r["record_key"], r["reason"]) for r in q}), "quarantined twice"
    assert resumed.landed > 0

    # the same delivery into a fresh lake, uninterrupted, lands exactly as much
    drop = settings().drop_root
    monkeypatch.setenv("CITYHUB_HOME", str(tmp_path / "fresh"))
    monkeypatch.setenv("CITYHUB_DROP", str(drop))
    fresh = Lake()
    for before in delivery(name, False).before:
        run(before, fresh)
    reference = run(name, fresh)
    assert total == count(fresh, spec.dataset) == reference.landed
    assert len(q) == len(quarantined(fresh, name))
