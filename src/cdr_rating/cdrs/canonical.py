"""The canonical format: CSV or Parquet with the columns of ARCHITECTURE.md section 6."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cdr_rating.cdrs.schema import RAW_COLUMNS
from cdr_rating.errors import InputError

REQUIRED = ("call_id", "caller", "callee", "start", "duration")


def looks_canonical(header: list[str]) -> bool:
    """Whether a header names the canonical columns (for ``--format auto``)."""
    names = {name.strip().lower() for name in header}
    return all(column in names for column in REQUIRED)


def read_canonical(path: Path) -> pl.LazyFrame:
    """The raw frame of a canonical CSV or Parquet file (``line``: CSV line or row number)."""
    if path.suffix.lower() == ".parquet":
        try:
            frame = pl.scan_parquet(path)
            names = frame.collect_schema().names()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(f"{path}: cannot be read as Parquet ({_first_line(exc)})") from exc
        first_line = 1
    else:
        frame = pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy")
        try:
            names = frame.collect_schema().names()
        except pl.exceptions.NoDataError:
            return empty_raw_frame(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(f"{path}: cannot be read as CSV ({_first_line(exc)})") from exc
        first_line = 2
    frame = frame.rename({name: name.strip().lower() for name in names})
    missing = [column for column in REQUIRED if column not in {n.strip().lower() for n in names}]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; canonical CDRs need "
            f"{', '.join(REQUIRED)} (or pass --format for another layout)"
        )
    present = set(frame.collect_schema().names())
    return (
        frame.with_row_index("line", offset=first_line)
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
