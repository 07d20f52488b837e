"""Run the same calls through the engine and through the scalar reference.

Both sides return ``{call_id: Rated | Rejected}``, so a test can compare them with
``==`` and print both outcomes of the first call where they differ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import polars as pl

from reference import ReferenceSheet, reference_rate


@dataclass(frozen=True)
class Call:
    """One call as a test states it: duration in (possibly fractional) seconds."""

    call_id: str
    number: str
    start: datetime
    duration: Decimal


@dataclass(frozen=True)
class Rated:
    """The fields both sides must agree on for a rated call."""

    prefix: str
    band: str
    billable_s: int
    charge: Decimal


@dataclass(frozen=True)
class Rejected:
    """A call that went to rejects, with its reason code."""

    reason: str


Outcome = Rated | Rejected


def duration_ms(duration: Decimal) -> int:
    """Whole milliseconds, rounded up, as the engine reads durations."""
    return math.ceil(Fraction(duration) * 1000)


def calls_frame(calls: Sequence[Call], covered: Mapping[str, int] | None = None) -> pl.LazyFrame:
    """The engine's input: ``call_id``, ``number``, ``start`` (UTC, us), ``duration_ms``;
    with ``covered``, also the seconds an allowance covers per call (``_covered_s``)."""
    frame = pl.LazyFrame(
        {
            "call_id": [call.call_id for call in calls],
            "number": [call.number for call in calls],
            "start": [call.start for call in calls],
            "duration_ms": [duration_ms(call.duration) for call in calls],
        },
        schema={
            "call_id": pl.String,
            "number": pl.String,
            "start": pl.Datetime("us", "UTC"),
            "duration_ms": pl.Int64,
        },
    )
    if covered is None:
        return frame
    seconds = [covered.get(call.call_id, 0) for call in calls]
    return frame.with_columns(pl.Series("_covered_s", seconds, dtype=pl.Int64))


def rate_with_engine(
    sheet_path: Path, calls: Sequence[Call], covered: Mapping[str, int] | None = None
) -> dict[str, Outcome]:
    """Rate with ``cdr_rating`` and check the output shape the contract promises.

    Every call must come out exactly once (rated or rejected), and ``charge`` must be a
    Decimal column with the sheet's decimals.
    """
    from cdr_rating.rating import RatingPlan, rate_calls
    from cdr_rating.sheets import load_sheet

    plan = RatingPlan.from_sheets([load_sheet(sheet_path)])
    rated_lf, rejects_lf = rate_calls(calls_frame(calls, covered), plan)
    rated, rejects = pl.collect_all([rated_lf, rejects_lf])
    charge_dtype = rated.schema["charge"]
    decimals = ReferenceSheet.load(sheet_path).decimals
    assert isinstance(charge_dtype, pl.Decimal), charge_dtype
    assert charge_dtype.scale == decimals, charge_dtype
    outcomes: dict[str, Outcome] = {}
    for record in rated.iter_rows(named=True):
        outcomes[record["call_id"]] = Rated(
            record["prefix"], record["band"], record["billable_s"], record["charge"]
        )
    for record in rejects.iter_rows(named=True):
        assert record["call_id"] not in outcomes, f"{record['call_id']} rated and rejected"
        outcomes[record["call_id"]] = Rejected(record["reason"])
    assert rated.height + rejects.height == len(calls), "a call was lost or duplicated"
    assert set(outcomes) == {call.call_id for call in calls}
    return outcomes


def rate_with_reference(
    sheet_path: Path, calls: Sequence[Call], covered: Mapping[str, int] | None = None
) -> dict[str, Outcome]:
    """Rate with the scalar reference; ``None`` from it becomes ``Rejected("no_rate")``."""
    sheet = ReferenceSheet.load(sheet_path)
    outcomes: dict[str, Outcome] = {}
    for call in calls:
        seconds = (covered or {}).get(call.call_id, 0)
        result = reference_rate(sheet, call.number, call.start, call.duration, seconds)
        outcomes[call.call_id] = (
            Rejected("no_rate")
            if result is None
            else Rated(result.prefix, result.band, result.billable_s, result.charge)
        )
    return outcomes


def expect(sheet_path: Path, calls: Sequence[Call], expected: dict[str, Outcome]) -> None:
    """Assert a hand-computed outcome: first for the reference, then for the engine.

    Checking the reference first tells a wrong expectation (or a wrong reference) apart
    from an engine bug.
    """
    assert rate_with_reference(sheet_path, calls) == expected, "reference disagrees"
    assert rate_with_engine(sheet_path, calls) == expected, "engine disagrees"
