"""The hub's state as Prometheus metrics, read at scrape time from the hub DB and the
lake (not counted by the writers: ingests, Airflow tasks and API workers are separate
processes, and the run records and snapshots are what is true). Cached a few seconds,
so a scrape is cheap whatever scrapes it, and how often.

Labels are connector names, table names and indicator codes: bounded, and never data.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from cityhub.core.time import CST, now_cst
from cityhub.lake import Lake
from cityhub.lake.hubdb import connector_runs, engine
from cityhub.pipelines.ingest import status

log = logging.getLogger(__name__)

NAMESPACE = "cityhub"
"""The Lake's Iceberg namespace."""


def _epoch(t: datetime | None) -> float | None:
    """A lake time (CST without a zone) as seconds since the epoch."""
    if t is None:
        return None
    return (t.replace(tzinfo=CST) if t.tzinfo is None else t).timestamp()


class HubCollector:
    """A prometheus-client collector of the hub's connectors, indicators and lake."""

    def __init__(self, lake: Lake, ttl_s: float = 5.0):
        self.lake, self.ttl_s = lake, ttl_s
        self._lock = threading.Lock()
        self._at = -1e9
        self._families: list = []

    def describe(self):
        return []  # collected at scrape time only: registering does not read the hub

    def collect(self):
        with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                self._families = self._read()
                self._at = time.monotonic()
            return list(self._families)

    def _read(self) -> list:
        start = time.perf_counter()
        out, ok = [], 1
        for part in (self._runs, self._status, self._lake, self._indicators):
            try:
                out.extend(part())
            except Exception as e:  # noqa: BLE001 - one part failing leaves the others, and says so
                log.warning("metrics: %s failed: %s: %s", part.__name__, type(e).__name__, e)
                ok = 0
        up = GaugeMetricFamily("cityhub_hub_metrics_up", "1 when every part of the hub's state could be read")
        up.add_metric([], ok)
        took = GaugeMetricFamily("cityhub_hub_metrics_read_seconds", "Time to read the hub's state for a scrape")
        took.add_metric([], time.perf_counter() - start)
        return [*out, up, took]

    # -- connectors ------------------------------------------------------------
    def _runs(self) -> list:
        """Totals over every recorded run (what ``connectors status`` shows per run)."""
        c = connector_runs.c
        q = select(c.connector, c.status, func.count(), func.sum(c.landed), func.sum(c.quarantined),
                   func.sum(c.received), func.sum(c.corrected)).group_by(c.connector, c.status)
        with engine(self.lake.cfg.hub_db_uri).connect() as con:
            rows = con.execute(q).all()
        runs = CounterMetricFamily("cityhub_connector_runs", "Connector runs recorded, by result",
                                   labels=["connector", "status"])
        landed = CounterMetricFamily("cityhub_connector_rows_landed", "Rows landed in the lake by the connector",
                                     labels=["connector"])
        quarantined = CounterMetricFamily("cityhub_connector_rows_quarantined",
                                          "Rows the connector's runs sent to quarantine", labels=["connector"])
        received = CounterMetricFamily("cityhub_connector_rows_received", "Rows the connector's runs received",
                                       labels=["connector"])
        corrected = CounterMetricFamily("cityhub_connector_rows_corrected",
                                        "Rows landed as a corrected version of a landed key", labels=["connector"])
        per: dict[str, list[int]] = {}
        for name, st, n, *counts in rows:
            runs.add_metric([name, st], n)
            acc = per.setdefault(name, [0, 0, 0, 0])
            for i, x in enumerate(counts):
                acc[i] += x or 0
        for name, counts in sorted(per.items()):
            for fam, x in zip((landed, quarantined, received, corrected), counts):
                fam.add_metric([name], x)
        return [runs, landed, quarantined, received, corrected]

    def _status(self) -> list:
        """Per declared connector: its last run, lag and freshness against its target."""
        now = time.time()
        g = {name: GaugeMetricFamily(f"cityhub_connector_{name}", doc, labels=["connector"]) for name, doc in (
            ("configured", "1 when the connector can run with this hub's settings"),
            ("last_run_failed", "1 when the connector's last run failed"),
            ("last_run_timestamp_seconds", "When the connector's last run ended (or started)"),
            ("lag", "Deliveries waiting in the drop folder, or messages behind on the topic"),
            ("last_data_timestamp_seconds", "When a run last received data from the source"),
            ("data_age_seconds", "Seconds since a run last received data from the source"),
            ("freshness_target_seconds", "The declared freshness: data must be younger than this"),
            ("stale", "1 when a configured feed's data is older than its target, or it never delivered"),
        )}
        for r in status.status(self.lake):
            name = r["connector"]
            if r["dataset"] is None:  # declaration broken: it shows as failed, never as fresh
                g["configured"].add_metric([name], 0)
                g["last_run_failed"].add_metric([name], 1)
                continue
            configured = r["configured"] == "yes"
            g["configured"].add_metric([name], int(configured))
            g["last_run_failed"].add_metric([name], int(str(r["result"]).startswith("failed")))
            if r["last_run"] is not None:
                g["last_run_timestamp_seconds"].add_metric([name], _epoch(r["last_run"]))
            if r["lag"] is not None:
                g["lag"].add_metric([name], r["lag"])
            g["freshness_target_seconds"].add_metric([name], r["freshness_hours"] * 3600)
            if r["last_data"] is not None:
                at = _epoch(r["last_data"])
                g["last_data_timestamp_seconds"].add_metric([name], at)
                g["data_age_seconds"].add_metric([name], max(0.0, now - at))
            if configured:
                g["stale"].add_metric([name], int(r["fresh"] is not True))
        return list(g.values())

    # -- lake --------------------------------------------------------------------
    def _lake(self) -> list:
        """Snapshots and data files per table (what snapshot expiry and compaction keep down)."""
        snaps = GaugeMetricFamily("cityhub_lake_snapshots", "Snapshots the table's metadata keeps", labels=["table"])
        files = GaugeMetricFamily("cityhub_lake_data_files", "Data files of the table's current snapshot",
                                  labels=["table"])
        for ident in self.lake.catalog.list_tables(NAMESPACE):
            t = self.lake.catalog.load_table(ident)
            snaps.add_metric([ident[-1]], len(t.metadata.snapshots))
            cur = t.current_snapshot()
            files.add_metric([ident[-1]], int((cur.summary or {}).get("total-data-files") or 0) if cur else 0)
        return [snaps, files]

    # -- indicators ----------------------------------------------------------------
    def _indicators(self) -> list:
        """Age of each indicator's newest value, and how long the last computation took
        (from its start, the values' ``computed_at``, to the commit of its values)."""
        age = GaugeMetricFamily("cityhub_indicator_value_age_seconds", "Seconds since the newest value was computed",
                                labels=["code"])
        took = GaugeMetricFamily("cityhub_indicator_computation_seconds",
                                 "Time the last indicator computation took (start to the commit of its values)")
        lake = self.lake
        if not lake.exists("indicator_values") or lake.snapshot_id("indicator_values") is None:
            return [age, took]
        newest = lake.query("SELECT code, max(computed_at) AS at FROM indicator_values GROUP BY code ORDER BY code",
                            ["indicator_values"]).to_pylist()
        now = now_cst()
        last_start = None
        for r in newest:
            age.add_metric([r["code"]], max(0.0, (now - r["at"]).total_seconds()))
            last_start = r["at"] if last_start is None or r["at"] > last_start else last_start
        t = lake.catalog.load_table((NAMESPACE, "indicator_values"))
        commits = [s for s in t.metadata.snapshots if (s.summary or {}).get("cityhub.connector") == "indicators"]
        if commits and last_start is not None:
            seconds = commits[-1].timestamp_ms / 1000 - _epoch(last_start)
            if 0 <= seconds < 86400:  # a computation given another reference time says nothing of its length
                took.add_metric([], seconds)
        return [age, took]
