"""Declarations: data contracts, indicator definitions, regions, the catalogue.

Everything here is data (YAML); code elsewhere derives Arrow schemas, Great
Expectations suites and API field lists from it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load_yaml(relpath: str) -> Any:
    with open(ROOT / relpath, encoding="utf-8") as f:
        return yaml.safe_load(f)
