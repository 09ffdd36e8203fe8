"""Storage: the Iceberg lake (Parquet files, queried with DuckDB) and the hub's own
metadata database."""
from cityhub.lake.tables import Commit, Lake

__all__ = ["Commit", "Lake"]
