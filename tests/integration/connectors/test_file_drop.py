"""File drops as deliveries: taken files move to the archive and are never read
again, however many arrive; links, devices and FIFOs are refused unread; empty files
are quarantined with a reason; a crash between the commit and the archive neither
loses nor duplicates rows."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cityhub.connectors.sources import file_drop
from cityhub.lake import Lake
from cityhub.pipelines.ingest import runs
from cityhub.pipelines.ingest.runner import run

NAME = "camera_status_drop"


def drop(lake: Lake) -> Path:
    where = file_drop.folder(lake.decl.connector(NAME), lake.cfg)
    where.mkdir(parents=True, exist_ok=True)
    return where


def event(n: int) -> str:
    return json.dumps({"event_id": f"ev{n:06d}", "device_id": f"37140200001320{n % 1000000:06d}",
                       "civil_code": "371402", "status": "ON", "event_time": "2026-11-22T08:00:00"})


def deliver(where: Path, name: str, *ns: int) -> Path:
    p = where / name
    p.write_text("".join(event(n) + "\n" for n in ns), encoding="utf-8")
    return p


def landed(lake: Lake) -> list[str]:
    if lake.snapshot_id("camera_status") is None:
        return []
    return lake.query("SELECT event_id FROM camera_status", ["camera_status"])["event_id"].to_pylist()


def quarantined(lake: Lake) -> list[dict]:
    if lake.snapshot_id("quarantine") is None:
        return []
    return lake.query("SELECT source, reason, raw FROM quarantine WHERE dataset = ?", ["quarantine"],
                      ["camera_status"]).to_pylist()


def test_taken_files_are_archived_and_not_read_again(lake):
    where = drop(lake)
    deliver(where, "status_a.jsonl", 1, 2)
    assert run(lake, NAME).landed == 2
    assert not list(where.glob("*.jsonl")) and (where / "archive" / "status_a.jsonl").is_file()
    deliver(where, "status_b.jsonl", 3)
    second = run(lake, NAME)
    assert (second.landed, second.received) == (1, 1)
    assert sorted(landed(lake)) == ["ev000001", "ev000002", "ev000003"]


def test_more_files_than_the_state_keeps_land_once_and_the_run_ends(lake):
    """Once 2,000 file marks were kept in the state and older ones dropped, so a folder of
    2,500 files was landed again and again without end."""
    where = drop(lake)
    for n in range(2500):
        deliver(where, f"status_{n:05d}.jsonl", n)
    spec = lake.decl.connector(NAME)
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"batch_files": 500})})
    report = run(lake, spec, max_units=50)  # 5 units do it; a loop would use all 50
    assert report.units == 5 and report.landed == 2500 and report.already_landed == 0
    ids = landed(lake)
    assert len(ids) == len(set(ids)) == 2500
    assert len(list((where / "archive").iterdir())) == 2500 and not list(where.glob("*.jsonl"))
    again = run(lake, spec)
    assert (again.units, again.received) == (0, 0)


def test_a_crash_between_commit_and_archive_neither_loses_nor_duplicates(lake, monkeypatch):
    where = drop(lake)
    deliver(where, "status_a.jsonl", 1, 2)
    deliver(where, "status_b.jsonl", 3)

    def crash(where_, paths):
        raise KeyboardInterrupt("power cut after the commit")
    monkeypatch.setattr(file_drop, "archive", crash)
    with pytest.raises(KeyboardInterrupt):
        run(lake, NAME)
    monkeypatch.undo()
    assert (where / "status_a.jsonl").exists()  # committed, not yet archived
    report = run(lake, NAME)
    assert report.already_landed == 0
    assert sorted(landed(lake)) == ["ev000001", "ev000002", "ev000003"]
    assert not list(where.glob("*.jsonl")) and len(list((where / "archive").iterdir())) == 2


def test_links_fifos_and_files_outside_are_refused_unread(lake, tmp_path):
    where = drop(lake)
    secret = tmp_path / "secret.jsonl"
    secret.write_text(event(99) + "\n", encoding="utf-8")
    (where / "passwd.jsonl").symlink_to("/etc/passwd")
    (where / "secret.jsonl").symlink_to(secret)
    os.mkfifo(where / "pipe.jsonl")  # reading it would block the run for ever
    deliver(where, "status_a.jsonl", 1)

    report = run(lake, NAME)
    assert report.landed == 1 and landed(lake) == ["ev000001"]
    rows = {r["source"]: r for r in quarantined(lake)}
    assert set(rows) == {"passwd.jsonl", "secret.jsonl", "pipe.jsonl"}
    assert all(r["raw"] == "" for r in rows.values())  # nothing was read
    assert "symbolic link (to /etc/passwd)" in rows["passwd.jsonl"]["reason"]
    assert str(where / "passwd.jsonl") in rows["passwd.jsonl"]["reason"]
    assert rows["pipe.jsonl"]["reason"].startswith("refused_file:") and "FIFO" in rows["pipe.jsonl"]["reason"]
    assert report.land.reasons.get("refused_file") == 3
    assert runs.recent(lake.cfg, NAME)[0]["reasons"]["refused_file"] == 3
    assert (where / "refused" / "passwd.jsonl").is_symlink()
    assert run(lake, NAME).quarantined == 0  # reported once, not at every run


def test_a_pattern_reaching_outside_the_folder_is_refused(lake, tmp_path):
    where = drop(lake)
    (where.parent / "outside.jsonl").write_text(event(5) + "\n", encoding="utf-8")
    spec = lake.decl.connector(NAME)
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"pattern": "../*.jsonl"})})
    run(lake, spec)
    assert landed(lake) == []
    [row] = quarantined(lake)
    assert "not directly in the drop folder" in row["reason"] and row["raw"] == ""
    assert (where.parent / "outside.jsonl").exists()  # not ours: left where it is
    again = run(lake, spec, max_units=5)  # reported once, and the run ends
    assert (again.units, again.quarantined) == (0, 0)


@pytest.mark.parametrize("content", [b"", b"\n  \r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n", b"\xff\xfe"])
def test_an_empty_file_is_quarantined_and_later_runs_go_on(lake, content):
    where = drop(lake)
    (where / "status_0_empty.jsonl").write_bytes(content)
    deliver(where, "status_1.jsonl", 1)
    first = run(lake, NAME)
    [row] = quarantined(lake)
    assert row["source"] == "status_0_empty.jsonl" and row["reason"].startswith("empty_file:")
    assert first.landed == 1
    deliver(where, "status_2.jsonl", 2)
    assert run(lake, NAME).landed == 1
    assert sorted(landed(lake)) == ["ev000001", "ev000002"]
    assert (where / "archive" / "status_0_empty.jsonl").exists()


def registry_drop(lake: Lake) -> Path:
    """A day's camera registry (CSV, ``as_of: file_day``) as the simulator delivers it."""
    from datetime import date

    from cityhub_sim.cameras import SimConfig, generate, write_drop

    world = generate(SimConfig(cameras_per_county=3, key_areas_per_county=1, day=date(2026, 11, 22), fault_rate=0))
    [path] = write_drop(world, lake.cfg.drop_root, parts=("registry",))["registry"]
    return path


def registry_days(lake: Lake) -> set[str]:
    if lake.snapshot_id("camera_registry") is None:
        return set()
    return {str(d) for d in lake.query("SELECT DISTINCT as_of FROM camera_registry",
                                       ["camera_registry"])["as_of"].to_pylist()}


def test_a_file_whose_name_gives_no_day_is_refused_not_dated_by_its_mtime(lake):
    path = registry_drop(lake)
    undated = path.rename(path.with_name("registry_latest.csv"))
    report = run(lake, "camera_registry")
    assert report.landed == 0 and registry_days(lake) == set()
    [row] = lake.query("SELECT source, reason, raw FROM quarantine", ["quarantine"]).to_pylist()
    assert row["source"] == "registry_latest.csv" and row["reason"].startswith("no_file_day:")
    assert "declared pattern" in row["reason"] and row["raw"] == ""
    assert (undated.parent / "refused" / "registry_latest.csv").exists()


def test_the_day_comes_from_the_declared_pattern(lake):
    path = registry_drop(lake)
    path.rename(path.with_name("registry_22.11.2026.csv"))
    os.utime(path.with_name("registry_22.11.2026.csv"), (0, 0))  # an mtime in 1970 must not matter
    spec = lake.decl.connector("camera_registry")
    day = r"_(?P<day>\d{2})\.(?P<month>\d{2})\.(?P<year>\d{4})\.csv$"
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"day": day})})
    assert run(lake, spec).landed > 0
    assert registry_days(lake) == {"2026-11-22"}


def test_a_day_pattern_without_its_groups_is_refused_on_load():
    from pydantic import ValidationError

    from cityhub.declarations.connectors import FileDropSource

    with pytest.raises(ValidationError, match="lacks the named groups day, month"):
        FileDropSource(kind="file_drop", day=r"(?P<year>\d{4})")
