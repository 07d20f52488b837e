"""Choosing a reader per input file (``--format``) and reading them into one raw frame."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from cdr_rating.cdrs.canonical import empty_raw_frame, looks_canonical, read_canonical
from cdr_rating.errors import InputError, UsageError

Reader = Callable[[Path], pl.LazyFrame]
READERS: dict[str, Reader] = {"canonical": read_canonical}
FORMATS = ("auto", *READERS)


def detect_format(path: Path) -> str:
    """The format of ``path`` from its extension and first line; never a silent guess."""
    if path.suffix.lower() == ".parquet":
        return "canonical"
    with path.open("rb") as handle:
        first = handle.readline(64 * 1024).decode("utf-8", errors="replace")
    header = [cell.strip().strip('"') for cell in first.rstrip("\r\n").split(",")]
    if looks_canonical(header):
        return "canonical"
    raise InputError(
        f"{path}: cannot tell its CDR format from the first line; pass --format "
        f"({', '.join(READERS)})"
    )


def read_inputs(paths: Sequence[Path], fmt: str = "auto") -> list[pl.LazyFrame]:
    """The raw frame of every input file, in the order given."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS)}")
    frames = []
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: input file not found")
        if path.stat().st_size == 0:
            frames.append(empty_raw_frame(path))
            continue
        reader = READERS[detect_format(path) if fmt == "auto" else fmt]
        frames.append(reader(path))
    if not frames:
        raise UsageError("no input files given")
    return frames
