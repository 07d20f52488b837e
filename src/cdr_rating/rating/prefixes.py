"""Longest-prefix matching as one sorted search instead of a per-row search or a join.

A digit string maps to an integer key that sorts like the string does (on its first 15
digits): the digits padded with zeros to 15 places, times 16, plus the length. Under
that order the numbers that start with a prefix form one interval, and intervals of
nested prefixes nest. Flattening the intervals of a sheet into disjoint segments, each
labelled with its innermost prefix, turns longest-prefix matching into a binary search
of the number's key among the segment starts (``search_sorted``): O(log n) per call,
vectorised, with no candidate explosion.

Several sheets share one sorted array: each sheet's keys are offset by its index
shifted above the largest key.
"""

from __future__ import annotations

import polars as pl

KEY_DIGITS = 15
SHEET_SHIFT = 54  # 10**15 * 16 < 2**54
_POW10 = pl.Series("pow10", [10**power for power in range(KEY_DIGITS + 1)], dtype=pl.Int64)
NO_NODE = -1


def digits_key(digits: str) -> int:
    """The sort key of a digit string (used for sheet prefixes, at compile time)."""
    head = digits[:KEY_DIGITS]
    return int(head) * int(10 ** (KEY_DIGITS - len(head))) * 16 + len(head)


def number_key(number: pl.Expr, sheet_index: pl.Expr) -> pl.Expr:
    """The search key of normalised numbers (digits only) rated with ``sheet_index``."""
    head = number.str.slice(0, KEY_DIGITS)
    length = head.str.len_chars().cast(pl.Int64)
    value = head.str.to_integer(strict=False).cast(pl.Int64)
    key = value * pl.lit(_POW10).gather(KEY_DIGITS - length) * 16 + length
    return (sheet_index.cast(pl.Int64) * (1 << SHEET_SHIFT)) + key


def prefix_segments(prefixes: pl.DataFrame) -> pl.DataFrame:
    """Disjoint key segments, each labelled with the innermost prefix node covering it.

    ``prefixes`` has columns ``sheet_index``, ``prefix`` and ``node`` (unique per row).
    Returns ``start`` (sorted, Int64) and ``node`` (Int32, null where no prefix covers
    the segment). This runs once per sheet set over its prefixes, not over calls.
    """
    intervals = sorted(
        (
            (sheet << SHEET_SHIFT) + digits_key(prefix),
            (sheet << SHEET_SHIFT) + _interval_end(prefix),
            node,
        )
        for sheet, prefix, node in prefixes.select("sheet_index", "prefix", "node").rows()
    )
    sheets = prefixes.get_column("sheet_index").unique().sort().to_list()
    starts: dict[int, int] = {sheet << SHEET_SHIFT: NO_NODE for sheet in sheets}
    open_intervals: list[tuple[int, int]] = []  # (end, node), innermost last

    def close_until(key: int) -> None:
        while open_intervals and open_intervals[-1][0] <= key:
            end, _ = open_intervals.pop()
            starts[end] = open_intervals[-1][1] if open_intervals else NO_NODE

    for start, end, node in intervals:
        close_until(start)
        starts[start] = node
        open_intervals.append((end, node))
    close_until(1 << 62)
    return (
        pl.DataFrame(
            {"start": list(starts), "node": list(starts.values())},
            schema={"start": pl.Int64, "node": pl.Int32},
        )
        .with_columns(node=pl.when(pl.col("node") != NO_NODE).then(pl.col("node")))
        .sort("start")
    )


def _interval_end(prefix: str) -> int:
    """The first key after every number that starts with ``prefix``."""
    return (int(prefix) + 1) * int(10 ** (KEY_DIGITS - len(prefix))) * 16


def match_node(number: pl.Expr, sheet_index: pl.Expr, segments: pl.DataFrame) -> pl.Expr:
    """The node of the longest sheet prefix of each number (null when none matches)."""
    position = (
        pl.lit(segments.get_column("start"))
        .search_sorted(number_key(number, sheet_index), side="right")
        .cast(pl.Int64)
        - 1
    )
    return pl.lit(segments.get_column("node")).gather(position.clip(lower_bound=0))
