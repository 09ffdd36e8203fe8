"""Connectors: the camera registry (一机一档) and the key public areas, CSV file drops.

Public security delivers each as a full list per day
(``registry_<city>_<YYYYMMDD>.csv``, ``key_areas_<city>_<YYYYMMDD>.csv``). Every
value is read as text and typed by the contract, so a bad value quarantines its
row, and a line with the wrong number of fields is quarantined as it was read.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.csv as pcsv

from connectors import filedrop
from hub.config import Settings
from hub.lake import Lake
from pipelines.landing import Batch, LandReport, Reject, land


@dataclass(frozen=True)
class CsvFeed:
    connector: str
    dataset: str
    folder: str
    """Below the drop root."""
    pattern: str
    encoding: str = "utf-8"
    derive: Callable[[pa.Table], pa.Table] | None = None
    """Adds derived text columns (e.g. ``hd`` from ``resolution``)."""


_WXH = re.compile(r"^\s*(\d+)\s*[xX×*]\s*(\d+)\s*$")


def _hd(resolution: str | None) -> str | None:
    """720p or better: the shorter side is at least 720 pixels."""
    m = _WXH.match(resolution or "")
    if not m:
        return None
    return "true" if min(int(m.group(1)), int(m.group(2))) >= 720 else "false"


def _derive_registry(t: pa.Table) -> pa.Table:
    hd = [_hd(r) if r is not None else "false" for r in t["resolution"].to_pylist()]
    return t.append_column("hd", pa.array(hd, pa.string()))


REGISTRY = CsvFeed("camera_registry", "camera_registry", "cameras/registry", "registry_*.csv",
                   derive=_derive_registry)
KEY_AREAS = CsvFeed("key_areas", "key_areas", "cameras/key_areas", "key_areas_*.csv")


def read_csv(path: Path, encoding: str) -> tuple[pa.Table, list[Reject]]:
    """All columns as text; malformed lines become rejects with their raw text."""
    rejects: list[Reject] = []

    def bad_row(row) -> str:
        rejects.append(Reject(source=f"{path.name}:{row.number or '?'}",
                              reason=f"malformed_csv: expected {row.expected_columns} fields, got {row.actual_columns}",
                              raw=row.text))
        return "skip"

    with open(path, "rb") as f:
        header = f.readline().decode(encoding, errors="replace").lstrip("\ufeff")
    names = [h.strip() for h in header.strip().split(",")]
    table = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(encoding=encoding, column_names=names, skip_rows=1),
        parse_options=pcsv.ParseOptions(invalid_row_handler=bad_row, newlines_in_values=False),
        convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                            strings_can_be_null=True),
    )
    return table, rejects


def ingest(lake: Lake, cfg: Settings, feed: CsvFeed) -> LandReport:
    """Land every new file of ``feed``; each file is one batch, committed with
    the updated list of files taken."""
    report = LandReport(dataset=feed.dataset, batch_id="drop")
    for path in filedrop.listing(cfg.drop_root / feed.folder, feed.pattern):
        state = lake.state(feed.dataset, feed.connector)
        taken = state.get("files", {})
        digest = filedrop.sha256(path)
        if taken.get(path.name) == digest:
            continue
        text, rejects = read_csv(path, feed.encoding)
        if feed.derive:
            text = feed.derive(text)
        text = text.append_column("as_of", pa.array([filedrop.day_of(path).isoformat()] * text.num_rows, pa.string()))
        batch = Batch(
            connector=feed.connector, dataset=feed.dataset, batch_id=f"{path.name}:{digest[:16]}",
            text=text, sources=[f"{path.name}:{i + 2}" for i in range(text.num_rows)],
            raw=lambda i, t=text: json.dumps(t.slice(i, 1).to_pylist()[0], ensure_ascii=False),
            rejects=rejects, state={**state, "files": {**taken, path.name: digest}},
        )
        report.add(land(lake, batch, cfg.city))
    return report
