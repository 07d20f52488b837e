"""The original input line of each reject, read back only for the rows rejected."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cdr_rating.cdrs.delimited import read_text_lines
from cdr_rating.cdrs.schema import REJECT_SCHEMA


def attach_raw(rejects: pl.DataFrame) -> pl.DataFrame:
    """Add ``raw``: the CSV line as it was in the file, or the Parquet row as JSON."""
    pieces = []
    for (file,), group in rejects.group_by("file", maintain_order=True):
        path = Path(str(file))
        read_back = _parquet_rows if path.suffix.lower() == ".parquet" else _csv_lines
        lookup = read_back(path, group)
        pieces.append(group.join(lookup, on="line", how="left"))
    if not pieces:
        return rejects.with_columns(raw=pl.lit(None, pl.String)).select(REJECT_SCHEMA.names())
    return pl.concat(pieces).select(REJECT_SCHEMA.names()).cast(REJECT_SCHEMA)


def _csv_lines(path: Path, rejects: pl.DataFrame) -> pl.DataFrame:
    """The text lines that were rejected, numbered and decoded as the readers read them."""
    wanted = rejects.get_column("line").drop_nulls().unique()
    return read_text_lines(path, only=wanted).select("line", raw="text")


def _parquet_rows(path: Path, rejects: pl.DataFrame) -> pl.DataFrame:
    wanted = rejects.get_column("line").drop_nulls().unique()
    rows = (
        pl.scan_parquet(path)
        .with_row_index("line", offset=1)
        .with_columns(pl.col("line").cast(pl.Int64))
        .filter(pl.col("line").is_in(wanted.implode()))
        .collect()
    )
    return rows.select(
        "line", raw=pl.struct(pl.exclude("line").cast(pl.String)).struct.json_encode()
    )
