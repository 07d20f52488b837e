"""Reading small CSV tables (rate rows, accounts, fees) as text, with their line numbers.

Everything is read as text so that validation, not the CSV reader, decides what a cell
means and can say which line and column is wrong.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from cdr_rating.errors import CdrRatingError, ConfigError

# How the small tables write booleans (``itemised``, ``taxable``, ``prorate``).
TRUE_WORDS = ("true", "yes", "1", "y")
FALSE_WORDS = ("false", "no", "0", "n")


class TableReadError(CdrRatingError):
    """A CSV table that cannot be read at all (missing, empty, malformed)."""


def read_text_table(path: Path, separator: str = ",") -> pl.DataFrame:
    """Every cell as stripped text, plus ``line``: the 1-based line number in the file.

    The header is line 1, so the first data row is line 2.
    """
    if not path.is_file():
        raise TableReadError(f"{path}: file not found")
    try:
        frame = pl.read_csv(
            path,
            separator=separator,
            infer_schema=False,
            encoding="utf8-lossy",
            raise_if_empty=True,
        )
    except pl.exceptions.NoDataError as exc:
        raise TableReadError(f"{path}: is empty; it needs a header line and rows") from exc
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise TableReadError(_locate_problem(path, separator, exc)) from exc
    frame = frame.rename({name: name.strip().lower() for name in frame.columns})
    return (
        frame.with_columns(pl.col(pl.String).str.strip_chars())
        .with_row_index("line", offset=2)
        .with_columns(pl.col("line").cast(pl.Int64))
    )


def read_config_table(
    path: Path, required: tuple[str, ...], known: tuple[str, ...]
) -> pl.DataFrame:
    """A configuration table (accounts, fees) as text: every ``known`` column present
    (empty cells as ``""``), plus ``line``.

    Raises:
        ConfigError: the file cannot be read, or a required column is missing or a
            column unknown (one problem per line).
    """
    try:
        raw = read_text_table(path)
    except TableReadError as exc:
        raise ConfigError(str(exc)) from exc
    missing = [c for c in required if c not in raw.columns]
    unknown = [c for c in raw.columns if c not in known and c != "line"]
    if missing or unknown:
        raise ConfigError(
            [f"{path}:1: missing required column '{c}'" for c in missing]
            + [f"{path}:1: unknown column '{c}' (known: {', '.join(known)})" for c in unknown]
        )
    return raw.with_columns(
        pl.lit("", pl.String).alias(c) for c in known if c not in raw.columns
    ).with_columns(pl.col(known).fill_null(""))


def format_lines(frame: pl.DataFrame, template: str, *values: str | pl.Expr) -> list[str]:
    """One message per row: each ``{}`` of ``template`` filled from ``values`` in turn.

    Strings name columns; use ``pl.lit`` for constants such as a file path.
    """
    columns = [pl.col(value) if isinstance(value, str) else value for value in values]
    return frame.select(pl.format(template, *columns)).to_series().to_list()


def _locate_problem(path: Path, separator: str, exc: Exception) -> str:
    """Find the line the CSV reader choked on (these tables are small)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=separator)
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                return (
                    f"{path}:{reader.line_num}: has {len(row)} cells but the header has "
                    f"{len(header)}; check quoting and separators"
                )
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{path}: cannot be read as CSV ({detail}); check quoting and separators"
