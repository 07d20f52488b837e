"""Allowances: free seconds per account and billing period, consumed in call order.

Rules (ARCHITECTURE.md 5.4, docs/rating.md "Allowances"):

- An allowance of a sheet (``[[allowances]]``) covers the calls rated with that sheet
  whose matched prefix starts with one of its prefixes (no prefixes: every call). A
  call is covered by the first allowance of its sheet that matches it.
- Each account has its own pool per sheet and allowance, refilled every period. Calls
  take from it in chronological order of start (ties by ``call_id``), each taking as
  many of its billable seconds as are left.
- The covered seconds are the first seconds of the call's billed timeline; the rest is
  priced at the rates of the tiers (and, in split mode, the bands) they fall in, with no
  further increment rounding; the connect fee is still due; the charge is rounded once.
- A call that costs nothing without the allowance (freephone, a free tier) takes none.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from cdr_rating.errors import UsageError
from cdr_rating.rating import RatingPlan
from cdr_rating.rating.engine import COVERED, rate_outcome, stored_as_input
from cdr_rating.sheets import RateSheet


class StaleChargeError(UsageError):
    """Stored charges disagree with the current sheets: the period must be re-rated."""


def allowance_table(sheets: Sequence[RateSheet]) -> pl.DataFrame:
    """One row per (sheet, allowance, prefix): ``sheet``, ``allowance_order``,
    ``allowance``, ``allowance_seconds``, ``allowance_prefix``."""
    rows = [
        (sheet.id, order, allowance.name, allowance.seconds, prefix)
        for sheet in sheets
        for order, allowance in enumerate(sheet.settings.allowances)
        for prefix in (allowance.prefixes or [""])
    ]
    return pl.DataFrame(
        rows,
        schema={
            "sheet": pl.String,
            "allowance_order": pl.Int32,
            "allowance": pl.String,
            "allowance_seconds": pl.Int64,
            "allowance_prefix": pl.String,
        },
        orient="row",
    )


def take_allowances(calls: pl.DataFrame, sheets: Sequence[RateSheet]) -> pl.DataFrame:
    """``calls`` with ``allowance`` (name or null) and ``allowance_s`` (seconds covered).

    ``calls`` are one period's rated calls (``account``, ``sheet``, ``prefix``,
    ``start``, ``call_id``, ``billable_s``, ``charge``).
    """
    table = allowance_table(sheets)
    # Which allowance covers a call depends only on its sheet and matched prefix: decide
    # it once per distinct pair (a sheet's size), not per call.
    chosen = (
        calls.select("sheet", "prefix")
        .unique()
        .join(table, on="sheet")
        .filter(pl.col("prefix").str.starts_with(pl.col("allowance_prefix")))
        .sort("allowance_order")
        .unique(["sheet", "prefix"], keep="first")
        .select("sheet", "prefix", "allowance", "allowance_order", "allowance_seconds")
    )
    pool = ["account", "sheet", "allowance_order"]
    covered = (
        calls.select("account", "sheet", "prefix", "start", "call_id", "billable_s", "charge")
        .with_row_index("_call")
        .filter((pl.col("billable_s") > 0) & (pl.col("charge") > 0))
        .join(chosen, on=["sheet", "prefix"])
        .sort([*pool, "start", "call_id"])
        .with_columns(
            _before=pl.col("billable_s").cum_sum().over(pool) - pl.col("billable_s"),
        )
        .with_columns(
            allowance_s=(pl.col("allowance_seconds") - pl.col("_before")).clip(
                0, pl.col("billable_s")
            )
        )
        .filter(pl.col("allowance_s") > 0)
    )
    # Put back in place, not joined: a join would copy every column of every call.
    at = covered.get_column("_call")
    return calls.with_columns(
        pl.repeat(None, calls.height, dtype=pl.String, eager=True)
        .alias("allowance")
        .scatter(at, covered.get_column("allowance")),
        pl.zeros(calls.height, pl.Int64, eager=True)
        .alias("allowance_s")
        .scatter(at, covered.get_column("allowance_s")),
    )


def price_after_allowances(calls: pl.DataFrame, plan: RatingPlan) -> pl.DataFrame:
    """``calls`` (from ``take_allowances``) with ``billed``: the charge still due.

    Calls an allowance touches are priced again by the engine with their covered
    seconds; the others keep their charge. Pricing them again also checks that the
    current sheets still give the stored charge.

    Raises:
        StaleChargeError: a stored charge differs from what the sheets give now.
    """
    touched = calls.filter(pl.col("allowance_s") > 0)
    if touched.is_empty():
        return calls.with_columns(billed=pl.col("charge"))
    engine_input = stored_as_input(touched)
    both = pl.concat(
        [
            engine_input.with_columns(pl.lit(0, pl.Int64).alias(COVERED)),
            engine_input.with_columns(touched.get_column("allowance_s").alias(COVERED)),
        ]
    )
    priced = rate_outcome(both.lazy(), plan).select("_reason", "charge").collect()
    full, after = priced.head(touched.height), priced.tail(touched.height)
    stale = touched.with_columns(now=full.get_column("charge"), why=full.get_column("_reason"))
    stale = stale.filter(pl.col("why").is_not_null() | (pl.col("now") != pl.col("charge")))
    if not stale.is_empty():
        first = stale.row(0, named=True)
        now = "not rated" if first["why"] else f"{first['now']}"
        raise StaleChargeError(
            f"call {first['call_id']} was rated {first['charge']} {first['currency']} but the "
            f"current sheets give {now} ({stale.height} calls differ); the sheets or accounts "
            "changed since the period was rated: re-rate it first (cdr-rating rerate)"
        )
    billed = after.get_column("charge").cast(calls.schema["charge"])
    touched_rows = pl.col("allowance_s") > 0
    position = (touched_rows.cast(pl.Int64).cum_sum() - 1).clip(lower_bound=0)
    return calls.with_columns(
        billed=pl.when(touched_rows)
        .then(pl.lit(billed).gather(position))
        .otherwise(pl.col("charge"))
    )
