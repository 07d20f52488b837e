"""Writing results so that a reader never sees a partial file under its final name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import polars as pl

from cdr_rating.errors import UsageError


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it, then rename it over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_frame(frame: pl.DataFrame, path: Path) -> None:
    """Parquet or CSV by extension, atomically."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        write_atomically(path, lambda target: frame.write_parquet(target, statistics=True))
    elif suffix == ".csv":
        write_atomically(path, frame.write_csv)
    else:
        raise UsageError(f"{path}: output must end in .parquet or .csv")
