"""The order record pages come in, and how it is spelt in SQL."""
from __future__ import annotations

from collections.abc import Sequence

from cityhub.declarations.contracts import Contract


def order_columns(c: Contract, sort: str = "lake") -> list[str]:
    """The order pages come in. ``lake`` (the default): the lake's own sort order
    (region, then time for most datasets), ties broken by the key, so the order is
    total; reading in the order the files are written in lets DuckDB's top-N skip
    row groups by their statistics instead of sorting a county's whole slice for
    every page. ``key``: the contract's key (slower: every page sorts the slice)."""
    if sort == "key":
        return list(c.key)
    out: list[str] = []
    for k in [*c.sort_by, *c.key]:
        if k not in out:
            out.append(k)
    return out


def sql_order(c: Contract, sort: str, regions: Sequence[str] | None) -> list[str]:
    """The ORDER BY of a query: the page order, less the region when the query reads
    one region only (so that DuckDB's top-N can prune row groups by the next column)."""
    order = order_columns(c, sort)
    if regions is not None and len(regions) == 1 and order and order[0] == c.region_field:
        return order[1:]
    return order
