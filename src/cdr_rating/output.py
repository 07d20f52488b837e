"""How rated calls and rejects look in files: columns, and money as plain text in CSV."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import polars as pl

from cdr_rating.errors import UsageError
from cdr_rating.rating import RatingPlan
from cdr_rating.store import write_atomically, write_frame

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


def write_rated(rated: pl.DataFrame | pl.LazyFrame, path: Path, plan: RatingPlan) -> None:
    """Stream rated calls into ``path`` (Parquet or CSV by extension), atomically."""
    frame = rated.lazy()
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise UsageError(f"{path}: output must end in .parquet or .csv")

    def sink(target: Path) -> None:
        if suffix == ".parquet":
            frame.sink_parquet(target)
        else:
            rated_for_csv(frame, plan).sink_csv(target)

    write_atomically(path, sink)


def write_rejects(rejects: pl.DataFrame, path: Path) -> None:
    write_frame(rejects, path)
