"""Files in, rated calls and rejects out: the library entry point the CLI calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cdr_rating.cdrs import InputOptions, mark_duplicates, parsed_calls, prepare_calls, read_inputs
from cdr_rating.cdrs.raw_lines import attach_raw
from cdr_rating.errors import CdrRatingError
from cdr_rating.rating import RatingPlan, rate_outcome, split_outcome
from cdr_rating.rating.engine import MESSAGE_FIELDS, rated_columns
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
    prepared = mark_duplicates(
        pl.concat(
            [
                prepare_calls(raw, options, caller_numbers=plan.numbers is not None)
                for raw in read_inputs(paths, fmt)
            ]
        )
    )
    outcome = rate_outcome(parsed_calls(prepared), plan)
    return outcome.select(
        *rated_columns(outcome),
        "_reason",
        *(c for c in MESSAGE_FIELDS if c not in rated_columns(outcome)),
    )


def rate_files(
    paths: Sequence[Path], plan: RatingPlan, fmt: str = "auto", options: InputOptions | None = None
) -> RatingResult:
    """Rate every call in ``paths``; reject each row that cannot be rated, with a reason."""
    try:
        outcome = rate_lazy(paths, plan, fmt, options).collect()
    except pl.exceptions.ComputeError as exc:
        raise CdrRatingError(f"reading the input failed: {str(exc).splitlines()[0]}") from exc
    rated, rejects = split_outcome(outcome)
    result = RatingResult(
        rated=rated,
        rejects=attach_raw(with_messages(rejects).sort("file", "line", maintain_order=True)),
        read=outcome.height,
    )
    if not result.reconciles():
        raise CdrRatingError(
            f"internal error: read {result.read} rows but rated {result.rated.height} and "
            f"rejected {result.rejects.height}; please report this"
        )
    return result
