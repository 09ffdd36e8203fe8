"""Airflow DAG file: the indicators DAG, run when any fed dataset's asset changes
and hourly regardless (``cityhub.orchestration.dags.indicators_dag``)."""
from cityhub.orchestration.dags import indicators_dag

indicators = indicators_dag()
