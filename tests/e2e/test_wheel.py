"""The ``cityhub`` wheel as a deployment gets it: built from a clean copy of the
repository, installed into a fresh virtual environment outside the checkout, and run
from a folder outside the checkout with nothing of the checkout on the path.

The wheel's dependencies come from the package index (``pip install wheel[airflow]``
pinned by ``constraints.txt``; about 30-90 s, depending on pip's cache and the machine's
load). ``WHEEL_TEST_DEPS=dev-venv`` is the fast way, where the index is slow or out of
reach (the isolated build still needs setuptools and wheel from it or pip's cache): it
installs the wheel alone (``--no-deps``) and lets the fresh venv find the dependencies
in the dev venv's site-packages through a plain path line in a ``.pth`` file (which
does not run the dev venv's own ``.pth`` files, so the editable install of the
checkout stays out of reach; checked below).

The wheel and the venv are made once per test run (pytest-xdist workers share them).
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from tests.e2e.airflow_processor import (
    REPO,
    clean_env,
    exclusive,
    parse_dags,
    shared_root,
    template_db,
)

DEV_AIRFLOW = [str(Path(sys.executable).parent / "airflow")]
DEPS = os.environ.get("WHEEL_TEST_DEPS", "index")
TIMEOUT = 900
DAY = "2026-11-22"
KEY_AREAS = [  # area_id, name, kind, region (counties of 371400), township code, longitude, latitude
    ("KA0001", "Dezhou Railway Station", "station", "371402", "371402001", "116.30", "37.45"),
    ("KA0002", "Central Square", "square", "371403", "", "116.35", "37.43"),
    ("KA0003", "People's Hospital", "hospital", "371422", "371422100", "116.40", "37.40"),
]


def _run(cmd: list, cwd: Path, env: dict | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n"
                                  f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def _timed(what: str, durations: dict, fn, *args, **kwargs):
    start = time.monotonic()
    try:
        return fn(*args, **kwargs)
    finally:
        durations[what] = round(time.monotonic() - start, 1)


@pytest.fixture(scope="module")
def durations():
    """Seconds per step, printed at the end of the module (``pytest -s`` shows them)."""
    found: dict[str, float] = {}
    yield found
    print(f"\ntest_wheel steps (s, deps from {DEPS}): {json.dumps(found)}")


def _site_packages(venv: Path) -> Path:
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    return site


def _build(into: Path, durations: dict) -> Path:
    """The wheel, built from a copy of the checkout's files: tracked and new ones as the
    working tree has them, nothing ignored (no venv, no caches, no build leftovers);
    PEP 517, in an isolated build environment."""
    src = into / "src"
    listed = _run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO).stdout.split("\0")
    for rel in filter(None, listed):
        path = REPO / rel
        if path.is_file():  # a tracked file deleted in the working tree is not copied
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / rel)
    _timed("build", durations, _run, [sys.executable, "-m", "build", "--wheel", "--outdir", into / "dist", src],
           cwd=into, env=clean_env(Path(sys.executable).parent))
    (built,) = (into / "dist").glob("cityhub-*.whl")
    return built


def _install(wheel: Path, venv: Path, durations: dict) -> None:
    """A fresh virtual environment with the wheel installed."""
    cwd = venv.parent
    env = clean_env(Path(sys.executable).parent)
    _timed("venv", durations, _run, [sys.executable, "-m", "venv", "--without-pip", venv], cwd=cwd, env=env)
    # the dev venv's pip installs into the fresh venv (``--python``): no pip bootstrapped there
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
           "--disable-pip-version-check"]
    if DEPS == "dev-venv":
        dev_site = Path(sysconfig.get_paths()["purelib"])
        (_site_packages(venv) / "cityhub-dev-dependencies.pth").write_text(f"{dev_site}\n")
        _timed("install", durations, _run, [*pip, "--no-deps", wheel], cwd=cwd, env=env)
    else:
        assert DEPS == "index", f"WHEEL_TEST_DEPS={DEPS!r}: index or dev-venv"
        _timed("install", durations, _run, [*pip, "-c", REPO / "constraints.txt", f"{wheel}[airflow]"],
               cwd=cwd, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory, durations) -> tuple[Path, Path]:
    """The built wheel and a fresh venv outside the checkout with it installed: made once
    per test run (pytest-xdist workers share them)."""
    root = shared_root(tmp_path_factory) / "cityhub-wheel"
    venv = root / "venv"
    assert not root.resolve().is_relative_to(REPO)
    with exclusive(root.with_suffix(".lock")):
        if not (root / "ready").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            _install(_build(root, durations), venv, durations)
            (root / "ready").touch()
    (wheel,) = (root / "dist").glob("cityhub-*.whl")
    return wheel, venv


@pytest.fixture(scope="module")
def wheel(installed) -> Path:
    return installed[0]


@pytest.fixture(scope="module")
def venv(installed) -> Path:
    return installed[1]


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A working directory outside the checkout, with a hub home in it."""
    cwd = tmp_path_factory.mktemp("outside")
    assert not cwd.resolve().is_relative_to(REPO)
    return cwd


def hub_env(venv: Path, home: Path) -> dict[str, str]:
    # wide enough that rich prints every table cell whole
    return clean_env(venv / "bin", CITYHUB_HOME=str(home), COLUMNS="250")


def cityhub(venv: Path, cwd: Path, *args: str, durations: dict) -> subprocess.CompletedProcess:
    """The installed ``cityhub`` command, run in ``cwd`` on the hub ``cwd/hub``."""
    cmd = [venv / "bin" / "cityhub", *args]
    return _timed(f"cityhub {' '.join(args)}", durations, _run, cmd, cwd=cwd, env=hub_env(venv, cwd / "hub"))


# -- the wheel ---------------------------------------------------------------------


def test_the_wheel_carries_every_declaration(wheel):
    declared = {p.relative_to(REPO / "schemas").as_posix() for p in (REPO / "schemas").rglob("*.yaml")}
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    shipped = {n.removeprefix("cityhub/schemas/") for n in names
               if n.startswith("cityhub/schemas/") and n.endswith(".yaml")}
    assert declared and shipped == declared
    assert "cityhub/schemas/__init__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "dags/", "simulators/", "cityhub_sim/"))]


def test_cityhub_resolves_inside_the_fresh_venv(venv, outside):
    probe = ("import importlib.metadata as md, json, sys, cityhub\n"
             "from cityhub.declarations.loading import packaged_root\n"
             "print(json.dumps({'module': cityhub.__file__, 'schemas': str(packaged_root()),\n"
             "  'dist': str(md.distribution('cityhub').locate_file('')),\n"
             "  'finders': [repr(f) for f in sys.meta_path], 'path': sys.path}))\n")
    found = json.loads(_run([venv / "bin" / "python", "-c", probe], cwd=outside,
                            env=hub_env(venv, outside / "hub")).stdout)
    site = _site_packages(venv).resolve()
    for key in ("module", "schemas", "dist"):
        assert Path(found[key]).resolve().is_relative_to(site), (key, found[key])
    assert not any("Editable" in f or "__editable__" in f for f in found["finders"]), found["finders"]
    on_path = {Path(p).resolve() for p in found["path"] if p}
    assert not on_path & {REPO, REPO / "src", REPO / "schemas", REPO / "dags", REPO / "simulators" / "src"}


# -- the installed command -----------------------------------------------------------


def test_check_and_connectors_list(venv, outside, decl, durations):
    out = cityhub(venv, outside, "check", durations=durations).stdout
    assert out.startswith("ok:") and f"{len(decl.connectors)} connectors" in out, out
    assert str(_site_packages(venv)) in " ".join(out.split()), "check must read the installed declarations"

    listed = cityhub(venv, outside, "connectors", "list", durations=durations).stdout
    rows = {m.group(1) for m in re.finditer(r"^│ (\w+) +│", listed, re.MULTILINE)}
    assert rows == set(decl.connectors), listed


def test_ingest_a_key_areas_drop_then_compute_indicators(venv, outside, decl, durations):
    spec = decl.connector("camera_key_areas")
    assert spec.source.kind == "file_drop" and spec.format.kind == "csv"
    header = ",".join(spec.fields)
    assert header == "area_id,name,kind,region,township_code,longitude,latitude"
    drop = outside / "hub" / "drop" / spec.source.folder
    drop.mkdir(parents=True)
    (drop / f"key_areas_{DAY.replace('-', '')}.csv").write_text(
        "\n".join([header, *(",".join(r) for r in KEY_AREAS)]) + "\n", encoding="utf-8")

    cityhub(venv, outside, "ingest", "camera_key_areas", durations=durations)
    status = json.loads(cityhub(venv, outside, "connectors", "status", "--json", durations=durations).stdout)
    mine = next(s for s in status if s["connector"] == "camera_key_areas")
    assert mine["result"] == "ok" and mine["landed"] == len(KEY_AREAS) and mine["quarantined"] == 0, mine
    assert mine["lag"] == 0

    out = cityhub(venv, outside, "indicators", "compute", "--day", DAY, durations=durations).stdout
    rows = [m.groups() for m in re.finditer(r"^│ (\w+) +│ [^│]+│ (\d{6}) +│ (\S+) +│ (\S+) +│", out, re.MULTILINE)]
    assert {code for code, region, *_ in rows if region == "371400"} == set(decl.indicators), out[-3000:]
    assert any(re.fullmatch(r"\d+\.\d{4}", value) for *_, value in rows), "no value computed"


# -- Airflow, with only the installed package -----------------------------------------


def test_the_dag_processor_in_the_fresh_venv_has_no_import_errors(venv, outside, decl, tmp_path_factory, durations):
    version = "import importlib.metadata as md; print(md.version('apache-airflow'))"
    mine = _run([venv / "bin" / "python", "-c", version], cwd=outside, env=clean_env(venv / "bin")).stdout.strip()
    assert mine == importlib.metadata.version("apache-airflow"), "the shared template DB is the dev venv's Airflow's"
    db = template_db(tmp_path_factory, DEV_AIRFLOW)
    parsed = _timed("dag-processor", durations, parse_dags, tmp_path_factory.mktemp("parse") / "run", db,
                    [str(venv / "bin" / "python"), "-m", "airflow"])
    assert parsed.import_errors == [], parsed.log
    assert parsed.dag_ids == {f"connector_{n}" for n in decl.connectors} | {"indicators", "lake_maintenance"}, \
        parsed.log
