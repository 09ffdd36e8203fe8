"""The cockpit's grid of counties laid out roughly as on a map, declared per city in
``layouts/<city code>.yaml`` (``[row, column]`` per county). A city without a layout, or
with a layout that misses a county, gets a plain grid: any ``37xx00`` city renders."""
from __future__ import annotations

import math
from functools import lru_cache

import yaml

from cityhub.web import assets


@lru_cache(maxsize=32)
def layout(city: str, counties: tuple[str, ...]) -> dict:
    """``{"rows", "cols", "cells": {county: [row, col]}, "geographic": bool}``."""
    path = assets.LAYOUTS / f"{city}.yaml"
    if path.is_file():
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        cells = {str(k): list(v) for k, v in (doc.get("counties") or {}).items()}
        if set(counties) <= set(cells):
            return {"rows": int(doc["rows"]), "cols": int(doc["cols"]),
                    "cells": {c: cells[c] for c in counties}, "geographic": True}
    cols = max(1, math.ceil(math.sqrt(len(counties))))
    return {"rows": math.ceil(len(counties) / cols), "cols": cols, "geographic": False,
            "cells": {c: [i // cols + 1, i % cols + 1] for i, c in enumerate(counties)}}
