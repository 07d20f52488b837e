"""Billing periods: calendar months in the billing timezone, named ``YYYY-MM``.

The one place that knows how a period is written, where it starts and ends, and which
period an instant falls in; every other module asks here.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl

from cdr_rating.errors import UsageError

UNKNOWN_PERIOD = "unknown"


def check_period(period: str) -> str:
    """``period`` if it is a billing period ``YYYY-MM``, else a usage error."""
    try:
        dt.datetime.strptime(period + "-01", "%Y-%m-%d")
    except ValueError:
        valid = False
    else:
        valid = len(period) == 7
    if not valid:
        raise UsageError(f"--period {period!r} is not a billing period like 2026-10 (YYYY-MM)")
    return period


def first_of_next_month(day: dt.datetime) -> dt.datetime:
    """Midnight of the first day of the month after ``day``'s, in ``day``'s timezone."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return day.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


@lru_cache(maxsize=256)  # asked once per invoice of a close: thousands of times
def period_bounds(period: str, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The first instant of ``period`` (``YYYY-MM``) and of the next, in ``timezone``.

    Raises:
        UsageError: ``period`` is not ``YYYY-MM``.
    """
    check_period(period)
    first = dt.datetime.strptime(period + "-01", "%Y-%m-%d").replace(tzinfo=ZoneInfo(timezone))
    return first, first_of_next_month(first)


def period_label(period: str, timezone: str) -> str:
    """``"October 2026"``: the period as an invoice names it."""
    return f"{period_bounds(period, timezone)[0]:%B %Y}"


def period_of(start: pl.Series, timezone: str) -> pl.Series:
    """The billing period ``YYYY-MM`` of each UTC instant: its calendar month in
    ``timezone``; ``"unknown"`` for a null start.

    Found by a sorted search among the month boundaries the instants span, which is
    several times faster than formatting every instant in the timezone.
    """
    known = start.drop_nulls()
    if known.is_empty():
        return pl.Series("_period", [UNKNOWN_PERIOD] * len(start), dtype=pl.String)
    zone = ZoneInfo(timezone)
    first, last = known.min(), known.max()
    assert isinstance(first, dt.datetime)
    assert isinstance(last, dt.datetime)
    local = first.astimezone(zone)
    months = [dt.datetime(local.year, local.month, 1, tzinfo=zone)]
    while months[-1] <= last:
        months.append(first_of_next_month(months[-1]))
    bounds = pl.Series(months, dtype=pl.Datetime("us", "UTC"))
    labels = pl.Series([f"{m.year:04d}-{m.month:02d}" for m in months], dtype=pl.String)
    index = bounds.search_sorted(start.fill_null(bounds[0]), side="right") - 1
    return pl.select(
        _period=pl.when(start.is_null())
        .then(pl.lit(UNKNOWN_PERIOD))
        .otherwise(labels.gather(index))
    ).to_series()
