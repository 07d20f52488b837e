"""Comma-separated text split into fields without losing a single physical line.

Switches write CDRs one record per line, but the files that reach a billing run are
not always clean: a line cut short by a crash, a stray quote, NUL bytes, a row with a
field too many. Polars' CSV reader is fast but cannot report any of that per line (a
ragged row fails the whole file, a stray quote swallows the lines after it), so this
module defines the dialect itself and uses Polars' reader only where the answer is
provably the same.

The dialect (lenient RFC 4180, one record per physical line; the separator is a comma
unless a reader says otherwise):

* a line is split at separators; a field that starts with ``"`` is quoted and ends at
  the next ``"`` that is not doubled (``""`` inside stands for one ``"``); it must be
  followed by a separator or the end of the line;
* a field that does not start with ``"`` runs to the next separator and keeps any
  quote in it as a plain character;
* a line that breaks these rules (a quote that never closes, text after a closing
  quote) is *malformed*: it gets a ``problem`` and no fields;
* lines are split at ``\\n``; a ``\\r`` before it is dropped; blank lines (only spaces
  and tabs) hold no record and are left out; bytes that are not UTF-8 are replaced
  with U+FFFD; a byte order mark at the start of the file is ignored.

The fast path reads the file with Polars' CSV reader and keeps its result only for the
lines where it provably agrees with the rules above; every other line is split again
by the exact (slower) expressions. ``split_lines`` is that exact definition.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

_BLANK = r"^[ \t]*$"
_READ_CHUNK = 1 << 24
_BOM = "\ufeff"
# Wider first lines (binary data full of commas, most likely) skip the fast path.
_MAX_FAST_WIDTH = 1024


def field_name(index: int) -> str:
    """The column that holds field ``index`` (0-based) of a line."""
    return f"f{index}"


def read_text_lines(path: Path, only: pl.Series | None = None) -> pl.DataFrame:
    """The physical lines of ``path`` (those numbered in ``only``, if given): ``line``
    (1-based, Int64) and ``text``.

    Text that is not valid UTF-8 is decoded with replacement characters (the whole file
    is then read into memory once; valid files are scanned by Polars directly).
    """

    def numbered(source: Path | bytes) -> pl.DataFrame:
        lines = pl.scan_lines(source, name="text", row_index_name="line", row_index_offset=1)
        lines = lines.with_columns(pl.col("line").cast(pl.Int64))
        if only is not None:
            lines = lines.filter(pl.col("line").is_in(only.implode()))
        return lines.collect()

    try:
        frame = numbered(path)
    except pl.exceptions.ComputeError:
        frame = numbered(path.read_bytes().decode("utf-8", errors="replace").encode("utf-8"))
    return frame.with_columns(
        text=pl.when(pl.col("line") == 1)
        .then(pl.col("text").str.strip_prefix(_BOM))
        .otherwise(pl.col("text"))
    )


def _token_pattern(separator: str) -> str:
    """One separator plus one field. Lines get a leading separator so that no token is
    empty (the regex iterator steps over a character after an empty match)."""
    sep = re.escape(separator)
    return rf'{sep}(?:"(?:[^"]|"")*"|[^{sep}"][^{sep}]*|)'


def split_lines(lines: pl.DataFrame, wanted: Sequence[int], separator: str = ",") -> pl.DataFrame:
    """The exact split of ``text`` lines: ``line``, ``fields``, ``problem`` and fields.

    ``fields`` is the number of fields (null for a malformed line), ``problem`` says why
    a line is malformed (null otherwise), and ``f<i>`` for each ``i`` in ``wanted`` is
    the unquoted field, null where the line has fewer fields. Blank lines are dropped.
    """
    tokens = (
        lines.filter(~pl.col("text").str.contains(_BLANK))
        .with_columns(
            _tokens=(pl.lit(separator) + pl.col("text")).str.extract_all(_token_pattern(separator))
        )
        .with_columns(_covered=pl.col("_tokens").list.eval(pl.element().str.len_bytes()).list.sum())
    )
    well_formed = pl.col("_covered") == pl.col("text").str.len_bytes() + 1
    odd_quotes = pl.col("text").str.count_matches('"', literal=True) % 2 == 1
    fields = tokens.with_columns(
        fields=pl.when(well_formed).then(pl.col("_tokens").list.len().cast(pl.Int64)),
        problem=pl.when(well_formed)
        .then(pl.lit(None, pl.String))
        .when(odd_quotes)
        .then(pl.lit("unbalanced quotes: a quoted field does not end on this line"))
        .otherwise(pl.lit("text between a closing quote and the next separator")),
    )
    return fields.select(
        "line",
        "fields",
        "problem",
        *(
            _unquote(
                pl.when(well_formed).then(
                    pl.col("_tokens").list.get(index, null_on_oob=True).str.slice(1)
                )
            ).alias(field_name(index))
            for index in wanted
        ),
    )


def _unquote(token: pl.Expr) -> pl.Expr:
    """A field's value from its token (without the separator)."""
    quoted = token.str.starts_with('"')
    inner = token.str.slice(1, token.str.len_chars() - 2).str.replace_all('""', '"', literal=True)
    return pl.when(quoted).then(inner).otherwise(token)


def read_fields(path: Path, wanted: Sequence[int], separator: str = ",") -> pl.DataFrame:
    """Every non-blank line of ``path`` split into fields (columns as ``split_lines``).

    The result is the same as ``split_lines(read_text_lines(path), wanted)``; most files
    take the fast path.
    """
    width = _first_line_width(path, separator)
    # A one-field file cannot tell a blank line from a field of spaces on the fast path.
    fast = None
    if width is not None and 2 <= width <= _MAX_FAST_WIDTH:
        fast = _polars_fields(path, width, wanted, separator)
    if fast is None or width is None:
        return split_lines(read_text_lines(path), wanted, separator)
    all_certain = fast.get_column("certain").all()
    good = fast if all_certain else fast.filter(pl.col("certain"))
    present = [field_name(index) for index in wanted if index < width]
    # Polars reads an unquoted empty field as null, the rules as "". Only columns that
    # hold a null are filled: filling copies the whole column.
    holding_null = [name for name in present if good.get_column(name).null_count()]
    good = good.select(
        "line",
        fields=pl.lit(width, pl.Int64),
        problem=pl.lit(None, pl.String),
        **{
            name: pl.col(name).fill_null("") if name in holding_null else pl.col(name)
            for name in present
        },
        **{field_name(i): pl.lit(None, pl.String) for i in wanted if i >= width},
    )
    if all_certain:
        return good
    unsure = fast.filter(~pl.col("certain")).get_column("line")
    exact = split_lines(read_text_lines(path, only=unsure), wanted, separator)
    return pl.concat([good, exact]).sort("line")


def _first_line_width(path: Path, separator: str) -> int | None:
    """The number of fields of the first non-blank line, or None if it is malformed."""
    first = first_line(path)
    fields = None if first is None else split_text(first[1], separator)
    return None if fields is None else len(fields)


def first_line(path: Path) -> tuple[int, str] | None:
    """The first non-blank line (number and text, as ``read_text_lines`` reads them)
    within the first 16 MiB of ``path``, or None."""
    with path.open("rb") as handle:
        number, remaining = 0, _READ_CHUNK
        while remaining > 0 and (raw := handle.readline(remaining)):
            number += 1
            remaining -= len(raw)
            text = raw.decode("utf-8", errors="replace")
            if number == 1:
                text = text.removeprefix(_BOM)
            if text.strip(" \t\r\n"):
                return number, text.removesuffix("\n").removesuffix("\r")
    return None


def split_text(text: str, separator: str = ",") -> list[str] | None:
    """The fields of one line of text (a header, or a line to detect a format from), or
    None when it is malformed."""
    tokens = (pl.lit(separator) + pl.col("text")).str.extract_all(_token_pattern(separator))
    split = pl.DataFrame({"text": [text]}).select(
        covered=tokens.list.eval(pl.element().str.len_bytes()).list.sum(),
        values=tokens.list.eval(_unquote(pl.element().str.slice(1))),
    )
    if split.item(0, "covered") != len(text.encode("utf-8")) + 1:
        return None
    return [str(value) for value in split.item(0, "values")]


def _polars_fields(
    path: Path, width: int, wanted: Sequence[int], separator: str
) -> pl.DataFrame | None:
    """Polars' reading of the file, with ``certain`` true where it matches the rules.

    None when the whole reading may differ: Polars failed (a field too many, text after
    a closing quote, bytes that are not UTF-8), a quote left open joined lines into one
    record (fewer records than lines), or a carriage return stands anywhere but before a
    newline (Polars may end a record there). Within a good reading, a line is uncertain
    when its last field is null: Polars fills the fields missing from a short line with
    nulls, and an unquoted empty last field reads as null too. A line with more fields
    than the first makes Polars fail, except the last line of a file that does not end
    in a newline, whose trailing comma it ignores: that line is never certain.
    """
    bare_returns, open_end = _scan_bytes(path)
    if bare_returns:
        return None
    names = [field_name(index) for index in range(width)]
    try:
        frame = pl.read_csv(
            path,
            has_header=False,
            separator=separator,
            schema=dict.fromkeys(names, pl.String),
            raise_if_empty=False,
            truncate_ragged_lines=False,
        )
        # Without quoting every physical line is a record: Polars counts them fast.
        lines = pl.scan_csv(path, has_header=False, quote_char=None, infer_schema=False)
        physical = lines.select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return None
    if frame.height != physical:
        return None
    keep = sorted({index for index in wanted if index < width})
    line = pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
    certain = pl.col(names[-1]).is_not_null()
    if open_end:
        certain = certain & (line < pl.len())
    return frame.select(line.alias("line"), certain.alias("certain"), *(names[i] for i in keep))


def _scan_bytes(path: Path) -> tuple[bool, bool]:
    """Whether a carriage return stands anywhere but before a newline, and whether the
    last line has no newline."""
    returns = line_ends = 0
    previous = b""
    # One reused buffer: a fresh 16 MiB chunk, or a memory map, would cost page faults.
    buffer = bytearray(_READ_CHUNK)
    with path.open("rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            # Most files have no carriage return at all: a search is all they cost.
            if returns or buffer.find(b"\r", 0, size) >= 0:
                returns += buffer.count(b"\r", 0, size)
                line_ends += buffer.count(b"\r\n", 0, size)
            line_ends += previous == b"\r" and buffer[:1] == b"\n"
            previous = bytes(buffer[size - 1 : size])
    # A "\r" that ends the file ends its last line, as "\r\n" would.
    final_return = previous == b"\r"
    return returns - line_ends - final_return > 0, previous not in (b"", b"\n")
