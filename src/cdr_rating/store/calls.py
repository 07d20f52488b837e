"""The stored tables of the data directory: one schema each, used by the writer and by
every reader, and the account buckets that month stages slice by.

``RATED`` is a stored rated call, ``REJECTS`` a stored reject (with what re-rating
needs to price it again). Writers cast to the schema (``as_rated``, ``as_rejects``);
readers scan through ``scan_rated`` and ``scan_rejects``, which also read files written
before a schema change (rejects kept ``duration_ms`` until ledger schema 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cdr_rating.money import DECIMAL_PRECISION, MAX_DECIMALS
from cdr_rating.store.files import write_partition
from cdr_rating.store.index import write_call_index
from cdr_rating.store.layout import DataDir, Kind

MONEY = pl.Decimal(DECIMAL_PRECISION, MAX_DECIMALS)
SECONDS = pl.Decimal(DECIMAL_PRECISION, 3)
UTC_TIME = pl.Datetime("us", "UTC")

RATED = pl.Schema(
    {
        "call_id": pl.String(),
        "account": pl.String(),
        "caller": pl.String(),
        "callee": pl.String(),
        "number": pl.String(),
        "start": UTC_TIME,
        "duration_s": SECONDS,
        "billable_s": pl.Int64(),
        "sheet": pl.String(),
        "prefix": pl.String(),
        "destination": pl.String(),
        "band": pl.String(),
        "charge": MONEY,
        "currency": pl.String(),
        "disposition": pl.String(),
        "service": pl.String(),
        "file": pl.String(),
        "line": pl.Int64(),
    }
)
# What a reject keeps besides its reason: the fields re-rating prices it again from
# (a corrected sheet or accounts file may rate a no_rate or unknown_account call).
RERATE_FIELDS = ("account", "caller", "callee", "number", "start", "duration_s", "caller_number")
REJECTS = pl.Schema(
    {
        "file": pl.String(),
        "line": pl.Int64(),
        "call_id": pl.String(),
        "reason": pl.String(),
        "message": pl.String(),
        "raw": pl.String(),
        "account": pl.String(),
        "caller": pl.String(),
        "callee": pl.String(),
        "number": pl.String(),
        "start": UTC_TIME,
        "duration_s": SECONDS,
        "caller_number": pl.String(),
    }
)
SCHEMAS: dict[Kind, pl.Schema] = {"rated": RATED, "rejects": REJECTS}


def conform(frame: pl.DataFrame | pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """``frame`` with exactly the columns of ``schema``, in order and cast; a column it
    lacks is null."""
    lazy = frame.lazy()
    present = set(lazy.collect_schema().names())
    return lazy.select(
        (pl.col(name) if name in present else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )


def as_rated(frame: pl.DataFrame) -> pl.DataFrame:
    return conform(frame, RATED).collect()


def as_rejects(frame: pl.DataFrame) -> pl.DataFrame:
    """Rejects in the stored schema; the engine's ``duration_ms`` becomes ``duration_s``."""
    return conform(_with_seconds(frame.lazy()), REJECTS).collect()


def _with_seconds(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``duration_s`` from ``duration_ms`` where only the latter is there: the engine's
    rejects, and stored rejects written before ``duration_s`` was their column."""
    names = frame.collect_schema().names()
    if "duration_ms" not in names or "duration_s" in names:
        return frame
    return frame.with_columns(duration_s=pl.col("duration_ms").cast(pl.Int64).cast(SECONDS) / 1000)


def _scan(path: Path, schema: pl.Schema) -> pl.LazyFrame:
    return conform(_with_seconds(pl.scan_parquet(path)), schema)


def scan_stored(kind: Kind, paths: Sequence[Path], *, with_source: bool = False) -> pl.LazyFrame:
    """The stored rows of ``paths`` (files of one kind) in the stored schema; with
    ``with_source`` also ``_from``, the file each row came from (as given)."""
    schema = SCHEMAS[kind]
    frames = [
        _scan(path, schema).with_columns(_from=pl.lit(str(path)))
        if with_source
        else _scan(path, schema)
        for path in paths
    ]
    if not frames:
        empty = pl.LazyFrame(schema=schema)
        return empty.with_columns(_from=pl.lit(None, pl.String)) if with_source else empty
    return pl.concat(frames)


def scan_rated(paths: Sequence[Path], *, with_source: bool = False) -> pl.LazyFrame:
    return scan_stored("rated", paths, with_source=with_source)


def scan_rejects(paths: Sequence[Path], *, with_source: bool = False) -> pl.LazyFrame:
    return scan_stored("rejects", paths, with_source=with_source)


def account_bucket(account: pl.Expr, buckets: int) -> pl.Expr:
    """Which of ``buckets`` slices an account's calls belong to: a hash of the account,
    so every call of one account lands in one slice (its allowances, tiers and totals
    stay together), whatever file or night it came in."""
    return (account.fill_null("").hash(seed=0) % buckets).cast(pl.UInt32)


@dataclass(frozen=True)
class Piece:
    """Rows of one input file (by content hash) in one period, for one store file."""

    kind: Kind
    sha256: str
    period: str
    frame: pl.DataFrame


def write_piece(data: DataDir, path: Path, piece: Piece) -> list[Path]:
    """Write ``piece`` to ``path`` in its stored schema, with the call index of a rated
    piece; return the files written. Their folders are not flushed yet: the caller does
    that once for all pieces (``sync_directories``) before the ledger refers to them."""
    frame = as_rated(piece.frame) if piece.kind == "rated" else as_rejects(piece.frame)
    write_partition(frame, path, sync_directory=False)
    if piece.kind == "rejects":
        return [path]
    return [path, write_call_index(frame, data, path, sync_directory=False)]
