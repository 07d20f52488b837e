"""The canonical format: CSV or Parquet with the columns of ARCHITECTURE.md section 6.

CSV needs a header naming the columns (any order, any case); every following line must
have as many fields as the header. Lines are split by ``delimited`` (one record per
physical line), so a ragged or broken line is rejected on its own with its line
number, and ``line`` is always the physical line in the file.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cdr_rating.cdrs.delimited import first_line, read_fields, split_text
from cdr_rating.cdrs.records import field, raw_frame, shape_checks, shaped
from cdr_rating.cdrs.schema import RAW_COLUMNS
from cdr_rating.errors import InputError

REQUIRED = ("call_id", "caller", "callee", "start", "duration")


def looks_canonical(header: list[str]) -> bool:
    """Whether a header names the canonical columns (for ``--format auto``)."""
    names = {name.strip().lower() for name in header}
    return all(column in names for column in REQUIRED)


def read_header(path: Path, separator: str = ",") -> tuple[int, list[str]]:
    """The line number and column names of the header (the first non-blank line).

    Raises:
        InputError: the file has no header, or it is not valid CSV.
    """
    first = first_line(path)
    if first is None:
        raise InputError(f"{path}: no header line (the file is blank)")
    number, text = first
    names = split_text(text, separator)
    if names is None:
        raise InputError(f"{path}: line {number}: the header is not valid CSV (unbalanced quotes?)")
    check_unique_columns(path, names, f"line {number}: the header")
    return number, names


def check_unique_columns(path: Path, names: list[str], where: str) -> None:
    """A column named twice (in any case) would leave which one is read to chance.

    Raises:
        InputError: naming the file and the first repeated column.
    """
    seen: set[str] = set()
    for name in names:
        key = name.strip().lower()
        if key in seen:
            raise InputError(
                f"{path}: {where} names column {name.strip()!r} twice; remove or rename one"
            )
        seen.add(key)


def read_canonical(path: Path) -> pl.LazyFrame:
    """The raw frame of a canonical CSV or Parquet file (``line``: CSV line or row number)."""
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path)
    header_line, names = read_header(path)
    lowered = [name.strip().lower() for name in names]
    missing = [column for column in REQUIRED if column not in lowered]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; canonical CDRs need "
            f"{', '.join(REQUIRED)} (or pass --format for another layout)"
        )
    index = {name: lowered.index(name) for name in RAW_COLUMNS if name in lowered}
    rows = read_fields(path, sorted(set(index.values())))
    rows = rows.filter(pl.col("line") != header_line)
    counts = pl.col("fields") == len(names)
    checks = shape_checks(counts, f"the header has {len(names)}")
    columns = {name: field(position) for name, position in index.items()}
    return raw_frame(rows, path, shaped(counts), columns, checks)


def _read_parquet(path: Path) -> pl.LazyFrame:
    try:
        frame = pl.scan_parquet(path)
        names = frame.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as Parquet ({_first_line(exc)})") from exc
    check_unique_columns(path, names, "the Parquet schema")
    frame = frame.rename({name: name.strip().lower() for name in names})
    missing = [column for column in REQUIRED if column not in {n.strip().lower() for n in names}]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; canonical CDRs need "
            f"{', '.join(REQUIRED)} (or pass --format for another layout)"
        )
    present = set(frame.collect_schema().names())
    return (
        frame.with_row_index("line", offset=1)
        .with_columns(
            *(pl.lit(None, pl.String).alias(c) for c in RAW_COLUMNS if c not in present),
            file=pl.lit(str(path)),
        )
        .select(*RAW_COLUMNS, "file", pl.col("line").cast(pl.Int64))
    )


def empty_raw_frame(path: Path) -> pl.LazyFrame:
    """A raw frame with no rows, for an empty input file."""
    return pl.LazyFrame(
        schema={**dict.fromkeys(RAW_COLUMNS, pl.String), "file": pl.String, "line": pl.Int64}
    ).with_columns(file=pl.lit(str(path)))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
