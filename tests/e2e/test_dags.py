"""The Airflow DAGs, parsed and run by Airflow itself on simulated camera data.

Airflow reads its configuration from the environment when it is first imported,
so nothing here imports it at module level: the session fixture ``airflow_db``
points ``AIRFLOW_HOME``, the DAG folder and a SQLite metadata DB at a temporary
directory first, then imports Airflow and creates the DB. The DAGs are loaded
from ``dags/`` with a ``DagBag`` (``dag.test()`` needs them to come from the
DAG folder: it syncs that bundle to the DB and runs the serialized version).
``dag.test()`` runs the tasks in this process, and each task builds its settings
from the environment (``Settings()``), so ``CITYHUB_HOME`` reaches them.

Airflow's own parsing in a fresh process, as production runs it, is
``tests/e2e/test_airflow_parsing.py``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        # unpaused, so a camera_data event queues an indicators run as in production
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        # the DAG files read the declarations the settings point at: those installed
        mp.delenv("CITYHUB_DECLARATIONS", raising=False)
        if "airflow" in sys.modules:
            # Airflow's settings were fixed when it was imported; they must be ours.
            from airflow import settings as af_settings
            if Path(af_settings.DAGS_FOLDER).resolve() != DAGS_FOLDER:
                pytest.fail("Airflow was imported before the airflow_db fixture configured it "
                            f"(DAGS_FOLDER={af_settings.DAGS_FOLDER}); import it lazily in tests")
        from airflow import settings as af_settings
        from airflow.utils import db

        assert Path(af_settings.DAGS_FOLDER).resolve() == DAGS_FOLDER
        db.initdb()
        yield home


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture(scope="module")
def cityhub_home(tmp_path_factory):
    """A fresh hub (lake, catalogue, drop folders) with simulated camera drops, and an
    environment with no hub settings but that home (the tasks build ``Settings()`` from it)."""
    from cityhub_sim.cameras import SimConfig, generate, write_drop

    from cityhub.core.settings import Settings

    home = tmp_path_factory.mktemp("cityhub_home")
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("CITYHUB_")]:
            mp.delenv(var)
        mp.setenv("CITYHUB_HOME", str(home))
        write_drop(generate(SimConfig(cameras_per_county=40, key_areas_per_county=8)), Settings().drop_root)
        yield home


def _ti_states(dr) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dr.get_task_instances()}


def _xcom(dr, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=dr.run_id, key="return_value",
                                                 dag_ids=dr.dag_id, task_ids=task_id)).first()
        return XComModel.deserialize_value(row) if row is not None else None


def _asset_events(name: str) -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.count()).select_from(AssetEvent)
                              .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                              .where(AssetModel.name == name))


def _queued_by_assets(dag_id: str) -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.count()).select_from(AssetDagRunQueue)
                              .where(AssetDagRunQueue.target_dag_id == dag_id))


# -- parsing ------------------------------------------------------------------------


def test_one_dag_per_declared_connector_and_no_import_errors(dagbag, decl):
    assert dagbag.import_errors == {}
    assert {f"connector_{n}" for n in decl.connectors} | {"indicators", "lake_maintenance"} <= set(dagbag.dag_ids)


def test_connector_dags_follow_their_declarations(dagbag, decl):
    from cityhub.orchestration.assets import dataset_asset

    for spec in decl.connectors.values():
        dag = dagbag.dags[f"connector_{spec.name}"]
        assert dag.task_ids == ["ingest"]
        assert dag.catchup is False and dag.max_active_runs == 1
        assert dag.timetable.expression == spec.schedule
        assert dataset_asset(spec.dataset) in dag.task_dict["ingest"].outlets


def test_indicators_runs_on_any_fed_dataset_or_hourly(dagbag):
    from airflow.sdk import AssetOrTimeSchedule

    from cityhub.orchestration.assets import INDICATORS, dataset_asset

    dag = dagbag.dags["indicators"]
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.expression == "0 * * * *"
    cond = dag.timetable.asset_condition
    watched = {a.name for a in getattr(cond, "objects", ())}
    assert {"camera_catalog", "camera_registry", "key_areas", "camera_status"} <= watched
    assert dataset_asset("camera_catalog").name in watched
    assert dag.task_ids == ["compute"]
    assert INDICATORS in dag.task_dict["compute"].outlets


# -- running ------------------------------------------------------------------------

CAMERA_FILE_CONNECTORS = ("camera_key_areas", "camera_registry", "camera_catalog_drop", "camera_status_drop")


def _lake(decl):
    """The lake the tasks wrote to: settings built from the same environment they were."""
    from cityhub.core.settings import Settings
    from cityhub.lake import Lake

    return Lake(Settings(), decl)


def test_connector_dags_then_indicators_end_to_end(dagbag, cityhub_home, decl):
    from airflow.utils.state import DagRunState, TaskInstanceState

    from cityhub.pipelines.indicators.engine import latest

    for name in CAMERA_FILE_CONNECTORS:
        dr = dagbag.dags[f"connector_{name}"].test()
        assert dr.state == DagRunState.SUCCESS, _ti_states(dr)
        assert _ti_states(dr) == {"ingest": TaskInstanceState.SUCCESS}
        assert _xcom(dr, "ingest")["landed"] > 0

    lake = _lake(decl)
    assert lake.cfg.home == cityhub_home.resolve()
    for table in ("key_areas", "camera_registry", "camera_catalog", "camera_status"):
        n = lake.query(f"select count(*) from {table}", [table]).column(0)[0].as_py()
        assert n > 0, table
    assert _xcom(dr, "ingest")["snapshot_id"] == str(lake.snapshot_id("camera_status"))
    assert _asset_events("camera_status") == 1
    assert _queued_by_assets("indicators"), "landed data did not queue an indicators run"

    # no broker and no URL here: those connectors skip, and emit no asset event
    for name in ("camera_status_kafka", "camera_catalog_http"):
        dr = dagbag.dags[f"connector_{name}"].test()
        assert _ti_states(dr) == {"ingest": TaskInstanceState.SKIPPED}
    assert _asset_events("camera_status") == 1

    dr = dagbag.dags["indicators"].test()
    assert dr.state == DagRunState.SUCCESS, _ti_states(dr)
    summary = _xcom(dr, "compute")
    assert summary["values"] > 0 and summary["with_value"] > 0
    assert _asset_events("indicator_values") >= 1

    values = latest(_lake(decl), code="5", region="371400")
    assert values, "no indicator 5 for the city"
    assert any(v["value"] is not None and v["denominator"] > 0 for v in values)
    # the city's value is its main urban area's (德城区 371402); the whole city is stored beside it
    for v in values:
        assert "371402" in v["scope"] and v["definition_version"] == 2 and v["definition_hash"]
        whole = {x["code"]: x for x in json.loads(v["components"])}["5.whole"]
        assert whole["kind"] == "alternate" and whole["denominator"] > v["denominator"]
    # every declared indicator, the catalogue-level ones (#27, #28, #30) included
    every = latest(_lake(decl), region="371400")
    assert {v["code"] for v in every} == set(decl.indicators)
    sharing = next(v for v in every if v["code"] == "27")
    assert sharing["denominator"] == sum(1 for c in decl.catalogue.categories.values() if c.should_share)


def test_a_run_with_nothing_new_emits_no_event(dagbag, cityhub_home):
    from airflow.utils.state import DagRunState, TaskInstanceState

    dag = dagbag.dags["connector_camera_registry"]
    dag.test()
    before = _asset_events("camera_registry")
    again = dag.test()
    assert again.state == DagRunState.SUCCESS
    assert _ti_states(again) == {"ingest": TaskInstanceState.SKIPPED}
    assert _asset_events("camera_registry") == before


def test_the_maintenance_dag_runs_daily_and_maintains_the_lake(dagbag, cityhub_home):
    """``lake_maintenance``: daily at 03:30 CST, one task calling the library's
    ``maintain`` on the hub its environment names; run by Airflow, it reports what it did."""
    from airflow.utils.state import DagRunState, TaskInstanceState

    dag = dagbag.dags["lake_maintenance"]
    assert dag.task_ids == ["maintain"] and dag.catchup is False and dag.max_active_runs == 1
    assert dag.timetable.expression == "30 3 * * *"
    dr = dag.test()
    assert dr.state == DagRunState.SUCCESS and _ti_states(dr) == {"maintain": TaskInstanceState.SUCCESS}
    summary = _xcom(dr, "maintain")
    assert summary["dry_run"] is False
    assert "camera_status" in {t["table"] for t in summary["tables"]}  # the hub the connector DAGs fed
    # everything is younger than the default retention: no snapshot expired
    assert summary["expired"] == 0
