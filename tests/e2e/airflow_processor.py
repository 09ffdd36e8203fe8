"""Airflow's own DAG processor, run once in a fresh process the way production runs it.

``parse_dags`` gives a copy of ``dags/`` to ``airflow dag-processor -n 1`` (it parses
each file in a subprocess and stores the DAGs and import errors in the metadata DB),
then reads back what it stored with ``airflow dags list -o json`` and
``airflow dags list-import-errors -o json``. Every command runs with a temporary
``AIRFLOW_HOME``, its working directory outside the checkout and an environment that
does not put the checkout on ``PYTHONPATH``: what the DAG files import comes from the
``airflow`` executable's own environment (the dev venv, or a venv with the wheel).

``airflow db migrate`` takes seconds, so it runs once per test run (``template_db``,
shared by pytest-xdist workers too); every parse works on its own copy of that DB.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
TIMEOUT = 300


def clean_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without anything that reaches into the checkout, a
    test's hub or Airflow settings; ``bin_dir`` first on ``PATH``; then ``extra``."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV", "PYTEST_")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_", "CITYHUB_", *drop))}
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    return {**env, **extra}


def airflow_env(home: Path, dags_folder: Path, bin_dir: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        bin_dir,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="120",
        **extra,
    )


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def shared_root(tmp_path_factory) -> Path:
    """The test run's temporary folder, shared by all pytest-xdist workers of the run."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def exclusive(lock: Path):
    """Hold ``lock`` (a file) exclusively: one worker makes what the others then reuse."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def template_db(tmp_path_factory, airflow: list[str]) -> Path:
    """A migrated, empty Airflow metadata DB, made once per test run with the ``airflow`` command."""
    root = shared_root(tmp_path_factory)
    home = root / "airflow-template"
    db = home / "airflow.db"
    with exclusive(root / "airflow-template.lock"):
        if not (home / "ready").exists():
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir(parents=True)
            empty = home / "no-dags"
            empty.mkdir()
            _run([*airflow, "db", "migrate"], airflow_env(home, empty, Path(airflow[0]).parent), cwd=home)
            assert db.exists(), f"airflow db migrate made no {db}"
            (home / "ready").touch()
    return db


def _json_output(stdout: str) -> list:
    """The JSON array an ``airflow ... -o json`` command printed (Airflow's warnings go to
    stdout too, before it)."""
    m = re.search(r"^\[.*\]\s*$", stdout, re.MULTILINE | re.DOTALL)
    assert m, f"no JSON list in the output:\n{stdout[-4000:]}"
    return json.loads(m.group(0))


@dataclass
class Parsed:
    dag_ids: set[str]
    import_errors: list[dict]
    """``{"bundle_name", "filepath", "error"}`` per file that failed."""
    log: str
    """The DAG processor's output, for failure messages."""


def parse_dags(workdir: Path, db: Path, airflow: list[str], dags: Path = DAGS, **extra_env: str) -> Parsed:
    """Run ``airflow dag-processor -n 1`` (``airflow``: the command, e.g. a venv's
    ``bin/airflow`` or ``[python, "-m", "airflow"]``) on a copy of ``dags`` in
    ``workdir``, with a copy of the migrated ``db``; what Airflow stored."""
    assert not workdir.resolve().is_relative_to(REPO), "the parse must run outside the checkout"
    home, folder = workdir / "airflow_home", workdir / "dags"
    home.mkdir(parents=True)
    shutil.copyfile(db, home / "airflow.db")
    shutil.copytree(dags, folder, ignore=shutil.ignore_patterns("__pycache__"))
    env = airflow_env(home, folder, Path(airflow[0]).parent, **extra_env)
    log = _run([*airflow, "dag-processor", "-n", "1"], env, cwd=workdir)
    # the two reads are independent: run them at once
    reads = {what: subprocess.Popen([*airflow, "dags", what, "-o", "json"], env=env, cwd=workdir,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for what in ("list", "list-import-errors")}
    out = {}
    for what, proc in reads.items():
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
        # list-import-errors exits 1 when it lists any
        ok = (0, 1) if what == "list-import-errors" else (0,)
        assert proc.returncode in ok, f"airflow dags {what} exited {proc.returncode}:\n{stdout[-4000:]}\n{stderr[-4000:]}"
        out[what] = _json_output(stdout)
        assert proc.returncode == (1 if what == "list-import-errors" and out[what] else 0), (what, proc.returncode)
    return Parsed(dag_ids={d["dag_id"] for d in out["list"]}, import_errors=out["list-import-errors"],
                  log=log.stdout[-6000:] + log.stderr[-6000:])
