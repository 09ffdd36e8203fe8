"""The hub's DAGs, built from the declarations: one ingestion DAG per declared
connector, and the indicators DAG that runs when any fed dataset changes (and
hourly regardless). The work is library code; a task builds its settings once.

A broken connector declaration leaves out only its own DAG, and a broken indicator only
itself: each becomes an Airflow import error of its DAG file, naming what was left out and
every problem, while the other DAGs load.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, task
from airflow.sdk.exceptions import AirflowSkipException

from cityhub.connectors.mapping import unresolved
from cityhub.core.files import private_files
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.declarations import Declarations, load
from cityhub.declarations.connectors import ConnectorSpec
from cityhub.lake import Lake
from cityhub.orchestration.assets import INDICATORS, dataset_asset
from cityhub.pipelines.indicators.engine import compute
from cityhub.pipelines.ingest.runner import run

START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")


def _lake() -> Lake:
    """The lake for a task: settings from the worker's environment, built once per task
    (and the task's files private, as the ``cityhub`` command's)."""
    private_files()
    return Lake(Settings())


def connector_dag(spec: ConnectorSpec) -> DAG:
    with DAG(
        dag_id=f"connector_{spec.name}",
        description=spec.title,
        schedule=spec.schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,  # one writer of the connector's state at a time
        tags=["cityhub", "connector", spec.source.kind, spec.dataset],
        doc_md=spec.description or spec.title,
    ) as dag:

        @task(task_id="ingest", outlets=[dataset_asset(spec.dataset)], retries=2)
        def ingest() -> dict:
            report = run(_lake(), spec.name)
            if report.skipped:
                raise AirflowSkipException(f"{spec.name}: {report.skipped}")
            if report.landed == 0 and report.quarantined == 0:
                raise AirflowSkipException(f"{spec.name}: nothing new")
            return {"units": report.units, "landed": report.landed, "quarantined": report.quarantined,
                    "snapshot_id": str(report.snapshot_id), "drift": report.drift.as_dict() if report.drift else None}

        ingest()
    return dag


class BrokenDeclaration(DAG):
    """A DAG a broken declaration would have made: Airflow's validation of it fails with
    the declaration's problems, which Airflow records as the file's import error, and
    bags every other DAG of the file."""

    problems: str = ""

    def validate(self):
        raise ValueError(self.problems)


def broken_dag(dag_id: str, what: str, problems: str) -> DAG:
    dag = BrokenDeclaration(dag_id=dag_id, schedule=None, start_date=START, tags=["cityhub", "broken"])
    dag.problems = f"declarations left out, so {what}: {problems}"
    return dag


def connector_dags(decl: Declarations | None = None) -> dict[str, DAG]:
    """Every declared connector's DAG by id, and one that carries the problems of those
    whose declarations are broken or name a mapping function that cannot be found (see
    ``BrokenDeclaration``)."""
    decl = decl or load(Settings().declarations)
    unfound = unresolved(decl)
    dags = {f"connector_{s.name}": connector_dag(s) for s in decl.connectors.values() if s.name not in unfound}
    broken = {n: "; ".join(str(p) for p in ps) for n, ps in decl.broken("connector").items()}
    broken.update({n: f"connectors/{n}.yaml: function: {why}" for n, why in unfound.items()})
    if broken:
        missing = ", ".join(f"connector_{n}" for n in broken)
        dags["broken_connector_declarations"] = broken_dag(
            "broken_connector_declarations", f"DAG(s) {missing} are missing", "; ".join(broken.values()))
    return dags


def indicators_dags(decl: Declarations | None = None) -> dict[str, DAG]:
    """The indicators DAG, and one that carries the problems of indicators left out of it."""
    decl = decl or load(Settings().declarations)
    dags = {"indicators": indicators_dag(decl)}
    broken = decl.broken("indicator")
    if broken:
        dags["broken_indicator_declarations"] = broken_dag(
            "broken_indicator_declarations", f"the indicators DAG computes without indicator(s) {', '.join(broken)}",
            "; ".join(str(p) for ps in broken.values() for p in ps))
    return dags


def indicators_dag(decl: Declarations) -> DAG:
    with DAG(
        dag_id="indicators",
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable("0 * * * *", timezone="Asia/Shanghai"),
            assets=AssetAny(*[dataset_asset(d) for d in decl.fed_datasets()]),
        ),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["cityhub", "indicators"],
        doc_md="Indicators: recomputed when any fed dataset changes, and hourly regardless.",
    ) as dag:

        @task(task_id="compute", outlets=[INDICATORS])
        def compute_all() -> dict:
            values = compute(_lake(), now_cst().date())
            return {"values": len(values), "with_value": sum(1 for v in values if v.get("value") is not None)}

        compute_all()
    return dag
