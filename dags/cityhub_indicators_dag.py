"""Airflow DAG file: the indicators DAG, run when any fed dataset's asset changes
and hourly regardless (``cityhub.orchestration.dags.indicators_dags``). An indicator
whose declaration is broken is left out and reported as this file's import error."""
from cityhub.orchestration.dags import indicators_dags

globals().update(indicators_dags())
