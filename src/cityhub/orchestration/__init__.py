"""Airflow: the hub's assets and the DAGs, built from the declarations. The files in
``dags/`` only call ``connector_dags`` and ``indicators_dags``."""
