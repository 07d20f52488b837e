"""Reject messages: one readable line per rejected row, saying what is wrong and what to do.

Messages are written after the rejected rows are separated from the rated ones, so the
string formatting runs over the few rejects, not over every call.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from cdr_rating.cdrs.numbers import NumberRules
from cdr_rating.cdrs.parse import FIRST_YEAR, LAST_YEAR, MAX_DURATION_DIGITS
from cdr_rating.cdrs.schema import Reason

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def with_messages(rejects: Frame) -> Frame:
    """Add ``message`` to reject rows (columns of ``engine.reject_columns``).

    A reader's own ``_detail`` (e.g. "billsec 7 > duration 5") is used as it is.
    """
    reason = pl.col("reason")
    when = pl.col("start").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    message = (
        pl.when(pl.col("_detail").is_not_null())
        .then(pl.col("_detail"))
        .when(reason == Reason.PARSE_ERROR.value)
        .then(pl.lit("call_id is empty; every CDR needs an identifier"))
        .when(reason == Reason.BAD_TIME.value)
        .then(
            pl.format(
                "start '{}' is not an ISO 8601 time (like 2026-10-01T09:15:03+02:00) in "
                "the years {} to {}, or is a local time skipped when clocks went forward",
                pl.col("_start_text").fill_null(""),
                pl.lit(FIRST_YEAR),
                pl.lit(LAST_YEAR),
            )
        )
        # A duration that was read but is too long keeps its milliseconds (others: 0 or null).
        .when((reason == Reason.BAD_DURATION.value) & (pl.col("duration_ms") > 0))
        .then(
            pl.format(
                "duration {} s is longer than the longest call accepted ([input] "
                "max_duration_s, --max-duration); check the switch, or raise the limit",
                pl.col("duration_ms") // 1000,
            )
        )
        .when(reason == Reason.BAD_DURATION.value)
        .then(
            pl.format(
                "duration '{}' is not a number of seconds >= 0 with at most {} digits",
                pl.col("_duration_text").fill_null(""),
                pl.lit(MAX_DURATION_DIGITS),
            )
        )
        .when(reason == Reason.BAD_NUMBER.value)
        .then(
            pl.format(
                "callee '{}': {}",
                pl.col("callee").fill_null(""),
                NumberRules.problem(pl.col("callee")),
            )
        )
        .when(reason == Reason.DUPLICATE.value)
        .then(pl.format("call_id '{}' was already seen earlier in this input", pl.col("call_id")))
        .when(reason == Reason.UNKNOWN_ACCOUNT.value)
        .then(
            pl.format(
                "no rate plan for account '{}' at {}; add it (or its caller number) to the "
                "accounts file",
                pl.col("account").fill_null(""),
                when,
            )
        )
        .when(reason == Reason.NO_RATE.value)
        .then(
            pl.format(
                "no rate in sheet '{}' for number {} at {}; add a prefix for it",
                pl.col("sheet"),
                pl.col("number"),
                when,
            )
        )
    )
    return rejects.with_columns(message=message)
