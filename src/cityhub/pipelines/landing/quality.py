"""Quality gate: a Great Expectations suite derived from a contract, and the split
of a batch into rows that pass and rows that go to quarantine with their reasons.

GE 1.x has no Arrow/DuckDB source, so a batch is handed over as a pandas frame
(one ephemeral context per process: importing GE costs seconds). Each failing
row gets every reason that applies, as ``code: message``.
"""
from __future__ import annotations

import atexit
import gc
import os
import threading
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from cityhub.core.identifiers import check_column
from cityhub.declarations.contracts import (BetweenRule, CheckRule, Contract, InCityCountiesRule, InRule,
                                            NotBeforeRule, PrefixOfRule, ReferencesRule, RegexRule)

_lock = threading.Lock()


@dataclass(frozen=True)
class Verdict:
    reasons: dict[int, list[str]]
    """Input position -> reasons (a row without any passed every expectation). The batch
    is not split here: the landing drops these rows with those other checks refused, in
    one take (a filter of its own here cost 0.15 s per 100k rows)."""
    expectations: int


@lru_cache(maxsize=1)
def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # imported here, not at the top: it takes seconds, and only a process that lands data
    # (not an API worker, not the CLI's other commands) should pay for it
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GE fingerprints every frame below this size (an MD5 over a hash of each row, 0.3 s
    # per 100k rows) only to label the batch; a batch here is labelled by its batch id
    pandas_execution_engine.HASH_THRESHOLD = 0

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("cityhub").add_dataframe_asset("batch")
    definition = asset.add_batch_definition_whole_dataframe("whole")
    # GE's import leaves ~350k long-lived objects; each full pass of the cycle collector
    # walked them all again during a landing (a quarter second on a large catalogue).
    # Frozen, they are skipped: they live as long as the process anyway (and are thawed at
    # exit, so that extension types are finalised as usual)
    gc.collect()
    gc.freeze()
    atexit.register(gc.unfreeze)
    return gx, definition


def _prefix_col(name: str) -> str:
    return f"__prefix6_{name}"


@lru_cache(maxsize=None)
def suite_for(contract: Contract, counties: tuple[str, ...]):
    """The contract's expectations for a city's ``counties``, each tagged with its
    reason, and the derived columns some rules need (computed per batch by ``_derive``)."""
    gx, _ = _gx()
    E = gx.expectations
    suite = gx.ExpectationSuite(name=f"{contract.name}.v{contract.version}.{counties[0][:4]}00")
    derived: dict[str, tuple] = {}
    for f in contract.fields:
        if not f.nullable:
            suite.add_expectation(E.ExpectColumnValuesToNotBeNull(
                column=f.name, meta={"reason": f"missing_{f.name}: {f.name} is required"}))
        for rule in f.rules:
            meta = {"reason": f"{rule.code}: {rule.reason}"}
            match rule:
                case RegexRule():
                    exp = E.ExpectColumnValuesToMatchRegex(column=f.name, regex=rule.regex, meta=meta)
                case InRule():
                    exp = E.ExpectColumnValuesToBeInSet(column=f.name, value_set=list(rule.in_), meta=meta)
                case InCityCountiesRule():
                    exp = E.ExpectColumnValuesToBeInSet(column=f.name, value_set=list(counties), meta=meta)
                case BetweenRule():
                    lo, hi = rule.between
                    exp = E.ExpectColumnValuesToBeBetween(column=f.name, min_value=lo, max_value=hi, meta=meta)
                case PrefixOfRule():
                    derived[_prefix_col(f.name)] = ("prefix", f.name, rule.length)
                    derived[_prefix_col(rule.prefix_of)] = ("prefix", rule.prefix_of, rule.length)
                    exp = E.ExpectColumnPairValuesToBeEqual(
                        column_A=_prefix_col(f.name), column_B=_prefix_col(rule.prefix_of),
                        ignore_row_if="either_value_is_missing", meta=meta)
                case CheckRule() | NotBeforeRule() | ReferencesRule():
                    col = f"__{rule.code}_{f.name}"
                    if isinstance(rule, CheckRule):
                        derived[col] = ("check", f.name, rule.check)
                    elif isinstance(rule, NotBeforeRule):
                        derived[col] = ("not_before", f.name, rule.not_before)
                    else:
                        derived[col] = ("references", f.name, rule.references.dataset, rule.references.field)
                    exp = E.ExpectColumnValuesToBeInSet(column=col, value_set=[True], meta=meta)
            suite.add_expectation(exp)
    used = sorted({f.name for f in contract.fields if not f.nullable or f.rules})
    return suite, derived, used


def _derive(kind_args: tuple, table: pa.Table, lake) -> pa.Array:
    kind, src = kind_args[0], kind_args[1]
    col = table[src]
    if kind == "prefix":
        return pc.utf8_slice_codeunits(col, 0, kind_args[2])
    if kind == "check":
        return check_column(kind_args[2], col)
    if kind == "not_before":
        later, earlier = col, table[kind_args[2]]
        return pc.greater_equal(later, earlier)  # null when either is null: not judged
    if kind == "references":
        dataset, field = kind_args[2], kind_args[3]
        values = pc.unique(col.drop_null())
        known = set()
        if lake is not None and len(values) and lake.snapshot_id(dataset) is not None:
            con, _ = lake.connect([dataset])
            try:
                con.register("__wanted", pa.table({"v": values}))
                known = {r[0] for r in con.execute(
                    f'SELECT DISTINCT "{field}" FROM "{dataset}" WHERE "{field}" IN (SELECT v FROM __wanted)'
                ).fetchall()}
            finally:
                con.close()
        return pa.array([None if v is None else v in known for v in col.to_pylist()], pa.bool_())
    raise ValueError(kind)


def validate(contract: Contract, table: pa.Table, counties: tuple[str, ...], lake=None) -> Verdict:
    """Run the contract's suite over ``table`` (already in contract schema) for a city
    of ``counties``. ``lake`` answers ``references`` rules (without it they find nothing)."""
    gx, batch_def = _gx()
    suite, derived, used = suite_for(contract, counties)
    # only the columns the suite reads cross into pandas; RangeIndex: GE's
    # unexpected indices are input positions
    cols = {name: table[name] for name in used}
    for col, args in derived.items():
        cols[col] = _derive(args, table, lake)
    df = pa.table(cols).to_pandas() if cols else pa.table({"_": pa.nulls(table.num_rows)}).to_pandas()
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
    return Verdict(reasons=reasons, expectations=len(suite.expectations))
