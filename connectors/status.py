"""``cityhub connectors status``: for every declared connector, its last run,
rows landed and quarantined, lag (files waiting, messages behind) and
freshness (new data within the declared update cycle)."""
from __future__ import annotations

from datetime import timedelta

from connectors import sources
from connectors.runner import configured, runs
from connectors.spec import ConnectorSpec, registry
from hub.config import Settings, connector_setting, settings
from hub.lake import Lake, default_lake, now_cst


def _lag(spec: ConnectorSpec, lake: Lake, cfg: Settings) -> int | None:
    state = lake.state(spec.dataset, spec.name)
    if spec.source.kind == "file_drop":
        return sources.pending_files(spec, cfg, state)
    if spec.source.kind == "kafka" and cfg.kafka_bootstrap:
        try:
            from kafka import KafkaConsumer, TopicPartition
            topic = connector_setting(spec.name, "topic", spec.source.get("topic", spec.name))
            consumer = KafkaConsumer(bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=5000)
            try:
                parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
                ends = consumer.end_offsets(parts) if parts else {}
            finally:
                consumer.close()
            offsets = state.get("offsets", {})
            return sum(max(0, end - int(offsets.get(f"{tp.topic}:{tp.partition}", 0))) for tp, end in ends.items())
        except Exception:
            return None
    return None


def status(lake: Lake | None = None, cfg: Settings | None = None) -> list[dict]:
    cfg = cfg or settings()
    lake = lake or default_lake()
    history = runs(cfg, limit=5000)
    now = now_cst()
    out = []
    for spec in registry().values():
        mine = [r for r in history if r["connector"] == spec.name]
        last = mine[0] if mine else None
        # fresh: the source delivered within its cycle (rows received, landed now or before)
        with_data = next((r for r in mine if r["status"] == "ok" and r["received"] > 0), None)
        last_data = with_data["finished_at"] if with_data else None
        fresh = None if last_data is None else (now - last_data) <= timedelta(hours=spec.freshness_hours)
        out.append({
            "connector": spec.name, "dataset": spec.dataset, "source": spec.source.kind,
            "configured": configured(spec, cfg) or "yes",
            "last_run": last["finished_at"] or last["started_at"] if last else None,
            "result": (last["status"] + (f": {last['error']}" if last["error"] else "")) if last else "never run",
            "landed": last["landed"] if last else 0, "quarantined": last["quarantined"] if last else 0,
            "lag": _lag(spec, lake, cfg), "last_data": last_data, "fresh": fresh,
            "freshness_hours": spec.freshness_hours, "drift": last["drift"] if last else None,
        })
    return out
