"""How rated calls and rejects look in files: columns, and money as plain text in CSV."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cdr_rating.rating import RatingPlan
from cdr_rating.store import write_frame


def rated_for_csv(rated: pl.DataFrame, plan: RatingPlan) -> pl.DataFrame:
    """Text columns for CSV: charge with its sheet's decimals, times as ISO 8601 UTC."""
    decimals = rated.select(
        pl.col("sheet").replace_strict(
            plan.sheet_table.get_column("sheet"),
            plan.sheet_table.get_column("decimals"),
            return_dtype=pl.Int64,
        )
    ).to_series()
    charge_scale = rated.schema["charge"]
    assert isinstance(charge_scale, pl.Decimal)
    surplus = (charge_scale.scale or 0) - decimals
    charge = pl.col("charge").cast(pl.String)
    charge = charge.str.slice(0, charge.str.len_chars() - pl.lit(surplus))
    return rated.with_columns(
        charge=charge.str.strip_suffix("."),
        start=pl.col("start").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"),
        duration_s=pl.col("duration_s")
        .cast(pl.String)
        .str.strip_chars_end("0")
        .str.strip_suffix("."),
    )


def write_rated(rated: pl.DataFrame, path: Path, plan: RatingPlan) -> None:
    frame = rated_for_csv(rated, plan) if path.suffix.lower() == ".csv" else rated
    write_frame(frame, path)


def write_rejects(rejects: pl.DataFrame, path: Path) -> None:
    write_frame(rejects, path)
