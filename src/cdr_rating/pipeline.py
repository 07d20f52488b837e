"""Files in, rated calls and rejects out: the library entry point the CLI calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import polars as pl
import pyarrow.parquet as pq

from cdr_rating.cdrs import InputOptions, mark_duplicates, parsed_calls, prepare_calls, read_inputs
from cdr_rating.cdrs.raw_lines import attach_raw
from cdr_rating.errors import CdrRatingError, InputError, UsageError
from cdr_rating.output import rated_for_csv
from cdr_rating.rating import RatingPlan, rate_outcome, split_outcome
from cdr_rating.rating.engine import (
    INTERNAL_COLUMNS,
    MESSAGE_FIELDS,
    rated_columns,
    reject_columns,
)
from cdr_rating.rejects import with_messages
from cdr_rating.store import write_atomically


@dataclass(frozen=True)
class RatingResult:
    """Every input row, in exactly one of ``rated`` and ``rejects``."""

    rated: pl.DataFrame
    rejects: pl.DataFrame
    read: int

    def reconciles(self) -> bool:
        return self.read == self.rated.height + self.rejects.height


def rate_lazy(
    paths: Sequence[Path], plan: RatingPlan, fmt: str = "auto", options: InputOptions | None = None
) -> pl.LazyFrame:
    """The lazy pipeline: every input row, rated or with a ``_reason`` (``rate_outcome``)."""
    parse = _parser(plan, options)
    calls = pl.concat([parse(raw) for raw in read_inputs(paths, fmt)])
    return _outcome(mark_duplicates(calls), plan)


Parser = Callable[[pl.LazyFrame], pl.LazyFrame]


def _parser(plan: RatingPlan, options: InputOptions | None) -> Parser:
    """Raw rows of one file (or slice) to typed call columns with ``_reason``.

    Each file is parsed into the same typed columns before they are stacked: raw
    columns differ by format (a Parquet duration is Int64, a CSV one text).
    """
    chosen = options or InputOptions()
    return lambda raw: parsed_calls(
        prepare_calls(raw, chosen, caller_numbers=plan.numbers is not None)
    )


def _outcome(calls: pl.LazyFrame, plan: RatingPlan) -> pl.LazyFrame:
    outcome = rate_outcome(calls, plan)
    shown = rated_columns(outcome)
    # Rejects keep what re-rating needs to price them again (cdr_rating.billing.rerate).
    kept = [c for c in (*MESSAGE_FIELDS, *INTERNAL_COLUMNS) if c not in shown]
    names = outcome.collect_schema().names()
    return outcome.select(*shown, "_reason", *(c for c in kept if c in names))


def rate_files(
    paths: Sequence[Path], plan: RatingPlan, fmt: str = "auto", options: InputOptions | None = None
) -> RatingResult:
    """Rate every call in ``paths``; reject each row that cannot be rated, with a reason."""
    with _reading(paths, fmt):
        outcome = _collect(rate_lazy(paths, plan, fmt, options))
    rated, rejects = split_outcome(outcome)
    return _checked(
        RatingResult(rated=rated, rejects=_finish_rejects(rejects), read=outcome.height)
    )


@dataclass(frozen=True)
class RatingSummary:
    """What ``rate_to_file`` wrote: counts, rejects by reason and totals per currency."""

    read: int
    rated: int
    rejected: int
    reasons: pl.DataFrame  # reason, rows
    totals: pl.DataFrame  # currency, calls, billable_s, charge
    slices: int

    def reconciles(self) -> bool:
        return self.read == self.rated + self.rejected


# Above this many rows ``rate_to_file`` rates its input a slice at a time, so that memory
# stays bounded however large the input is: a slice of 10M calls peaks at about 3.5 GiB.
SLICE_ROWS = 10_000_000
# Only a Parquet file can be cut without reading it; any other file is one piece, and
# its size in bytes over this estimates its rows when small files are grouped.
TEXT_BYTES_PER_ROW = 100
# Rated rows are written in chunks of this many (one Parquet row group each).
WRITE_ROWS = 1_000_000


def rate_to_file(
    paths: Sequence[Path],
    plan: RatingPlan,
    out: Path,
    fmt: str = "auto",
    options: InputOptions | None = None,
    rejects_out: Path | None = None,
    slice_rows: int | None = None,
) -> RatingSummary:
    """Rate ``paths`` into ``out`` (and the rejects into ``rejects_out``), slice by slice.

    The input is cut into slices of about ``slice_rows`` rows (``input_slices``), rated
    and written one after the other, so memory does not grow with the input. A call_id
    repeated across slices is still a duplicate: a first pass hashes every call_id and
    keeps the hashes that repeat; each slice then remembers the call_ids among those that
    it rated, and the next slices reject them. With one slice this is the plain lazy
    pipeline. Both files are written atomically.
    """
    slices = input_slices(paths, fmt, slice_rows or SLICE_ROWS)
    parse = _parser(plan, options)
    with _reading(paths, fmt):
        repeating = _repeated_call_ids(slices, parse) if len(slices) > 1 else None
    summaries: list[RatingSummary] = []

    def rate_into(rated_file: Path, rejects_file: Path | None) -> None:
        rated_sink = _Appender(rated_file, csv=_is_csv(out), whole=len(slices) == 1)
        rejects_sink = _Appender(rejects_file, csv=rejects_out is not None and _is_csv(rejects_out))
        # A slice is written in a thread while the next one is rated: the Parquet writer
        # uses one core, rating all of them. At most two slices are in memory.
        with rated_sink, rejects_sink, ThreadPoolExecutor(max_workers=1) as writer:
            seen = pl.Series("call_id", [], pl.String)
            writing: Future[RatingSummary] | None = None
            for pieces in slices:
                calls = mark_duplicates(pl.concat([parse(raw) for raw in pieces]), seen)
                if repeating is not None:
                    marked = _collect(calls)
                    seen.append(_first_copies(marked, repeating))
                    calls = marked.lazy()
                outcome = _collect(_outcome(calls, plan))
                if writing is not None:
                    summaries.append(writing.result())
                writing = writer.submit(_write_slice, outcome, plan, rated_sink, rejects_sink)
                del outcome
            if writing is not None:
                summaries.append(writing.result())

    def rated_then_rejects(rated_file: Path) -> None:
        if rejects_out is None:
            rate_into(rated_file, None)
        else:
            write_atomically(rejects_out, lambda rejects_file: rate_into(rated_file, rejects_file))

    check_output_suffix(out, rejects_out)
    with _reading(paths, fmt):
        write_atomically(out, rated_then_rejects)
    summary = _combined(summaries)
    if not summary.reconciles():
        raise CdrRatingError(_unreconciled(summary.read, summary.rated, summary.rejected))
    return summary


def input_slices(
    paths: Sequence[Path], fmt: str = "auto", slice_rows: int = SLICE_ROWS
) -> list[list[pl.LazyFrame]]:
    """The raw frames of ``paths`` in slices of about ``slice_rows`` rows, in input order.

    A Parquet file is cut into slices of rows (the reader keeps each row's number in
    its file); small files are grouped until a slice is full.
    """
    slices: list[list[pl.LazyFrame]] = [[]]
    filled = 0
    for path, raw in zip(paths, read_inputs(paths, fmt), strict=True):
        for piece, rows in _pieces(path, raw, slice_rows):
            if slices[-1] and filled + rows > slice_rows:
                slices.append([])
                filled = 0
            slices[-1].append(piece)
            filled += rows
    return slices


def estimated_rows(path: Path) -> int:
    """The rows of a Parquet file (from its metadata); of any other, its size in bytes
    over ``TEXT_BYTES_PER_ROW``."""
    size = path.stat().st_size
    if path.suffix.lower() != ".parquet" or size == 0:
        return size // TEXT_BYTES_PER_ROW
    try:
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError):
        return size // TEXT_BYTES_PER_ROW  # unreadable: reading it says why, in its place


def _pieces(path: Path, raw: pl.LazyFrame, slice_rows: int) -> list[tuple[pl.LazyFrame, int]]:
    rows = estimated_rows(path)
    if path.suffix.lower() != ".parquet" or rows == 0:
        return [(raw, rows)]
    if rows <= slice_rows:
        return [(raw, rows)]
    return [
        (raw.slice(offset, slice_rows), min(slice_rows, rows - offset))
        for offset in range(0, rows, slice_rows)
    ]


def _repeated_call_ids(slices: list[list[pl.LazyFrame]], parse: Parser) -> pl.Series:
    """Hashes of the call_ids that occur more than once anywhere in the input.

    Only the call_id column is read and parsed, into one hash per row (8 bytes: 0.8 GB
    for 100M rows); sorted, a repeat sits next to its first copy. At 100M rows that
    peaks at 1.8 GiB in 4.5 s, where a hash group-by needed 5 GiB and 8 s.
    """
    hashes = pl.concat(
        [parse(raw).select(_hash=pl.col("call_id").hash()) for pieces in slices for raw in pieces]
    )
    ordered = _collect(hashes, engine="streaming").get_column("_hash").sort()
    return ordered.filter(ordered == ordered.shift(1)).unique()


def _first_copies(marked: pl.DataFrame, repeating: pl.Series) -> pl.Series:
    """The call_ids of this slice that later slices must reject as duplicates."""
    first = pl.col("_reason").is_null() & pl.col("call_id").hash().is_in(repeating.implode())
    return marked.filter(first).get_column("call_id")


def _write_slice(
    outcome: pl.DataFrame, plan: RatingPlan, rated_sink: _Appender, rejects_sink: _Appender
) -> RatingSummary:
    rated = pl.col("_reason").is_null()
    shown = rated_columns(outcome)
    if rated_sink.whole:
        rated_sink.write_whole(
            outcome.lazy().filter(rated).select(shown), lambda f: rated_for_csv(f, plan)
        )
    else:
        # A chunk at a time: a filtered copy of the whole slice would double its memory.
        for chunk in outcome.iter_slices(WRITE_ROWS):
            rated_sink.append(chunk.filter(rated).select(shown), lambda f: rated_for_csv(f, plan))
    rejects = outcome.filter(~rated).select(reject_columns(outcome))
    if rejects_sink.path is not None:
        rejects_sink.append(_finish_rejects(rejects))
    totals = (
        outcome.lazy()
        .filter(rated)
        .group_by("currency")
        .agg(calls=pl.len(), billable_s=pl.col("billable_s").sum(), charge=pl.col("charge").sum())
        .collect()
    )
    return RatingSummary(
        read=outcome.height,
        rated=outcome.height - rejects.height,
        rejected=rejects.height,
        reasons=rejects.group_by("reason").agg(rows=pl.len()),
        totals=totals,
        slices=1,
    )


def _combined(summaries: list[RatingSummary]) -> RatingSummary:
    totals = pl.concat([s.totals for s in summaries])
    reasons = pl.concat([s.reasons for s in summaries])
    return RatingSummary(
        read=sum(s.read for s in summaries),
        rated=sum(s.rated for s in summaries),
        rejected=sum(s.rejected for s in summaries),
        reasons=reasons.group_by("reason").agg(pl.col("rows").sum()).sort("reason"),
        totals=totals.group_by("currency")
        .agg(pl.col("calls").sum(), pl.col("billable_s").sum(), pl.col("charge").sum())
        .sort("currency"),
        slices=len(summaries),
    )


class _Appender:
    """Frames written one after another into one Parquet or CSV file (or nowhere).

    Parquet goes through one ``pyarrow.parquet.ParquetWriter`` (a row group or more
    per frame; zstd like Polars' own writer); CSV gets its header once. A file that
    gets one frame only (``whole``) takes it lazily, written by Polars' own sinks:
    they compress on every core, where pyarrow's writer uses one (10M rated calls:
    4.5 s instead of 7 s on 2 cores).
    """

    def __init__(self, path: Path | None, *, csv: bool, whole: bool = False) -> None:
        self.path = path
        self.csv = csv
        self.whole = whole
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pl.Schema | None = None
        self._csv: IO[bytes] | None = None

    def __enter__(self) -> _Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()

    def write_whole(
        self, frame: pl.LazyFrame, for_csv: Callable[[pl.LazyFrame], pl.LazyFrame]
    ) -> None:
        """The file's only frame (``whole``)."""
        if self.path is None:
            return
        if self.csv:
            for_csv(frame).sink_csv(self.path)
        else:
            frame.sink_parquet(self.path)

    def append(
        self, frame: pl.DataFrame, for_csv: Callable[[pl.DataFrame], pl.DataFrame] | None = None
    ) -> None:
        if self.path is None:
            return
        if self._schema is None:
            self._schema = frame.schema
        # Every slice must land in the same columns and types as the first.
        frame = frame.select(self._schema.names()).cast(self._schema)
        if self.csv:
            first = self._csv is None
            if self._csv is None:
                self._csv = self.path.open("wb")
            (for_csv(frame) if for_csv else frame).write_csv(self._csv, include_header=first)
            return
        table = frame.to_arrow()
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._parquet.write_table(table)


def _is_csv(path: Path) -> bool:
    """The format of an output, by its name (a temporary file's name says nothing)."""
    return path.suffix.lower() == ".csv"


def check_output_suffix(*paths: Path | None) -> None:
    """Outputs are Parquet or CSV, told by their extension.

    Raises:
        UsageError: an output ends in anything else.
    """
    for path in paths:
        if path is not None and path.suffix.lower() not in (".parquet", ".csv"):
            raise UsageError(f"{path}: output must end in .parquet or .csv")


def _collect(outcome: pl.LazyFrame, engine: Literal["auto", "streaming"] = "auto") -> pl.DataFrame:
    """Polars errors go up to ``_reading``, which tells an unreadable input from a bug."""
    return outcome.collect(engine=engine)


# What reading a corrupt file can raise (Polars panics on some corrupt Parquet pages).
READ_FAILURES = (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError)


@contextmanager
def _reading(paths: Sequence[Path], fmt: str) -> Iterator[None]:
    """An error of Polars or the OS while rating: an ``InputError`` naming the file when
    an input cannot be read on its own (a corrupt Parquet file), else the error itself."""
    try:
        yield
    except READ_FAILURES as exc:
        unreadable = unreadable_input(paths, fmt)
        if unreadable is None:
            raise
        raise unreadable from exc


def unreadable_input(paths: Sequence[Path], fmt: str = "auto") -> InputError | None:
    """The first of ``paths`` that cannot be read whole on its own, as an ``InputError``
    naming it; ``None`` when each one reads.

    Polars reads lazily, so a file that is corrupt past its header fails only while the
    whole input is rated, with an error that names no file: this finds the file.
    """
    for path in paths:
        try:
            for raw in read_inputs([path], fmt):
                raw.collect()
        except InputError as exc:
            return exc
        except READ_FAILURES as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return InputError(f"{path}: cannot be read ({reason})")
    return None


def _finish_rejects(rejects: pl.DataFrame) -> pl.DataFrame:
    """Messages and the raw input line, in file and line order."""
    return attach_raw(with_messages(rejects).sort("file", "line", maintain_order=True))


def _checked(result: RatingResult) -> RatingResult:
    if not result.reconciles():
        raise CdrRatingError(_unreconciled(result.read, result.rated.height, result.rejects.height))
    return result


def _unreconciled(read: int, rated: int, rejected: int) -> str:
    return (
        f"internal error: read {read} rows but rated {rated} and rejected {rejected}; "
        "please report this"
    )
