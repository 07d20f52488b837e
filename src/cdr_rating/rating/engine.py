"""``rate_calls``: price every call of a frame against a compiled ``RatingPlan``.

Pure LazyFrame in, LazyFrames out, no Python loop over calls: the sheet of each call
comes from a sorted search of its account's plans, the band from a gather in the
sheet's week, the rate from two sorted searches (longest prefix, then the rate in force
for that prefix and band), and the charge from integer expressions over the tiers. The
only loops are over tiers (a handful) and timezones.

Exactness: a call's charge is ``numerator / divisor`` with Int128 parts, where amounts
are nano-units, durations microseconds and every ``rate / unit`` is brought to the
sheets' common unit; it is rounded once (``money.round_quotient``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from cdr_rating.money import INT128, minor_units_to_decimal, round_quotient
from cdr_rating.rating.plan import NEVER, TIME_BITS, TIME_OFFSET, RatingPlan
from cdr_rating.rating.prefixes import match_node
from cdr_rating.rejects import with_messages

MICROS = 10**6
MILLIS_PER_S = 1000

# Columns it adds to every rated call, in order, after the input's own.
RATED_COLUMNS = (
    "call_id",
    "account",
    "caller",
    "callee",
    "number",
    "start",
    "duration_s",
    "billable_s",
    "sheet",
    "prefix",
    "destination",
    "band",
    "charge",
    "currency",
)
REJECT_COLUMNS = ("file", "line", "call_id", "reason", "message")
# What reject messages quote, carried on reject rows until the message is written.
MESSAGE_FIELDS = (
    "callee",
    "number",
    "account",
    "sheet",
    "_detail",
    "_start_text",
    "_duration_text",
)
# Input columns the engine uses but does not show: ``duration_s`` replaces the first.
INTERNAL_COLUMNS = ("duration_ms", "caller_number")
# Optional input column: billed seconds an allowance covers (period close, re-rating).
COVERED = "_covered_s"


def rate_calls(calls: pl.LazyFrame, plan: RatingPlan) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Rate ``calls`` with ``plan``; return ``(rated, rejects)``.

    ``calls`` needs ``call_id``, ``number`` (normalised digits), ``start``
    (Datetime UTC) and ``duration_ms`` (Int64); with accounts also ``account`` and,
    for calls without one, ``caller_number`` (the normalised caller). Other columns
    (``caller``, ``callee``, ``disposition``, ``file``, ``line``...) pass through.

    Both results derive from ``rate_outcome``; to do the work once, collect that and
    split it with ``split_outcome`` (as ``cdr_rating.pipeline`` does).
    """
    outcome = rate_outcome(calls, plan)
    rejects = outcome.filter(pl.col("_reason").is_not_null()).select(reject_columns(outcome))
    return (
        outcome.filter(pl.col("_reason").is_null()).select(rated_columns(outcome)),
        with_messages(rejects).select(*REJECT_COLUMNS),
    )


def rate_outcome(calls: pl.LazyFrame, plan: RatingPlan) -> pl.LazyFrame:
    """Every row of ``calls``, priced where it can be, with ``_reason`` (null: rated).

    Rows that arrive with a ``_reason`` (rejected while parsing) keep it; they flow
    through the same expressions as nulls, so the input is read and computed once.
    """
    names = calls.collect_schema().names()
    frame = calls.with_row_index("_row")
    if "_reason" not in names:
        frame = frame.with_columns(_reason=pl.lit(None, pl.String))
    frame = _with_sheet(frame, plan)
    frame = plan.calendar.with_band(frame, "start", "_sheet", "_band")
    frame = frame.with_columns(
        _start_s=pl.col("start").dt.epoch("s"),
        _node=match_node(pl.col("number"), pl.col("_sheet"), plan.segments),
    ).with_columns(_rate=_rate_in_force(plan, pl.col("_node"), pl.col("_band"), pl.col("_start_s")))
    parsed = pl.col("_reason").is_null()
    frame = frame.with_columns(
        _reason=pl.when(~parsed)
        .then(pl.col("_reason"))
        .when(pl.col("_sheet").is_null())
        .then(pl.lit("unknown_account"))
        .when(pl.col("_rate").is_null())
        .then(pl.lit("no_rate"))
    )
    priced = _price(frame, plan)
    if plan.split_sheets:
        priced = _price_band_crossings(priced, plan, _span(calls))
    return _finish(priced, plan)


def stored_as_input(frame: pl.DataFrame, keep: Sequence[str] = ()) -> pl.DataFrame:
    """A rated call (or a kept reject) as the engine takes it again: the number already
    normalised, ``duration_ms`` from ``duration_s``, and the columns of ``keep`` that
    ``frame`` has; ``_``-prefixed columns (bookkeeping of the caller) pass through.

    The one place that turns stored seconds back into the engine's milliseconds.
    """
    names = frame.columns
    return frame.select(
        "call_id",
        "account",
        *(name for name in ("caller", "callee") if name in names),
        "number",
        "start",
        *(name for name in keep if name in names),
        *(name for name in names if name.startswith("_")),
        duration_ms=(pl.col("duration_s") * MILLIS_PER_S).cast(pl.Int64),
    )


def rated_columns(outcome: pl.LazyFrame | pl.DataFrame) -> list[str]:
    """The columns of a rated call: ``RATED_COLUMNS``, then the input's own columns."""
    names = outcome.collect_schema().names()
    shown = [c for c in RATED_COLUMNS if c in names]
    return shown + [
        c for c in names if c not in shown and c not in INTERNAL_COLUMNS and not c.startswith("_")
    ]


def reject_columns(outcome: pl.LazyFrame | pl.DataFrame) -> list[pl.Expr]:
    """The columns of a reject row: where it came from, why, and what messages quote."""
    names = outcome.collect_schema().names()

    def column(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name) if name in names else pl.lit(None, dtype).alias(name)

    return [
        column("file", pl.String()).cast(pl.String),
        column("line", pl.Int64()),
        pl.when(pl.col("call_id") != "").then(pl.col("call_id")).alias("call_id"),
        pl.col("_reason").alias("reason"),
        *(column(name, pl.String()) for name in MESSAGE_FIELDS),
        pl.col("start"),
        # What re-rating needs to price the row again (cdr_rating.billing.rerate).
        column("caller", pl.String()),
        column("caller_number", pl.String()),
        column("duration_ms", pl.Int64()),
    ]


def split_outcome(outcome: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A collected outcome as ``(rated, rejects)``."""
    rated = outcome.filter(pl.col("_reason").is_null()).select(rated_columns(outcome))
    rejects = outcome.filter(pl.col("_reason").is_not_null()).select(reject_columns(outcome))
    return rated, rejects


def _with_sheet(frame: pl.LazyFrame, plan: RatingPlan) -> pl.LazyFrame:
    """``_sheet``: the index of the sheet each call is rated with (null: no account plan)."""
    if plan.accounts is None or plan.numbers is None:
        return frame.with_columns(_sheet=pl.lit(0, pl.Int32))
    names = frame.collect_schema().names()
    if "account" not in names:
        frame = frame.with_columns(account=pl.lit(None, pl.String))
    if "caller_number" in names:
        frame = frame.join(
            plan.numbers.lazy().rename({"account": "_account_of_caller"}),
            on="caller_number",
            how="left",
            maintain_order="left",
        ).with_columns(
            account=pl.when(pl.col("account").fill_null("") == "")
            .then(pl.col("_account_of_caller"))
            .otherwise(pl.col("account"))
        )
    plans = plan.accounts
    account_index = plans.select("account", "account_index").unique().lazy()
    frame = frame.join(account_index, on="account", how="left", maintain_order="left")
    key = (
        pl.col("account_index").cast(pl.Int64) * (1 << TIME_BITS)
        + pl.col("start").dt.epoch("s")
        + TIME_OFFSET
    )
    position = (
        pl.lit(plans.get_column("key")).search_sorted(key.fill_null(0), side="right").cast(pl.Int64)
        - 1
    ).clip(lower_bound=0)
    in_force = pl.lit(plans.get_column("account_index")).gather(position) == pl.col("account_index")
    sheet = pl.lit(plans.get_column("sheet_index")).gather(position)
    return frame.with_columns(
        _sheet=pl.when(pl.col("account_index").is_not_null() & in_force).then(sheet)
    ).drop("account_index")


def _rate_in_force(plan: RatingPlan, node: pl.Expr, band: pl.Expr, start_s: pl.Expr) -> pl.Expr:
    """The rate that wins for a prefix node and band at a start time (null: none)."""
    key = (node.cast(pl.Int64) * plan.calendar.max_bands + band.cast(pl.Int64)) * (
        1 << TIME_BITS
    ) + (start_s + TIME_OFFSET)
    resolution = plan.resolution
    position = (
        pl.lit(resolution.get_column("key"))
        .search_sorted(key.fill_null(0), side="right")
        .cast(pl.Int64)
        - 1
    ).clip(lower_bound=0)
    return pl.when(node.is_not_null()).then(pl.lit(resolution.get_column("rate")).gather(position))


def _tier(plan: RatingPlan, column: str, rate: pl.Expr, tier: int | pl.Expr) -> pl.Expr:
    """A tier's attribute for each row's rate (tiers past a rate's last one are inert)."""
    return pl.lit(plan.tiers.get_column(column)).gather(rate.cast(pl.Int64) * plan.max_tiers + tier)


def _sheet_value(plan: RatingPlan, column: str) -> pl.Expr:
    return pl.lit(plan.sheet_table.get_column(column)).gather(pl.col("_sheet").cast(pl.Int64))


def _rate_value(plan: RatingPlan, column: str, rate: pl.Expr) -> pl.Expr:
    return pl.lit(plan.rates.get_column(column)).gather(rate.cast(pl.Int64))


def _factor(plan: RatingPlan, rate: pl.Expr, tier: int | pl.Expr) -> pl.Expr:
    """``common_unit / unit_s`` of a tier: brings every ``rate / unit`` to one denominator."""
    return (pl.lit(plan.common_unit, pl.Int64) // _tier(plan, "unit_s", rate, tier)).cast(INT128)


def _price(frame: pl.LazyFrame, plan: RatingPlan) -> pl.LazyFrame:
    """Billed seconds per tier, billable seconds, and the exact charge numerator."""
    rate = pl.col("_rate")
    duration = pl.col("duration_ms")
    in_grace = duration <= _sheet_value(plan, "grace_ms")
    billed = {}
    for tier in range(plan.max_tiers):
        start = _tier(plan, "from_s", rate, tier) * MILLIS_PER_S
        end = (
            _tier(plan, "from_s", rate, tier + 1)
            if tier + 1 < plan.max_tiers
            else pl.lit(NEVER, pl.Int64)
        ) * MILLIS_PER_S
        increment = _tier(plan, "increment_s", rate, tier)
        used_ms = (pl.min_horizontal(duration, end) - start).clip(lower_bound=0)
        increments = (used_ms + increment * MILLIS_PER_S - 1) // (increment * MILLIS_PER_S)
        billed[f"_billed_{tier}"] = pl.when(in_grace).then(0).otherwise(increments * increment)
    frame = frame.with_columns(**billed).with_columns(
        billable_s=pl.sum_horizontal(*(pl.col(name) for name in billed))
    )
    # Seconds an allowance covers are taken from the start of the billed timeline
    # (docs/rating.md, "Allowances"); the rest keeps the rate of its tier.
    covered = pl.col(COVERED) if COVERED in frame.collect_schema().names() else pl.lit(0)
    tier_amounts = []
    offset: pl.Expr = pl.lit(0, pl.Int64)
    for tier in range(plan.max_tiers):
        billed_s = pl.col(f"_billed_{tier}")
        covered_here = (pl.min_horizontal(covered, offset + billed_s) - offset).clip(lower_bound=0)
        tier_amounts.append(
            (billed_s - covered_here).cast(INT128)
            * _tier(plan, "rate_nano", rate, tier).cast(INT128)
            * _factor(plan, rate, tier)
        )
        offset = offset + billed_s
    return frame.with_columns(
        _connect_fee=pl.when(pl.col("billable_s") > 0)
        .then(_rate_value(plan, "connect_fee_nano", rate))
        .otherwise(0)
        .cast(INT128),
        # Numerator over common_unit * NANO * MICROS: the same scale as split pieces.
        _usage=pl.sum_horizontal(*tier_amounts) * MICROS,
    )


def _span(calls: pl.LazyFrame) -> tuple[dt.datetime, dt.datetime]:
    """The first start and the latest possible end of the calls (for band timelines)."""
    bounds = calls.select(
        first=pl.col("start").min(),
        last=(pl.col("start") + pl.duration(milliseconds=pl.col("duration_ms"))).max(),
    ).collect()
    first, last = bounds.row(0)
    now = dt.datetime.now(dt.UTC)
    return (first or now, last or now)


def _price_band_crossings(
    frame: pl.LazyFrame, plan: RatingPlan, span: tuple[dt.datetime, dt.datetime]
) -> pl.LazyFrame:
    """Reprice split-mode calls that cross a band change: each piece at its band's rate.

    The billed tiers are laid out from the start; the layout is cut at the band changes
    of the sheet's timeline; each piece of tier k in band P is priced with tier k (or
    the last tier) of the rate that wins for the number in band P, or the start band's
    rate when none does (docs/rating.md).
    """
    first, last = span
    # Generous margin: billable seconds may exceed the duration by up to one increment.
    timeline = plan.calendar.timeline(
        list(plan.sheets), plan.split_sheets, first, last + dt.timedelta(days=2)
    ).with_columns(
        key=pl.col("sheet_index").cast(pl.Int64) * (1 << TIME_BITS)
        + pl.col("change")
        + TIME_OFFSET,
        next_change=pl.col("change").shift(-1).over("sheet_index").fill_null(NEVER),
    )
    keys = pl.lit(timeline.get_column("key"))

    def segment_at(epoch_s: pl.Expr) -> pl.Expr:
        key = pl.col("_sheet").cast(pl.Int64) * (1 << TIME_BITS) + epoch_s + TIME_OFFSET
        return (keys.search_sorted(key, side="right").cast(pl.Int64) - 1).clip(lower_bound=0)

    start_us = pl.col("start").dt.epoch("us")
    end_us = start_us + pl.col("billable_s") * MICROS - 1
    frame = frame.with_columns(
        _first_segment=segment_at(pl.col("_start_s")),
        _last_segment=segment_at(end_us // MICROS),
    ).with_columns(
        _crosses=_sheet_value(plan, "split")
        & (pl.col("billable_s") > 0)
        & (pl.col("_last_segment") > pl.col("_first_segment"))
    )

    offsets = [pl.lit(0, pl.Int64)]
    for tier in range(plan.max_tiers):
        offsets.append(offsets[-1] + pl.col(f"_billed_{tier}") * MICROS)
    covered_us = (
        pl.col(COVERED) if COVERED in frame.collect_schema().names() else pl.lit(0)
    ) * MICROS
    piece_from = pl.max_horizontal(
        pl.lit(timeline.get_column("change")).gather(pl.col("_segment")) * MICROS - start_us,
        covered_us,
    )
    piece_to = pl.min_horizontal(
        pl.lit(timeline.get_column("next_change")).gather(pl.col("_segment")) * MICROS - start_us,
        pl.col("billable_s") * MICROS,
    )
    piece_rate = pl.col("_piece_rate")
    piece_amounts = []
    for tier in range(plan.max_tiers):
        overlap = (
            pl.min_horizontal(piece_to, offsets[tier + 1])
            - pl.max_horizontal(piece_from, offsets[tier])
        ).clip(lower_bound=0)
        used_tier = pl.min_horizontal(
            pl.lit(tier, pl.Int64),
            _rate_value(plan, "tier_count", piece_rate).cast(pl.Int64) - 1,
        )
        piece_amounts.append(
            overlap.cast(INT128)
            * _tier(plan, "rate_nano", piece_rate, used_tier).cast(INT128)
            * _factor(plan, piece_rate, used_tier)
        )
    pieces = (
        frame.filter(pl.col("_crosses"))
        .with_columns(_segment=pl.int_ranges(pl.col("_first_segment"), pl.col("_last_segment") + 1))
        .explode("_segment")
        .with_columns(
            _piece_rate=_rate_in_force(
                plan,
                pl.col("_node"),
                pl.lit(timeline.get_column("band")).gather(pl.col("_segment")),
                pl.col("_start_s"),
            ).fill_null(pl.col("_rate"))
        )
        .with_columns(_piece_usage=pl.sum_horizontal(*piece_amounts))
        .group_by("_row")
        .agg(_split_usage=pl.col("_piece_usage").sum())
    )
    return (
        frame.join(pieces, on="_row", how="left", maintain_order="left")
        .with_columns(_usage=pl.coalesce("_split_usage", "_usage"))
        .drop("_split_usage", "_first_segment", "_last_segment", "_crosses")
    )


def _finish(frame: pl.LazyFrame, plan: RatingPlan) -> pl.LazyFrame:
    """Cap, round once, and present the rated call."""
    scale = pl.lit(plan.common_unit * MICROS, INT128)
    max_cost = _rate_value(plan, "max_cost_nano", pl.col("_rate")).cast(INT128) * scale
    exact = pl.col("_connect_fee") * scale + pl.col("_usage")
    max_decimals = int(plan.sheet_table.select(pl.col("decimals").max()).item())
    decimals = _sheet_value(plan, "decimals")
    pow10 = pl.lit(pl.Series([10**power for power in range(20)], dtype=INT128))
    # Materialised once each: rounding refers to them several times, and the streaming
    # engine would otherwise evaluate the expressions again for every reference.
    frame = frame.with_columns(
        _capped=pl.min_horizontal(exact, max_cost.fill_null(exact)),
        _divisor=scale * pow10.gather(9 - decimals),
        _method=_sheet_value(plan, "method"),
    )
    minor = round_quotient(pl.col("_capped"), pl.col("_divisor"), pl.col("_method"))
    return frame.with_columns(
        duration_s=minor_units_to_decimal(pl.col("duration_ms"), 3),
        sheet=_sheet_value(plan, "sheet"),
        currency=_sheet_value(plan, "currency"),
        prefix=_rate_value(plan, "prefix", pl.col("_rate")),
        destination=_rate_value(plan, "destination", pl.col("_rate")),
        band=plan.calendar.band_name(pl.col("_sheet"), pl.col("_band")),
        charge=minor_units_to_decimal(minor * pow10.gather(max_decimals - decimals), max_decimals),
    )


__all__ = [
    "REJECT_COLUMNS",
    "rate_calls",
    "rate_outcome",
    "rated_columns",
    "split_outcome",
]
