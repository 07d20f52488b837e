"""Files in, rated calls and rejects out: the library entry point the CLI calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cdr_rating.cdrs import (
    InputOptions,
    good_calls,
    mark_duplicates,
    parse_rejects,
    prepare_calls,
    read_inputs,
)
from cdr_rating.cdrs.raw_lines import attach_raw
from cdr_rating.errors import CdrRatingError
from cdr_rating.rating import RatingPlan, rate_calls


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
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """The lazy pipeline: ``(rated, rejects, read)`` where ``read`` counts input rows."""
    options = options or InputOptions()
    prepared = mark_duplicates(
        pl.concat([prepare_calls(raw, options) for raw in read_inputs(paths, fmt)])
    )
    rated, rating_rejects = rate_calls(good_calls(prepared), plan)
    rejects = pl.concat(
        [
            parse_rejects(prepared),
            rating_rejects.select("file", "line", "call_id", "reason", "message"),
        ]
    )
    return rated, rejects, prepared.select(read=pl.len())


def rate_files(
    paths: Sequence[Path], plan: RatingPlan, fmt: str = "auto", options: InputOptions | None = None
) -> RatingResult:
    """Rate every call in ``paths``; reject each row that cannot be rated, with a reason."""
    rated, rejects, read = rate_lazy(paths, plan, fmt, options)
    try:
        rated_frame, rejects_frame, read_frame = pl.collect_all([rated, rejects, read])
    except pl.exceptions.ComputeError as exc:
        raise CdrRatingError(f"reading the input failed: {str(exc).splitlines()[0]}") from exc
    result = RatingResult(
        rated=rated_frame,
        rejects=attach_raw(rejects_frame.sort("file", "line", maintain_order=True)),
        read=int(read_frame.item()),
    )
    if not result.reconciles():
        raise CdrRatingError(
            f"internal error: read {result.read} rows but rated {result.rated.height} and "
            f"rejected {result.rejects.height}; please report this"
        )
    return result
