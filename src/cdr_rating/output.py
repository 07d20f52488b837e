"""How rated calls and rejects look in files: columns, and money as plain text in CSV."""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from cdr_rating.rating import RatingPlan

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def rated_for_csv(rated: Frame, plan: RatingPlan) -> Frame:
    """Text columns for CSV: charge with its sheet's decimals, times as ISO 8601 UTC."""
    charge_dtype = rated.collect_schema()["charge"]
    assert isinstance(charge_dtype, pl.Decimal)
    decimals = pl.col("sheet").replace_strict(
        plan.sheet_table.get_column("sheet"),
        plan.sheet_table.get_column("decimals"),
        return_dtype=pl.Int64,
    )
    text = pl.col("charge").cast(pl.String)
    surplus = (charge_dtype.scale or 0) - decimals
    return rated.with_columns(
        charge=text.str.slice(0, text.str.len_chars() - surplus).str.strip_suffix("."),
        start=pl.col("start").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"),
        duration_s=pl.col("duration_s")
        .cast(pl.String)
        .str.strip_chars_end("0")
        .str.strip_suffix("."),
    )


# OWASP's "CSV injection": a spreadsheet runs a cell that starts with one of = + - @
# as a formula (=HYPERLINK(...), @SUM(1), =cmd|'/C calc'!A0), also after a tab or CR.
_FORMULA_START = r"^[=+\-@\t\r]"
# A cell that is all a number cannot hold a formula and stays a number in the
# spreadsheet: -1.50 and +4930123 are left alone; -1+cmd|'/C calc'!A0 is not.
_PLAIN_NUMBER = r"^[+-]?\d+(\.\d+)?$"


def for_people(frame: Frame) -> Frame:
    """``frame`` for a CSV that people open in a spreadsheet: every text cell that a
    spreadsheet would read as a formula gets a leading ``'`` (OWASP's advice), so it
    shows as the text it is.

    Numbers stay numbers, in numeric columns and as text (``-1.50``, ``+4930123``): the
    people who get these files (billing specialists, customers) add them up. Machine
    outputs (``rate --out``, ``--rejects``, the store) never go through this: they stay
    exactly what was read.

    >>> for_people(pl.DataFrame({"a": ["=1+2", "-1.50", "@SUM(1)", "ok"]}))["a"].to_list()
    ["'=1+2", '-1.50', "'@SUM(1)", 'ok']
    """
    text = pl.col(pl.String)
    return frame.with_columns(
        pl.when(text.str.contains(_FORMULA_START) & ~text.str.contains(_PLAIN_NUMBER))
        .then(pl.lit("'") + text)
        .otherwise(text)
        .name.keep()
    )
