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
