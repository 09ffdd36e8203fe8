"""The lake: Iceberg tables (Parquet data files) under one root, queried with DuckDB.

Writers (connectors, Airflow tasks, the API) commit through pyiceberg's SQL
catalogue, which serialises concurrent commits with optimistic concurrency: a
commit swaps one metadata pointer, so a reader never sees half a batch and every
commit has a snapshot id. Readers never open a DuckDB database file: they plan
the data files of a snapshot with pyiceberg and hand them to an in-memory DuckDB,
so any number of processes read and write at once without DuckDB's single-writer
lock. See docs/architecture.md for the reasons.
"""
from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy.exc
from fsspec.implementations.arrow import ArrowFSWrapper
from pyarrow.fs import S3FileSystem
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, And, BooleanExpression, EqualTo, In, IsNull, Or
from pyiceberg.table import Table
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from cityhub.core.errors import DeclarationError, InvalidRequest
from cityhub.core.settings import Settings
from cityhub.declarations import Declarations, load
from cityhub.declarations.contracts import Contract
from cityhub.declarations.sql import empty_view

NAMESPACE = "cityhub"
ANY = object()
"""No expectation about the table's current snapshot."""
STATE_PREFIX = "cityhub.state."

TABLE_PROPERTIES = {
    # keep the metadata folder bounded: old metadata.json files are deleted on commit
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
    "write.parquet.compression-codec": "zstd",
    # pyiceberg would otherwise re-apply a conflicting append on top of the other
    # writer's commit by itself; the hub must see the conflict, so that landing can
    # re-check its rows against what the other writer landed (Lake.commit retries
    # whole commits itself where that is safe)
    "commit.retry.num-retries": "0",
    # small row groups: a county's page or a day's events read a few of them, found by
    # their statistics, instead of decoding a million rows (pyiceberg's default)
    "write.parquet.row-group-limit": "32768",
}


@dataclass(frozen=True)
class Commit:
    table: str
    snapshot_id: int | None
    rows: int
    """Rows appended."""
    removed: int = 0
    """Rows deleted (``Lake.replace``, ``Lake.delete_keys``): the rows a correction replaced
    or a removal took out."""


class Lake:
    """One lake root and its catalogue, with the contracts its tables follow. Cheap to
    create; safe to share in a process."""

    def __init__(self, cfg: Settings, decl: Declarations | None = None):
        self.cfg = cfg
        self.decl = decl or load(cfg.declarations)
        if self.cfg.lake_uri.startswith("file://"):
            Path(_local(self.cfg.lake_uri)).mkdir(parents=True, exist_ok=True)
        self.cfg.home.mkdir(parents=True, exist_ok=True)
        io = file_io_properties(self.cfg)
        self.catalog = _catalog(self.cfg.catalog_uri, self.cfg.lake_uri, tuple(sorted(io.items())))
        if self.cfg.lake_uri.startswith("s3://"):
            _use_object_store(io)

    # -- tables -----------------------------------------------------------------

    def table(self, name: str) -> Table:
        """Load table ``name``, creating it from its contract on first use and adding the
        fields a newer contract version declares (schema evolution: rows landed before
        have no value for them)."""
        ident = f"{NAMESPACE}.{name}"
        try:
            table = self.catalog.load_table(ident)
            c = self.decl.contract(name)
            have = set(table.schema().column_names)
            if any(f.name not in have for f in c.fields):
                table = self._evolve(table, c, have)
            return table
        except NoSuchTableError:
            c = self.decl.contract(name)
            try:
                return self.catalog.create_table(
                    ident, schema=c.arrow_schema(),
                    properties={**TABLE_PROPERTIES, "cityhub.contract_version": str(c.version)},
                )
            except Exception:  # created concurrently
                return self.catalog.load_table(ident)

    def _evolve(self, table: Table, c: Contract, have: set[str]) -> Table:
        new = [f for f in c.fields if f.name not in have]
        required = [f.name for f in new if not f.nullable]
        if required:
            raise DeclarationError(f"contract {c.name} v{c.version} adds required field(s) {', '.join(required)}, "
                                   f"which the rows already in the lake cannot have: declare them nullable")
        try:
            with table.update_schema() as update:
                update.union_by_name(pa.schema([pa.field(f.name, f.arrow_type, nullable=True) for f in new]))
            with table.transaction() as tx:
                tx.set_properties({"cityhub.contract_version": str(c.version)})
        except CommitFailedException:
            pass  # another process evolved it first
        return self.catalog.load_table(table.name())

    def exists(self, name: str) -> bool:
        return self.catalog.table_exists(f"{NAMESPACE}.{name}")

    def snapshot_id(self, name: str) -> int | None:
        snap = self.table(name).current_snapshot()
        return snap.snapshot_id if snap else None

    def snapshot_ids(self, names: Iterable[str]) -> dict[str, int | None]:
        return {n: self.snapshot_id(n) for n in names}

    def state(self, name: str, connector: str) -> dict:
        """Incremental state a connector committed with its data (files taken, offsets)."""
        raw = self.table(name).properties.get(STATE_PREFIX + connector)
        return json.loads(raw) if raw else {}

    # -- writing ----------------------------------------------------------------

    def commit(self, name: str, rows: pa.Table | None, *, connector: str, batch_id: str,
               state: dict | None = None, retry_conflicts: bool = True, expect_snapshot=ANY) -> Commit:
        """Append ``rows`` (sorted by the contract's keys) and, in the same atomic
        commit, the connector's new ``state``. When another writer committed first,
        retry — or, with ``retry_conflicts=False``, raise ``CommitFailedException``
        so the caller can re-check its rows against what that writer landed."""
        return self._write(name, rows, None, connector=connector, batch_id=batch_id, state=state,
                           retry_conflicts=retry_conflicts, expect_snapshot=expect_snapshot)

    def replace(self, name: str, rows: pa.Table, *, connector: str, batch_id: str, state: dict | None = None,
                retry_conflicts: bool = True, expect_snapshot=ANY, keys: pa.Table | None = None) -> Commit:
        """A correction: delete every row whose contract key appears in ``rows`` and append
        ``rows``, with the connector's ``state``, in one atomic commit (the newest version
        of a key wins; the replaced rows stay readable at older snapshots); ``rows`` hold
        each key once. ``keys``: only these keys are deleted, when the caller knows which
        of ``rows`` replace landed rows (a delivery mixing new rows and corrections keeps
        the delete filter small). Conflicts as for :meth:`commit`. ``Commit.removed``
        counts the rows replaced."""
        c = self.decl.contract(name)
        mine = rows.select(list(c.key))
        if mine.group_by(list(c.key)).aggregate([]).num_rows < mine.num_rows:
            raise InvalidRequest(f"rows to replace in {name} hold a key ({'+'.join(c.key)}) more than once: "
                                 f"keep the newest version of each key")
        keys = mine if keys is None else keys.select(list(c.key))
        return self._write(name, rows, keys, connector=connector, batch_id=batch_id, state=state,
                           retry_conflicts=retry_conflicts, expect_snapshot=expect_snapshot)

    def delete_keys(self, name: str, keys: pa.Table, *, connector: str, batch_id: str, state: dict | None = None,
                    retry_conflicts: bool = True, expect_snapshot=ANY) -> Commit:
        """A removal: delete every row whose contract key is a row of ``keys`` (a table
        with the key's columns), with the connector's ``state``, in one atomic commit.
        Conflicts as for :meth:`commit`. ``Commit.removed`` counts the rows deleted."""
        c = self.decl.contract(name)
        missing = [k for k in c.key if k not in keys.column_names]
        if missing:
            raise InvalidRequest(f"keys to delete from {name} lack key field(s) {', '.join(missing)}")
        return self._write(name, None, keys.select(list(c.key)), connector=connector, batch_id=batch_id,
                           state=state, retry_conflicts=retry_conflicts, expect_snapshot=expect_snapshot)

    def _write(self, name: str, rows: pa.Table | None, delete: pa.Table | None, *, connector: str, batch_id: str,
               state: dict | None, retry_conflicts: bool, expect_snapshot) -> Commit:
        if not retry_conflicts:
            return self._commit(name, rows, delete, connector=connector, batch_id=batch_id, state=state,
                                expect_snapshot=expect_snapshot)
        return _RETRY(self._commit, name, rows, delete, connector=connector, batch_id=batch_id, state=state)

    def _commit(self, name: str, rows: pa.Table | None, delete: pa.Table | None = None, *, connector: str,
                batch_id: str, state: dict | None = None, expect_snapshot=ANY) -> Commit:
        c = self.decl.contract(name)
        table = self.table(name)
        current = table.current_snapshot()
        if expect_snapshot is not ANY and (current.snapshot_id if current else None) != expect_snapshot:
            # another writer landed since the rows were checked: they must be checked again
            raise CommitFailedException(f"{name} changed since snapshot {expect_snapshot}")
        n = 0 if rows is None else rows.num_rows
        before = _total(current)
        removing = current is not None and delete is not None and delete.num_rows > 0
        with table.transaction() as tx:
            if removing:
                with warnings.catch_warnings():  # "did not match any records": a key not in the lake is fine
                    warnings.simplefilter("ignore", UserWarning)
                    tx.delete(key_filter(c, delete), snapshot_properties={
                        "cityhub.connector": connector, "cityhub.batch": batch_id, "cityhub.rows": "0"})
            if n:
                data = c.conform(rows)
                if c.sort_by:
                    data = data.sort_by([(k, "ascending") for k in c.sort_by])
                data = data.select(table.schema().column_names)  # an evolved table keeps its own order
                tx.append(data, snapshot_properties={
                    "cityhub.connector": connector, "cityhub.batch": batch_id, "cityhub.rows": str(n),
                })
            props = {} if state is None else {STATE_PREFIX + connector: json.dumps(state, sort_keys=True)}
            props.update({k: v for k, v in TABLE_PROPERTIES.items() if table.properties.get(k) != v})
            if props:
                tx.set_properties(props)
        snap = table.current_snapshot()  # this commit's (the transaction updated the table), not a later writer's
        removed = before + n - _total(snap) if removing else 0
        return Commit(table=name, snapshot_id=snap.snapshot_id if snap else None, rows=n, removed=removed)

    def compact(self, name: str, max_files: int = 64) -> bool:
        """Rewrite ``name`` into one sorted file once it has more than ``max_files``
        (tables that grow by a small commit per run, like the indicator values). The
        rewrite is a new snapshot; older snapshots keep their files, so a value's
        evidence stays readable at the snapshot it names. A rival commit meanwhile
        wins: the rewrite is dropped and tried again next time."""
        table = self.table(name)
        snap = table.current_snapshot()
        if snap is None or len(self.files(name, snap.snapshot_id)) <= max_files:
            return False
        con, _ = self.connect([name], {name: snap.snapshot_id})
        try:
            rows = con.sql(f'SELECT * FROM "{name}"').to_arrow_table()
        finally:
            con.close()
        c = self.decl.contract(name)
        data = c.conform(rows)
        if c.sort_by:
            data = data.sort_by([(k, "ascending") for k in c.sort_by])
        try:
            with table.transaction() as tx:
                if table.current_snapshot().snapshot_id != snap.snapshot_id:
                    raise CommitFailedException(f"{name} changed while compacting")
                tx.overwrite(data, snapshot_properties={"cityhub.connector": "compaction", "cityhub.rows": "0"})
        except CommitFailedException:
            return False
        return True

    # -- reading ----------------------------------------------------------------

    def files(self, name: str, snapshot_id: int | None = None,
              row_filter: BooleanExpression = AlwaysTrue()) -> list[str]:
        """Data files of ``name`` at a snapshot (default: current), pruned by ``row_filter``."""
        table = self.table(name)
        if snapshot_id is None and table.current_snapshot() is None:
            return []
        scan = table.scan(snapshot_id=snapshot_id, row_filter=row_filter)
        return [_local(t.file.file_path) for t in scan.plan_files()]

    def connect(self, names: Iterable[str], snapshots: dict[str, int | None] | None = None,
                con: duckdb.DuckDBPyConnection | None = None) -> tuple[duckdb.DuckDBPyConnection, dict[str, int | None]]:
        """An in-memory DuckDB connection with one view per table at the given
        snapshots (default: current). Returns the connection and the snapshot ids used."""
        con = con or duckdb.connect()
        used: dict[str, int | None] = {}
        for name in names:
            sid = (snapshots or {}).get(name) if snapshots else self.snapshot_id(name)
            used[name] = sid
            register_view(con, name, self.files(name, sid) if sid is not None else [], self.decl.contract(name))
        return con, used

    def query(self, sql: str, names: Iterable[str], params: list | None = None) -> pa.Table:
        con, _ = self.connect(names)
        try:
            return con.sql(sql, params=params or None).to_arrow_table()
        finally:
            con.close()


_RETRY = retry(retry=retry_if_exception_type(CommitFailedException), stop=stop_after_attempt(20),
               wait=wait_random_exponential(multiplier=0.02, max=1.0), reraise=True)(lambda fn, *a, **kw: fn(*a, **kw))


def key_filter(c: Contract, keys: pa.Table) -> BooleanExpression:
    """An Iceberg row filter matching exactly the rows whose contract key is a row of
    ``keys``: ``In`` on the key column with the most distinct values, per combination of
    the others (a delivery's rows mostly share a date or a channel), OR-ed as a balanced
    tree, so a large correction stays one small expression that Parquet statistics prune."""
    key = list(c.key)
    keys = keys.select(key).group_by(key).aggregate([])
    if keys.num_rows == 0:
        return AlwaysFalse()
    widest = max(key, key=lambda k: pc.count_distinct(keys[k]).as_py())
    rest = [k for k in key if k != widest]
    groups: dict[tuple, list] = {}
    for row in keys.to_pylist():
        groups.setdefault(tuple(row[k] for k in rest), []).append(row[widest])
    terms = []
    for values, members in groups.items():
        fixed = [IsNull(k) if v is None else EqualTo(k, v) for k, v in zip(rest, values)]
        present = [v for v in members if v is not None]
        matches = ([In(widest, present)] if present else []) + ([IsNull(widest)] if len(present) < len(members) else [])
        either = matches[0] if len(matches) == 1 else Or(*matches)
        terms.append(And(*fixed, either) if fixed else either)
    return terms[0] if len(terms) == 1 else Or(*terms)


def _total(snap) -> int:
    return int((snap.summary or {}).get("total-records") or 0) if snap is not None else 0


def register_view(con: duckdb.DuckDBPyConnection, name: str, files: list[str], contract: Contract) -> None:
    """(Re)define view ``name`` over ``files`` of ``contract``'s dataset, with every field
    of the contract: files written before a field was added have it as null (columns are
    matched by name), and an empty table gets an empty view of the contract's schema."""
    if not files:
        empty_view(con, name, contract)
        return
    attach_object_store(con)
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    source = f"read_parquet([{listing}], union_by_name = true)"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    added = "".join(f', CAST(NULL AS {f.sql_type}) AS "{f.name}"' for f in contract.fields if f.name not in present)
    con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT *{added} FROM {source}')


@lru_cache(maxsize=8)
def _catalog(uri: str, warehouse: str, io: tuple[tuple[str, str], ...] = ()) -> SqlCatalog:
    """One catalogue (and its database engine) per process for a catalogue URI,
    warehouse and object-store properties, however many ``Lake``s use it."""
    for attempt in range(5):  # processes starting together on a new database race to create its tables
        try:
            catalog = SqlCatalog("cityhub", uri=uri, warehouse=warehouse, **dict(io))
            break
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError):
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    try:
        catalog.create_namespace_if_not_exists(NAMESPACE)
    except Exception:  # noqa: BLE001 - a concurrent process created it first
        pass
    return catalog


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


# -- object storage ------------------------------------------------------------

def file_io_properties(cfg: Settings) -> dict[str, str]:
    """pyiceberg's FileIO properties for the lake's object store (endpoint, credentials,
    region); only those set, so an AWS deployment keeps the instance's own credentials."""
    props = {"s3.region": cfg.s3_region}
    if cfg.s3_endpoint:
        props["s3.endpoint"] = cfg.s3_endpoint.rstrip("/")
    if cfg.s3_access_key_id:
        props["s3.access-key-id"] = cfg.s3_access_key_id
        props["s3.secret-access-key"] = cfg.s3_secret_access_key.get_secret_value()
    return props


class _ObjectStore(ArrowFSWrapper):
    """pyarrow's S3 file system as an fsspec one named ``s3``, which DuckDB reads ``s3://``
    data files through (``register_filesystem``): no ``httpfs`` extension to download."""
    protocol = ("s3",)


_STORE: list = [None, 0]
"""The process's object store (one lake per process) and how often it was set."""


def _use_object_store(io: dict[str, str]) -> None:
    key = tuple(sorted(io.items()))
    if _STORE[0] is not None and _STORE[0][0] == key:
        return
    endpoint = io.get("s3.endpoint", "")
    fs = S3FileSystem(access_key=io.get("s3.access-key-id"), secret_key=io.get("s3.secret-access-key"),
                      region=io.get("s3.region"), endpoint_override=endpoint or None,
                      scheme=endpoint.split("://", 1)[0] if endpoint else "https")
    _STORE[:] = [(key, _ObjectStore(fs)), _STORE[1] + 1]


def object_store_version() -> int:
    """Changes when the process's object store does (a reader that attached it re-attaches)."""
    return _STORE[1]


def attach_object_store(con: duckdb.DuckDBPyConnection, renew: bool = False) -> None:
    """Let ``con`` (and its cursors) read the lake's ``s3://`` files; a no-op for a lake
    in a directory. ``renew``: replace the store ``con`` has (a long-lived connection
    whose process's store changed: ``object_store_version``)."""
    if _STORE[0] is None:
        return
    if "s3" in con.list_filesystems():
        if not renew:
            return
        con.unregister_filesystem("s3")
    con.register_filesystem(_STORE[0][1])
