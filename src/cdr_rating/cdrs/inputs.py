"""Choosing a reader per input file (``--format``) and reading them into one raw frame.

``auto`` recognises a file by its first non-blank line and never guesses: a line that
fits no format, or more than one, is an ``InputError`` naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from cdr_rating import choices
from cdr_rating.cdrs import asterisk, cgrates, freeswitch
from cdr_rating.cdrs.canonical import empty_raw_frame, looks_canonical, read_canonical
from cdr_rating.cdrs.delimited import BLANK, first_line, read_text_lines, split_text
from cdr_rating.cdrs.mapped import FORMAT_PREFIX, ColumnMap, MappedReader
from cdr_rating.errors import InputError, UsageError

Reader = Callable[[Path], pl.LazyFrame]
READERS: dict[str, Reader] = {
    "canonical": read_canonical,
    "asterisk": asterisk.read_asterisk,
    "freeswitch": freeswitch.read_freeswitch,
    "cgrates": cgrates.read_cgrates,
}
# ``mapped`` needs a column map (``--map``), so it is never detected and has no entry in
# READERS: its format name carries the map (``ColumnMap.format_name``).
MAPPED = "mapped"
FORMATS = choices.FORMATS
if set(FORMATS) != {"auto", *READERS, MAPPED}:  # the names the CLI offers are the readers
    raise ImportError(f"cdr_rating.choices.FORMATS {FORMATS} does not name the readers")
_DETECTORS: dict[str, Callable[[list[str]], bool]] = {
    "canonical": looks_canonical,
    "asterisk": asterisk.looks_like,
    "freeswitch": freeswitch.looks_like,
    "cgrates": cgrates.looks_like,
}
_GZIP_MAGIC = b"\x1f\x8b"


def reader_for(fmt: str) -> Reader:
    """The reader a ``--format`` value names (not ``auto``).

    Raises:
        UsageError: an unknown format, or ``mapped`` without its column map.
    """
    if fmt in READERS:
        return READERS[fmt]
    if fmt.startswith(FORMAT_PREFIX):
        return MappedReader(ColumnMap.from_format_name(fmt))
    if fmt == MAPPED:
        raise UsageError("--format mapped needs --map FIELD=COLUMN for callee, start and duration")
    raise UsageError(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS)}")


def detect_format(path: Path) -> str:
    """The format of ``path`` from its extension and first line; never a silent guess.

    Raises:
        InputError: the first line fits no format, or fits more than one.
    """
    if path.suffix.lower() == ".parquet":
        return "canonical"
    with path.open("rb") as handle:
        magic = handle.read(len(_GZIP_MAGIC))
    if magic == _GZIP_MAGIC:
        raise InputError(f"{path}: the file is gzip-compressed; decompress it first")
    first = first_line(path)
    if first is None:
        raise InputError(f"{path}: the file is blank; there is nothing to detect")
    number, text = first
    fields = split_text(text)
    matches = [name for name, fits in _DETECTORS.items() if fields is not None and fits(fields)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InputError(
            f"{path}: line {number} fits more than one CDR format ({', '.join(matches)}); "
            "pass --format"
        )
    if "\0" in text or "\ufffd" in text:
        raise InputError(
            f"{path}: line {number} is not text (NUL bytes or invalid UTF-8); "
            "is it a CDR file? Pass --format to read it anyway"
        )
    raise InputError(
        f"{path}: cannot tell its CDR format from line {number}; pass --format "
        f"({', '.join(FORMATS[1:])})"
    )


def read_inputs(paths: Sequence[Path], fmt: str = "auto") -> list[pl.LazyFrame]:
    """The raw frame of every input file, in the order given.

    Raises:
        UsageError: an unknown format, or no input files.
        InputError: a file is missing, a directory, unreadable, of a format that cannot
            be told, or not empty but without a single row.
    """
    chosen = None if fmt == "auto" else reader_for(fmt)
    if not paths:
        raise UsageError("no input files given")
    frames = []
    for path in paths:
        try:
            if path.is_dir():
                raise InputError(f"{path}: is a directory; give the CDR files in it")
            if not path.is_file():
                raise InputError(f"{path}: input file not found")
            text = path.suffix.lower() != ".parquet"
            if path.stat().st_size == 0 or (text and first_line(path) is None):
                frames.append(empty_raw_frame(path))
                continue
            reader = chosen or READERS[detect_format(path)]
            frame = reader(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
        if text and _no_rows(frame, path, reader):
            raise InputError(
                f"{path}: has {path.stat().st_size} bytes but not one CDR row; check that it "
                "is a CDR file of the format read (--format) and take it out of the input"
            )
        frames.append(frame)
    return frames


def _no_rows(frame: pl.LazyFrame, path: Path, reader: Reader) -> bool:
    """Whether a text file that is not blank yields no row, other than a file that holds
    only its header (and the lines a column map skips): a quiet day's export.

    Every other non-blank line is a row (rated or rejected), so this only fires when a
    file was not read as text lines at all: a safety net under the readers.
    """
    if frame.select(pl.len()).collect().item():
        return False
    if reader is read_canonical or isinstance(reader, MappedReader):
        skipped = reader.column_map.skip_rows if isinstance(reader, MappedReader) else 0
        return read_text_lines(path).filter(~pl.col("text").str.contains(BLANK)).height > (
            1 + skipped
        )
    return True
