"""Connector: camera status events (ON/OFF), from Kafka or JSON-lines file drops.

A batch of messages is decoded at once with Arrow's JSON reader (not a dict per
message); only when a batch holds a malformed line is it decoded line by line,
to quarantine exactly the bad lines with their raw text.
"""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.json as pjson

from connectors import filedrop
from connectors.kafka_source import KafkaFeed, consume
from hub.config import Settings
from hub.lake import Lake, now_cst
from pipelines.landing import Batch, LandReport, Reject, land

DATASET = "camera_status"
CONNECTOR = "camera_status"
FIELDS = ["event_id", "device_id", "civil_code", "status", "event_time"]
_SCHEMA = pa.schema([(f, pa.string()) for f in FIELDS])
_PARSE = pjson.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore")


def _decode(values: list[bytes]) -> pa.Table:
    return pjson.read_json(io.BytesIO(b"\n".join(values)), parse_options=_PARSE)


def to_batch(values: list[bytes], sources: list[str], batch_id: str, state: dict | None,
             connector: str = CONNECTOR) -> Batch:
    values = [v.strip() if v else b"" for v in values]
    rejects: list[Reject] = []
    try:
        if any(not v for v in values):
            raise ValueError("empty message")
        table = _decode(values)
        if table.num_rows != len(values):
            raise ValueError("row count mismatch")
        kept_sources, kept_values = sources, values
    except (pa.ArrowInvalid, ValueError):
        # slow path, only for a batch holding a bad line: isolate it
        objs, kept_values, kept_sources = [], [], []
        for v, s in zip(values, sources):
            try:
                obj = json.loads(v)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except ValueError as e:
                rejects.append(Reject(source=s, reason=f"malformed_event: not a JSON object ({e})",
                                      raw=v.decode("utf-8", errors="replace")))
                continue
            objs.append(obj)
            kept_values.append(v)
            kept_sources.append(s)
        table = pa.table({f: pa.array([None if o.get(f) is None else str(o[f]) for o in objs], pa.string())
                          for f in FIELDS})
    civil = table["civil_code"].to_pylist()
    device = table["device_id"].to_pylist()
    region = [(c or (d or "")[:6]) or None for c, d in zip(civil, device)]
    received = now_cst().isoformat(sep=" ")
    text = pa.table({
        "event_id": table["event_id"], "device_id": table["device_id"],
        "region": pa.array(region, pa.string()), "status": table["status"],
        "event_time": table["event_time"],
        "received_at": pa.array([received] * table.num_rows, pa.string()),
    })
    return Batch(connector=connector, dataset=DATASET, batch_id=batch_id, text=text, sources=kept_sources,
                 raw=lambda i: kept_values[i].decode("utf-8", errors="replace"), rejects=rejects, state=state)



def ingest_kafka(lake: Lake, cfg: Settings, **kw) -> LandReport:
    feed = KafkaFeed(connector=CONNECTOR, dataset=DATASET, topic=cfg.status_topic, to_batch=to_batch)
    kw.setdefault("max_records", cfg.kafka_max_records)
    return consume(lake, feed, bootstrap=cfg.kafka_bootstrap, city=cfg.city, **kw)


def ingest_drop(lake: Lake, cfg: Settings) -> LandReport:
    """Land new ``status_*.jsonl`` files from the drop folder."""
    report = LandReport(dataset=DATASET, batch_id="drop")
    for path in filedrop.listing(cfg.drop_root / "cameras" / "status", "*.jsonl"):
        state = lake.state(DATASET, CONNECTOR + ".files")
        taken = state.get("files", {})
        digest = filedrop.sha256(path)
        if taken.get(path.name) == digest:
            continue
        lines = path.read_bytes().splitlines()
        idx = [i for i, l in enumerate(lines) if l.strip()]
        batch = to_batch([lines[i] for i in idx], [f"{path.name}:{i + 1}" for i in idx],
                         f"{path.name}:{digest[:16]}", {**state, "files": {**taken, path.name: digest}},
                         connector=CONNECTOR + ".files")
        report.add(land(lake, batch, cfg.city))
    return report
