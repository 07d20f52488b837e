"""Files in, rated calls and rejects out: the library entry point the CLI calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cdr_rating.cdrs import InputOptions, mark_duplicates, parsed_calls, prepare_calls, read_inputs
from cdr_rating.cdrs.raw_lines import attach_raw
from cdr_rating.errors import CdrRatingError
from cdr_rating.output import write_rated
from cdr_rating.rating import RatingPlan, rate_outcome, split_outcome
from cdr_rating.rating.engine import (
    INTERNAL_COLUMNS,
    MESSAGE_FIELDS,
    rated_columns,
    reject_columns,
)
from cdr_rating.rejects import with_messages


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
    options = options or InputOptions()
    # Each file is parsed into the same typed columns before they are stacked: raw
    # columns differ by format (a Parquet duration is Int64, a CSV one text).
    calls = mark_duplicates(
        pl.concat(
            [
                parsed_calls(prepare_calls(raw, options, caller_numbers=plan.numbers is not None))
                for raw in read_inputs(paths, fmt)
            ]
        )
    )
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
    outcome = _collect(rate_lazy(paths, plan, fmt, options))
    rated, rejects = split_outcome(outcome)
    return _checked(
        RatingResult(rated=rated, rejects=_finish_rejects(rejects), read=outcome.height)
    )


@dataclass(frozen=True)
class RatingSummary:
    """What ``rate_to_file`` wrote: counts, totals per currency, and the rejects."""

    read: int
    rated: int
    rejects: pl.DataFrame
    totals: pl.DataFrame  # currency, calls, billable_s, charge

    def reconciles(self) -> bool:
        return self.read == self.rated + self.rejects.height


def rate_to_file(
    paths: Sequence[Path],
    plan: RatingPlan,
    out: Path,
    fmt: str = "auto",
    options: InputOptions | None = None,
) -> RatingSummary:
    """Rate ``paths`` and stream the rated calls into ``out`` without copying them.

    The outcome is computed once; the rated rows go from it straight into the file (a
    lazy filter, no intermediate frame), and only the rejects and totals are extracted.
    """
    outcome = _collect(rate_lazy(paths, plan, fmt, options))
    rated = pl.col("_reason").is_null()
    write_rated(outcome.lazy().filter(rated).select(rated_columns(outcome)), out, plan)
    totals = (
        outcome.lazy()
        .filter(rated)
        .group_by("currency")
        .agg(calls=pl.len(), billable_s=pl.col("billable_s").sum(), charge=pl.col("charge").sum())
        .sort("currency")
        .collect()
    )
    rejects = outcome.filter(~rated).select(reject_columns(outcome))
    summary = RatingSummary(
        read=outcome.height,
        rated=int(totals.get_column("calls").sum()),
        rejects=_finish_rejects(rejects),
        totals=totals,
    )
    if not summary.reconciles():
        raise CdrRatingError(_unreconciled(summary.read, summary.rated, summary.rejects.height))
    return summary


def _collect(outcome: pl.LazyFrame) -> pl.DataFrame:
    try:
        return outcome.collect()
    except pl.exceptions.ComputeError as exc:
        raise CdrRatingError(f"reading the input failed: {str(exc).splitlines()[0]}") from exc


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
