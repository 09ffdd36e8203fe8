"""``cityhub connectors status``: for every declared connector, its last run, rows
landed and quarantined, lag (files waiting, messages behind) and freshness (new
data within the declared update cycle)."""
from __future__ import annotations

from datetime import timedelta

from cityhub.connectors.sources import file_drop, kafka
from cityhub.core.time import now_cst
from cityhub.declarations.connectors import ConnectorSpec
from cityhub.lake import Lake
from cityhub.pipelines.ingest import runs
from cityhub.pipelines.ingest.runner import configured


def lag(spec: ConnectorSpec, lake: Lake) -> int | None:
    """Deliveries waiting in the drop folder, or messages behind on the topic."""
    cfg = lake.cfg
    state = lake.state(spec.dataset, spec.name)
    if spec.source.kind == "file_drop":
        return len(file_drop.pending_groups(spec, cfg, state))
    if spec.source.kind == "kafka" and cfg.kafka_bootstrap:
        return kafka.lag(cfg.kafka_bootstrap, kafka.topic_of(spec, cfg), state.get("offsets", {}))
    return None


def status(lake: Lake) -> list[dict]:
    history = runs.recent(lake.cfg, limit=5000)
    now = now_cst()
    out = []
    for spec in lake.decl.connectors.values():
        mine = [r for r in history if r["connector"] == spec.name]
        last = mine[0] if mine else None
        # fresh: the source delivered within its cycle (rows received, landed now or before)
        with_data = next((r for r in mine if r["status"] == "ok" and r["received"] > 0), None)
        last_data = with_data["finished_at"] if with_data else None
        fresh = None if last_data is None else (now - last_data) <= timedelta(hours=spec.freshness_hours)
        out.append({
            "connector": spec.name, "dataset": spec.dataset, "source": spec.source.kind,
            "configured": configured(spec, lake) or "yes",
            "last_run": last["finished_at"] or last["started_at"] if last else None,
            "result": (last["status"] + (f": {last['error']}" if last["error"] else "")) if last else "never run",
            "landed": last["landed"] if last else 0, "quarantined": last["quarantined"] if last else 0,
            "corrected": (last.get("corrected") or 0) if last else 0,
            "lag": lag(spec, lake), "last_data": last_data, "fresh": fresh,
            "freshness_hours": spec.freshness_hours, "drift": last["drift"] if last else None,
        })
    for name, problems in lake.decl.broken("connector").items():  # left out, and said so
        out.append({"connector": name, "dataset": None, "source": None, "configured": "no: declaration broken",
                    "last_run": None, "result": f"declaration broken: {'; '.join(str(p) for p in problems)}",
                    "landed": 0, "quarantined": 0, "corrected": 0, "lag": None, "last_data": None, "fresh": None,
                    "freshness_hours": None, "drift": None})
    return out


def unhealthy(rows: list[dict]) -> dict[str, str]:
    """Connectors an operator must look at, with why: a broken declaration, a last run
    that failed, or a configured feed whose data is older than its declared freshness
    (or that has never delivered). Connectors not configured here are not judged."""
    out = {}
    for r in rows:
        if r["configured"] != "yes":
            if str(r["configured"]).startswith("no: declaration broken"):
                out[r["connector"]] = r["result"]
            continue
        if str(r["result"]).startswith("failed"):
            out[r["connector"]] = f"last run {r['result']}"
        elif r["fresh"] is False:
            out[r["connector"]] = (f"stale: last data {str(r['last_data'])[:19]}, "
                                   f"older than {r['freshness_hours']:g} h")
        elif r["fresh"] is None:
            out[r["connector"]] = "never delivered data"
    return out
