"""An example county app: a local DuckDB copy of its county's camera and medical data,
kept in sync through the hub's ``/changes`` endpoint (upserts and deletes), and the
county's latest indicator values.

    python examples/county_app.py --base-url http://127.0.0.1:8000 --db county.duckdb

Each dataset's ``since`` cursor lives in the ``sync_state`` table of the same DuckDB
file and is saved in the same transaction as the rows it brought, so a crash between
two runs never loses or repeats a change set. Rows are upserted on the dataset's
contract key (a PRIMARY KEY here, INSERT OR REPLACE) and tombstones delete their key, so
corrections and removals in the hub reach the copy too. A second run with nothing new
landed fetches nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
from cityhub_client import HubClient, HubError  # pip install ./clients/python

DATASETS = ("camera_registry", "camera_catalog", "medical_institutions", "medical_visits")
STATE = """CREATE TABLE IF NOT EXISTS sync_state (
    dataset VARCHAR PRIMARY KEY, since VARCHAR NOT NULL, rows_total BIGINT, synced_at TIMESTAMP)"""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_table(con: duckdb.DuckDBPyConnection, dataset: str, sample: pa.Table, key: list[str]) -> None:
    """Create the dataset's table from the Arrow schema the hub sends, keyed on its contract key."""
    con.register("_sample", sample.slice(0, 0))
    try:
        cols = con.execute("DESCRIBE _sample").fetchall()
    finally:
        con.unregister("_sample")
    defs = ", ".join(f"{_q(name)} {typ}" + (" NOT NULL" if name in key else "") for name, typ, *_ in cols)
    con.execute(f"CREATE TABLE IF NOT EXISTS {_q(dataset)} ({defs}, PRIMARY KEY ({', '.join(map(_q, key))}))")


def sync(hub: HubClient, con: duckdb.DuckDBPyConnection, dataset: str) -> tuple[int, int]:
    """Apply what changed since the last run; returns the rows upserted and the keys deleted."""
    row = con.execute("SELECT since FROM sync_state WHERE dataset = ?", [dataset]).fetchone()
    since = row[0] if row else None
    try:
        changed = hub.changes(dataset, since=since)
    except HubError as e:
        if e.status != 410:
            raise
        print(f"{dataset}: the hub no longer has our snapshot ({e.detail}); taking a full copy")
        since = None
        changed = hub.changes(dataset)
    key = changed.key
    con.begin()
    try:
        ensure_table(con, dataset, changed.upserts[0], key)
        if since is None:  # a full copy replaces whatever we had
            con.execute(f"DELETE FROM {_q(dataset)}")
        for t in changed.deletes:  # a key is upserted or deleted in one change set, never both
            if t.num_rows:
                con.register("_gone", t)
                match = " AND ".join(f"{_q(dataset)}.{_q(k)} = _gone.{_q(k)}" for k in key)
                con.execute(f"DELETE FROM {_q(dataset)} USING _gone WHERE {match}")
                con.unregister("_gone")
        for t in changed.upserts:
            if t.num_rows:
                con.register("_batch", t)
                names = ", ".join(_q(n) for n in t.column_names)
                con.execute(f"INSERT OR REPLACE INTO {_q(dataset)} ({names}) SELECT {names} FROM _batch")
                con.unregister("_batch")
        con.execute("INSERT OR REPLACE INTO sync_state VALUES (?, ?, "
                    f"(SELECT count(*) FROM {_q(dataset)}), current_timestamp)", [dataset, changed.since])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return changed.upserted, changed.deleted


def show_indicators(hub: HubClient) -> None:
    values = hub.indicators()  # a county client reads its own county's values
    if not values:
        print("no indicator values yet")
        return
    print(f"latest indicator values for {values[0]['region']}:")
    print(f"  {'code':<6}{'period':<12}{'value':>10}{'numerator':>12}{'denominator':>13}")
    for v in values:
        value = "-" if v["value"] is None else f"{v['value']:.4f}"
        print(f"  {v['code']:<6}{v['period']:<12}{value:>10}{v['numerator'] or 0:>12g}{v['denominator'] or 0:>13g}"
              + (f"  ({v['reason']})" if v.get("reason") else ""))


def main(argv: list[str] | None = None) -> dict[str, tuple[int, int]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", default=os.environ.get("CITYHUB_URL", "http://127.0.0.1:8000"))
    ap.add_argument("--client-id", default=os.environ.get("CITYHUB_CLIENT_ID"))
    ap.add_argument("--client-secret", default=os.environ.get("CITYHUB_CLIENT_SECRET"))
    ap.add_argument("--db", default="county.duckdb", help="local DuckDB file")
    ap.add_argument("--no-indicators", action="store_true", help="only sync the data")
    args = ap.parse_args(argv)
    if not args.client_id or not args.client_secret:
        ap.error("give --client-id/--client-secret or set CITYHUB_CLIENT_ID/CITYHUB_CLIENT_SECRET")
    counts = {}
    with HubClient(args.base_url, args.client_id, args.client_secret) as hub, duckdb.connect(args.db) as con:
        con.execute(STATE)
        for dataset in DATASETS:
            counts[dataset] = upserted, deleted = sync(hub, con, dataset)
            total = con.execute(f"SELECT count(*) FROM {_q(dataset)}").fetchone()[0]
            print(f"{dataset}: {upserted} rows received, {deleted} deleted, {total} in the local copy")
        if not args.no_indicators:
            show_indicators(hub)
    return counts


if __name__ == "__main__":
    try:
        main()
    except HubError as e:
        sys.exit(f"hub error: {e}")
