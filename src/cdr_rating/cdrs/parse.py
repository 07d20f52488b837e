"""From the text columns of any input format to typed calls, or rejects with reasons.

Every format reader produces the same raw frame (``schema.RAW_COLUMNS`` plus ``file``
and ``line``); this module decides, row by row but with expressions only, whether the
row is a call and what it means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from cdr_rating.cdrs.numbers import NumberRules
from cdr_rating.cdrs.schema import CALL_SCHEMA, Reason

MAX_DURATION_DIGITS = 9  # about 31 years: anything longer is a corrupt field
ANSWERED = "ANSWERED"


@dataclass(frozen=True)
class InputOptions:
    """How CDR text is read: the zone of naive times and the number rules."""

    input_tz: str = "UTC"
    numbers: NumberRules = field(default_factory=NumberRules)


def _text(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String).fill_null("").str.strip_chars()


def parse_start(column: pl.Expr, dtype: pl.DataType, input_tz: str) -> pl.Expr:
    """ISO 8601 text (with offset or ``Z``; naive read in ``input_tz``) as UTC instants."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            column = column.dt.replace_time_zone(
                input_tz, ambiguous="earliest", non_existent="null"
            )
        return column.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    text = (
        column.cast(pl.String).str.strip_chars().str.replace(" ", "T").str.replace(r"Z$", "+00:00")
    )
    aware = text.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_zone="UTC", time_unit="us"
    )
    naive = pl.coalesce(
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
    ).dt.replace_time_zone(input_tz, ambiguous="earliest", non_existent="null")
    return pl.coalesce(aware, naive.dt.convert_time_zone("UTC"))


def parse_duration_ms(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Seconds (text ``"12.5"`` or integers) as whole milliseconds, rounded up.

    Null where the value is not a non-negative decimal of at most 9 integer digits.
    """
    if dtype.is_integer():
        return pl.when(column >= 0).then(column.cast(pl.Int64) * 1000)
    text = column.cast(pl.String).str.strip_chars()
    valid = text.str.contains(rf"^\d{{1,{MAX_DURATION_DIGITS}}}(\.\d*)?$")
    parts = text.str.split_exact(".", 1)
    whole = parts.struct.field("field_0").str.to_integer(strict=False)
    fraction = parts.struct.field("field_1").fill_null("")
    millis = fraction.str.slice(0, 3).str.pad_end(3, "0").str.to_integer(strict=False)
    beyond = fraction.str.slice(3).str.contains(r"[1-9]").fill_null(False).cast(pl.Int64)
    return pl.when(valid).then(whole * 1000 + millis + beyond)


def prepare_calls(raw: pl.LazyFrame, options: InputOptions) -> pl.LazyFrame:
    """Typed call columns plus ``_reason`` and ``_message`` (null for a good row)."""
    schema = raw.collect_schema()
    rules = options.numbers
    disposition = _text("disposition").str.to_uppercase()
    disposition = pl.when(disposition == "").then(pl.lit(ANSWERED)).otherwise(disposition)
    frame = rules.normalise(raw, "callee", "number")
    frame = rules.normalise(frame, "caller", "caller_number")
    frame = frame.with_columns(
        call_id=_text("call_id"),
        account=pl.when(_text("account") != "").then(_text("account")),
        caller=_text("caller"),
        callee=_text("callee"),
        _start=parse_start(pl.col("start"), schema["start"], options.input_tz),
        _duration_ms=parse_duration_ms(pl.col("duration"), schema["duration"]),
        disposition=disposition,
        service=pl.when(_text("service") != "").then(_text("service")),
    )
    reason = (
        pl.when(pl.col("call_id") == "")
        .then(pl.lit(Reason.PARSE_ERROR.value))
        .when(pl.col("_start").is_null())
        .then(pl.lit(Reason.BAD_TIME.value))
        .when(pl.col("_duration_ms").is_null())
        .then(pl.lit(Reason.BAD_DURATION.value))
        .when(pl.col("number").is_null())
        .then(pl.lit(Reason.BAD_NUMBER.value))
    )
    frame = frame.with_columns(_reason=reason)
    start_text = pl.col("start").cast(pl.String).fill_null("")
    message = (
        pl.when(pl.col("_reason") == Reason.PARSE_ERROR.value)
        .then(pl.lit("call_id is empty; every CDR needs an identifier"))
        .when(pl.col("_reason") == Reason.BAD_TIME.value)
        .then(
            pl.format(
                "start '{}' is not a valid ISO 8601 time (e.g. 2026-10-01T09:15:03+02:00) "
                "or does not exist in {}",
                start_text,
                pl.lit(options.input_tz),
            )
        )
        .when(pl.col("_reason") == Reason.BAD_DURATION.value)
        .then(
            pl.format(
                "duration '{}' is not a number of seconds >= 0 with at most {} digits",
                pl.col("duration").cast(pl.String).fill_null(""),
                pl.lit(MAX_DURATION_DIGITS),
            )
        )
        .when(pl.col("_reason") == Reason.BAD_NUMBER.value)
        .then(pl.format("callee '{}': {}", pl.col("callee"), rules.problem(pl.col("callee"))))
    )
    answered = pl.col("disposition") == ANSWERED
    return frame.with_columns(
        _message=message,
        start=pl.col("_start"),
        duration_ms=pl.when(answered).then(pl.col("_duration_ms")).otherwise(0),
    ).drop("_start", "_duration_ms")


def mark_duplicates(prepared: pl.LazyFrame) -> pl.LazyFrame:
    """Reject every good row whose call_id an earlier good row already has.

    Earlier means earlier in the input: files in the order given, lines in file order.
    Rows rejected for another reason do not count, so a corrupt first copy does not
    hide a good second one.
    """
    good = pl.col("_reason").is_null()
    repeated = good & ~pl.when(good).then(pl.col("call_id")).is_first_distinct()
    return prepared.with_columns(
        _reason=pl.when(repeated).then(pl.lit(Reason.DUPLICATE.value)).otherwise("_reason"),
        _message=pl.when(repeated)
        .then(pl.format("call_id '{}' was already seen earlier in this input", pl.col("call_id")))
        .otherwise("_message"),
    )


def good_calls(prepared: pl.LazyFrame) -> pl.LazyFrame:
    """The rows that parsed, in the canonical call schema."""
    return (
        prepared.filter(pl.col("_reason").is_null()).select(CALL_SCHEMA.names()).cast(CALL_SCHEMA)
    )


def parse_rejects(prepared: pl.LazyFrame) -> pl.LazyFrame:
    """The rows that did not parse, with their reason and message."""
    return prepared.filter(pl.col("_reason").is_not_null()).select(
        "file",
        pl.col("line").cast(pl.Int64),
        pl.when(pl.col("call_id") != "").then(pl.col("call_id")).alias("call_id"),
        reason=pl.col("_reason"),
        message=pl.col("_message"),
    )
