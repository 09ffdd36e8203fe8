"""Quality gate: a Great Expectations suite derived from a contract, and the split
of a batch into rows that pass and rows that go to quarantine with their reasons.

GE 1.x has no Arrow/DuckDB source, so a batch is handed over as a pandas frame
(one ephemeral context per process: importing GE costs seconds). Each failing
row gets every reason that applies, as ``code: message``.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub.contracts import Contract
from hub.regions import city as get_city

_lock = threading.Lock()


@dataclass(frozen=True)
class Verdict:
    valid: pa.Table
    """Rows that passed every expectation (contract schema)."""
    rejected_rows: np.ndarray
    """Positions (in the input) of rows that failed."""
    reasons: dict[int, list[str]]
    """Input position -> reasons."""
    expectations: int


@lru_cache(maxsize=1)
def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # slow import: once per process
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("cityhub").add_dataframe_asset("batch")
    return gx, asset.add_batch_definition_whole_dataframe("whole")


def _prefix_col(name: str) -> str:
    return f"__prefix6_{name}"


@lru_cache(maxsize=None)
def suite_for(contract: Contract, city: str):
    """The contract's expectations for one city, each tagged with its reason."""
    gx, _ = _gx()
    E = gx.expectations
    county_codes = sorted(get_city(city).counties)
    suite = gx.ExpectationSuite(name=f"{contract.name}.v{contract.version}.{city}")
    derived: dict[str, tuple[str, int]] = {}
    for f in contract.fields:
        if not f.nullable:
            suite.add_expectation(E.ExpectColumnValuesToNotBeNull(
                column=f.name, meta={"reason": f"missing_{f.name}: {f.name} is required"}))
        for i, rule in enumerate(f.rules):
            code = rule.get("code") or f"{f.name}_rule{i + 1}"
            meta = {"reason": f"{code}: {rule['reason']}"}
            if "regex" in rule:
                exp = E.ExpectColumnValuesToMatchRegex(column=f.name, regex=rule["regex"], meta=meta)
            elif "in" in rule:
                exp = E.ExpectColumnValuesToBeInSet(column=f.name, value_set=list(rule["in"]), meta=meta)
            elif rule.get("in_city_counties"):
                exp = E.ExpectColumnValuesToBeInSet(column=f.name, value_set=county_codes, meta=meta)
            elif "between" in rule:
                lo, hi = rule["between"]
                exp = E.ExpectColumnValuesToBeBetween(column=f.name, min_value=lo, max_value=hi, meta=meta)
            elif "prefix_of" in rule:
                n = int(rule.get("length", 6))
                derived[_prefix_col(f.name)] = (f.name, n)
                derived[_prefix_col(rule["prefix_of"])] = (rule["prefix_of"], n)
                exp = E.ExpectColumnPairValuesToBeEqual(
                    column_A=_prefix_col(f.name), column_B=_prefix_col(rule["prefix_of"]),
                    ignore_row_if="either_value_is_missing", meta=meta)
            else:
                raise ValueError(f"contract {contract.name}: field {f.name}: unknown rule {rule}")
            suite.add_expectation(exp)
    used = sorted({c for f in contract.fields if not f.nullable or f.rules for c in [f.name]}
                  | {src for src, _ in derived.values()})
    return suite, derived, used


def validate(contract: Contract, table: pa.Table, city: str) -> Verdict:
    """Run the contract's suite over ``table`` (already in contract schema)."""
    gx, batch_def = _gx()
    suite, derived, used = suite_for(contract, city)
    # only the columns the suite reads cross into pandas; RangeIndex: GE's
    # unexpected indices are input positions
    df = table.select(used).to_pandas()
    for col, (src, n) in derived.items():
        df[col] = df[src].str.slice(0, n)
    reasons: dict[int, list[str]] = {}
    if len(df):
        with _lock:  # the ephemeral context is not thread-safe
            batch = batch_def.get_batch(batch_parameters={"dataframe": df})
            result = batch.validate(suite, result_format={
                "result_format": "COMPLETE", "return_unexpected_index_query": False})
        for r in result.results:
            if r.success:
                continue
            reason = r.expectation_config.meta["reason"]
            idx = r.result.get("unexpected_index_list")
            if idx is None:
                raise RuntimeError(f"expectation for {reason!r} failed without row indices: {r.exception_info}")
            for pos in idx:
                reasons.setdefault(int(pos), []).append(reason)
    bad = np.array(sorted(reasons), dtype=np.int64)
    if len(bad):
        mask = np.ones(len(table), dtype=bool)
        mask[bad] = False
        valid = table.filter(pa.array(mask))
    else:
        valid = table
    return Verdict(valid=valid, rejected_rows=bad, reasons=reasons, expectations=len(suite.expectations))
