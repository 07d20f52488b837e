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
  with U+FFFD; a byte order mark at the start of the file is ignored;
* a file whose first line break is a ``\\r`` alone (classic Mac OS line endings) is
  split at ``\\r``, ``\\r\\n`` and ``\\n`` (Python's universal newlines): every ``\\r`` in
  it ends a line. In any other file a ``\\r`` not before a ``\\n`` is a plain character;
* a line longer than ``MAX_LINE_BYTES`` (1 MiB, line break not counted) is never held
  in memory whole: it is *malformed* (``problem`` says how long it was), and its text is
  its first ``EXCERPT_BYTES`` bytes. A CDR line is a few hundred bytes; a longer one is
  a corrupt file, and a line of gigabytes must not take the process down.

The fast path reads the file with Polars' CSV reader and keeps its result only for the
lines where it provably agrees with the rules above; every other line is split again
by the exact (slower) expressions. ``split_lines`` is that exact definition.
"""

from __future__ import annotations

import codecs
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

MAX_LINE_BYTES = 1 << 20
EXCERPT_BYTES = 200
BLANK = r"^[ \t]*$"  # a line of only spaces and tabs holds no record
_READ_CHUNK = 1 << 24
_BOM = "\ufeff"
# Wider first lines (binary data full of commas, most likely) skip the fast path.
_MAX_FAST_WIDTH = 1024


def field_name(index: int) -> str:
    """The column that holds field ``index`` (0-based) of a line."""
    return f"f{index}"


def read_text_lines(path: Path, only: pl.Series | None = None) -> pl.DataFrame:
    """The physical lines of ``path`` (those numbered in ``only``, if given): ``line``
    (1-based, Int64), ``text`` and ``cut_bytes`` (the length of a line longer than
    ``MAX_LINE_BYTES``, whose text is its excerpt; null for every other line).

    Text that is not valid UTF-8 is decoded with replacement characters (the whole file
    is then read into memory once; valid files are scanned by Polars directly).
    """
    with _readable(path) as source:
        return _text_lines(source, only)


def _text_lines(source: _Readable, only: pl.Series | None = None) -> pl.DataFrame:
    def numbered(data: Path | bytes) -> pl.DataFrame:
        lines = pl.scan_lines(data, name="text", row_index_name="line", row_index_offset=1)
        lines = lines.with_columns(pl.col("line").cast(pl.Int64))
        if only is not None:
            lines = lines.filter(pl.col("line").is_in(only.implode()))
        return lines.collect()

    try:
        frame = numbered(source.path)
    except pl.exceptions.ComputeError:
        text = source.path.read_bytes().decode("utf-8", errors="replace")
        frame = numbered(text.encode("utf-8"))
    return frame.with_columns(
        text=pl.when(pl.col("line") == 1)
        .then(pl.col("text").str.strip_prefix(_BOM))
        .otherwise(pl.col("text")),
        cut_bytes=source.cut_bytes(),
    )


@dataclass(frozen=True)
class _Readable:
    """What Polars reads for one input file: the file itself, or (when it has CR line
    endings or a line over ``MAX_LINE_BYTES``) a copy with ``\\n`` line endings and such
    lines cut to their excerpt; ``cut`` maps their line numbers to their lengths."""

    path: Path
    bare_returns: bool  # a "\\r" stands somewhere other than before a "\\n"
    open_end: bool  # the last line has no line break
    cut: dict[int, int] = field(default_factory=dict)

    def cut_bytes(self) -> pl.Expr:
        """``cut_bytes`` of every line (a column of ``line``)."""
        if not self.cut:
            return pl.lit(None, pl.Int64)
        lines, lengths = list(self.cut), list(self.cut.values())
        return pl.col("line").replace_strict(lines, lengths, default=None, return_dtype=pl.Int64)


@contextmanager
def _readable(path: Path) -> Iterator[_Readable]:
    """The file to read for ``path`` (see ``_Readable``); a copy lives as long as the
    context. Memory stays bounded by a few read chunks whatever the lines' lengths."""
    returns_end_lines = _first_break_is_return(path)
    bare_returns, open_end, long_line = (False, False, False)
    if not returns_end_lines:
        bare_returns, open_end, long_line = _scan_bytes(path)
    if not returns_end_lines and not long_line:
        yield _Readable(path, bare_returns, open_end)
        return
    with tempfile.TemporaryDirectory(prefix="cdr-rating-") as folder:
        copy = Path(folder) / "lines"
        cut = _clean_copy(path, copy, returns_end_lines=returns_end_lines)
        bare_returns, open_end, _ = _scan_bytes(copy)
        yield _Readable(copy, bare_returns, open_end, cut)


def _first_break_is_return(path: Path) -> bool:
    """Whether the first line break of ``path`` is a ``\\r`` not followed by ``\\n``."""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            newline, ret = chunk.find(b"\n"), chunk.find(b"\r")
            if ret < 0 or 0 <= newline < ret:
                if newline >= 0:
                    return False
                continue
            following = chunk[ret + 1 : ret + 2] or handle.read(1)
            return following != b"\n"
    return False


def _chunks(path: Path, *, returns_end_lines: bool) -> Iterator[bytes]:
    """The bytes of ``path`` a chunk at a time, every line break made ``\\n`` when
    ``returns_end_lines`` (universal newlines: ``\\r\\n``, ``\\r`` and ``\\n``)."""
    carried = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            if not returns_end_lines:
                yield chunk
                continue
            chunk = carried + chunk
            # A "\\r" that ends a chunk may be the first half of "\\r\\n".
            carried = b"\r" if chunk.endswith(b"\r") else b""
            chunk = chunk[: len(chunk) - len(carried)]
            yield chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if carried:
        yield b"\n"


def _clean_copy(path: Path, copy: Path, *, returns_end_lines: bool) -> dict[int, int]:
    """Write ``path`` to ``copy`` with ``\\n`` line breaks and every line longer than
    ``MAX_LINE_BYTES`` cut to its excerpt; return those lines' numbers and lengths.

    The bytes are looked at in windows of ``MAX_LINE_BYTES``: a window's complete lines
    are shorter than the limit and are copied as they are, so only the line that runs
    across windows is held (at most twice the limit) or, once it is too long, skipped.
    """
    cut: dict[int, int] = {}
    line = 1
    pending = bytearray()  # the start of the current line, not yet written
    skipped = None  # the length so far of a long current line, once it is cut

    with copy.open("wb") as out:

        def end_line(rest: bytes) -> None:
            nonlocal skipped
            if skipped is not None:
                cut[line] = skipped + len(rest)
            elif len(pending) + len(rest) > MAX_LINE_BYTES:
                cut[line] = len(pending) + len(rest)
                out.write(_excerpt(bytes(pending) + rest[:EXCERPT_BYTES]))
            else:
                out.write(pending)
                out.write(rest)
            skipped = None
            pending.clear()

        for chunk in _chunks(path, returns_end_lines=returns_end_lines):
            for start in range(0, len(chunk), MAX_LINE_BYTES):
                window = chunk[start : start + MAX_LINE_BYTES]
                first = window.find(b"\n")
                if first < 0:
                    if skipped is not None:
                        skipped += len(window)
                        continue
                    pending.extend(window)
                    if len(pending) > MAX_LINE_BYTES:
                        out.write(_excerpt(bytes(pending[:EXCERPT_BYTES])))
                        skipped = len(pending)
                        pending.clear()
                    continue
                end_line(window[:first])
                last = window.rfind(b"\n")
                out.write(window[first : last + 1])
                line += window.count(b"\n")
                pending.extend(window[last + 1 :])
        if pending or skipped is not None:
            end_line(b"")
    return cut


def _excerpt(data: bytes) -> bytes:
    """The first ``EXCERPT_BYTES`` of a line, without a character cut in two at the end
    (an incremental decoder holds back an incomplete last character)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(data[:EXCERPT_BYTES]).encode("utf-8")


def _token_pattern(separator: str) -> str:
    """One separator plus one field. Lines get a leading separator so that no token is
    empty (the regex iterator steps over a character after an empty match)."""
    sep = re.escape(separator)
    return rf'{sep}(?:"(?:[^"]|"")*"|[^{sep}"][^{sep}]*|)'


def split_lines(lines: pl.DataFrame, wanted: Sequence[int], separator: str = ",") -> pl.DataFrame:
    """The exact split of ``text`` lines: ``line``, ``fields``, ``problem`` and fields.

    ``fields`` is the number of fields (null for a malformed line), ``problem`` says why
    a line is malformed (null otherwise), and ``f<i>`` for each ``i`` in ``wanted`` is
    the unquoted field, null where the line has fewer fields. Blank lines are dropped;
    a line that was cut (``cut_bytes``, see ``read_text_lines``) is malformed.
    """
    if "cut_bytes" not in lines.columns:
        lines = lines.with_columns(cut_bytes=pl.lit(None, pl.Int64))
    cut = pl.col("cut_bytes").is_not_null()
    tokens = (
        lines.filter(~pl.col("text").str.contains(BLANK) | cut)
        .with_columns(
            _tokens=(pl.lit(separator) + pl.col("text")).str.extract_all(_token_pattern(separator))
        )
        .with_columns(_covered=pl.col("_tokens").list.eval(pl.element().str.len_bytes()).list.sum())
    )
    well_formed = (pl.col("_covered") == pl.col("text").str.len_bytes() + 1) & ~cut
    odd_quotes = pl.col("text").str.count_matches('"', literal=True) % 2 == 1
    fields = tokens.with_columns(
        fields=pl.when(well_formed).then(pl.col("_tokens").list.len().cast(pl.Int64)),
        problem=pl.when(well_formed)
        .then(pl.lit(None, pl.String))
        .when(cut)
        .then(
            pl.format(
                "the line is {} bytes long, over the limit of {} bytes (1 MiB); "
                "raw holds its first {} bytes",
                pl.col("cut_bytes"),
                pl.lit(MAX_LINE_BYTES),
                pl.lit(EXCERPT_BYTES),
            )
        )
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
    with _readable(path) as source:
        first = _first_line(source)
        fields = None if first is None else split_text(first[1], separator)
        width = None if fields is None else len(fields)
        # A one-field file cannot tell a blank line from a field of spaces on the fast path.
        fast = None
        if width is not None and 2 <= width <= _MAX_FAST_WIDTH:
            fast = _polars_fields(source, width, wanted, separator)
        if fast is None or width is None:
            return split_lines(_text_lines(source), wanted, separator)
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
        exact = split_lines(_text_lines(source, only=unsure), wanted, separator)
        return pl.concat([good, exact]).sort("line")


def first_line(path: Path) -> tuple[int, str] | None:
    """The first non-blank line (number and text, as ``read_text_lines`` reads them)
    within the first 16 MiB of ``path``, or None."""
    if _first_break_is_return(path):
        with _readable(path) as source:
            return _first_line(source)
    return _first_line(_Readable(path, bare_returns=False, open_end=False))


def _first_line(source: _Readable) -> tuple[int, str] | None:
    """``first_line`` of what is read for a file. Only the first line over the limit is
    looked for, in bounded memory: a file is cut (``_clean_copy``) once it is read whole."""
    with source.path.open("rb") as handle:
        number, remaining = 0, _READ_CHUNK
        while remaining > 0 and (raw := handle.readline(MAX_LINE_BYTES + 2)):
            number += 1
            remaining -= len(raw)
            # A line over the limit is a row (rejected), whatever it holds.
            long_line = len(raw) - raw.endswith(b"\n") > MAX_LINE_BYTES
            text = (_excerpt(raw) if long_line else raw).decode("utf-8", errors="replace")
            if number == 1:
                text = text.removeprefix(_BOM)
            if long_line or number in source.cut or text.strip(" \t\r\n"):
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
    source: _Readable, width: int, wanted: Sequence[int], separator: str
) -> pl.DataFrame | None:
    """Polars' reading of the file, with ``certain`` true where it matches the rules.

    None when the whole reading may differ: Polars failed (a field too many, text after
    a closing quote, bytes that are not UTF-8), a quote left open joined lines into one
    record (fewer records than lines), or a carriage return stands anywhere but before a
    newline (Polars may end a record there). Within a good reading, a line is uncertain
    when its last field is null: Polars fills the fields missing from a short line with
    nulls, and an unquoted empty last field reads as null too. A line with more fields
    than the first makes Polars fail, except the last line of a file that does not end
    in a newline, whose trailing comma it ignores: that line is never certain; nor is a
    line that was cut.
    """
    if source.bare_returns:
        return None
    path = source.path
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
    if source.open_end:
        certain = certain & (line < pl.len())
    if source.cut:
        certain = certain & ~line.is_in(list(source.cut))
    return frame.select(line.alias("line"), certain.alias("certain"), *(names[i] for i in keep))


def _scan_bytes(path: Path) -> tuple[bool, bool, bool]:
    """Whether a carriage return stands anywhere but before a newline, whether the last
    line has no newline, and whether a line is longer than ``MAX_LINE_BYTES``."""
    returns = line_ends = 0
    previous = b""
    running = 0  # bytes of the current line seen so far
    long_line = False
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
            # Lines that start and end inside one window are shorter than the limit:
            # only the line running into each window's first newline is measured.
            for start in range(0, size if not long_line else 0, MAX_LINE_BYTES):
                end = min(start + MAX_LINE_BYTES, size)
                first = buffer.find(b"\n", start, end)
                if first < 0:
                    running += end - start
                    long_line = running > MAX_LINE_BYTES
                else:
                    long_line = running + first - start > MAX_LINE_BYTES
                    running = end - buffer.rfind(b"\n", start, end) - 1
                if long_line:
                    break
    # A "\r" that ends the file ends its last line, as "\r\n" would.
    final_return = previous == b"\r"
    return returns - line_ends - final_return > 0, previous not in (b"", b"\n"), long_line
