"""From the text columns of any input format to typed calls, or rejects with reasons.

Every format reader produces the same raw frame (``schema.RAW_COLUMNS`` plus ``file``
and ``line``); this module decides, row by row but with expressions only, whether the
row is a call and what it means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from cdr_rating.cdrs.numbers import NumberRules
from cdr_rating.cdrs.schema import CALL_SCHEMA, Reason

MAX_DURATION_DIGITS = 9  # about 31 years: anything longer is a corrupt field
# Starts outside these years are bad_time: a switch clock reset to 0001 or a corrupt
# field, never a call to bill (and out of range for Python's datetime in places).
FIRST_YEAR, LAST_YEAR = 1970, 2100
_EARLIEST = dt.datetime(FIRST_YEAR, 1, 1, tzinfo=dt.UTC)
_AFTER_LATEST = dt.datetime(LAST_YEAR + 1, 1, 1, tzinfo=dt.UTC)
DEFAULT_MAX_DURATION_S = 86_400  # a day: no real call lasts longer
ANSWERED = "ANSWERED"


def max_duration_problem(seconds: int) -> str | None:
    """What is wrong with a longest call duration (``[input] max_duration_s``), if anything."""
    if seconds < 1:
        return f"must be a whole number of seconds >= 1 (got {seconds})"
    return None


@dataclass(frozen=True)
class InputOptions:
    """How CDR text is read: the zone of naive times, the number rules and the longest
    duration a call may have (longer answered calls are ``bad_duration``)."""

    input_tz: str = "UTC"
    numbers: NumberRules = field(default_factory=NumberRules)
    max_duration_s: int = DEFAULT_MAX_DURATION_S

    def __post_init__(self) -> None:
        problem = max_duration_problem(self.max_duration_s)
        if problem:
            raise ValueError(f"max_duration_s {problem}")


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


def prepare_calls(
    raw: pl.LazyFrame, options: InputOptions, *, caller_numbers: bool = True
) -> pl.LazyFrame:
    """Typed call columns plus ``_reason`` (null for a good row).

    A reader may mark rows it already knows are bad with ``_reader_reason`` (a
    ``Reason`` value) and ``_detail`` (what is wrong, for the message); that reason
    wins. ``caller_numbers``: also normalise callers (only needed to find accounts by
    caller).
    """
    schema = raw.collect_schema()
    if "_reader_reason" not in schema:
        raw = raw.with_columns(_reader_reason=pl.lit(None, pl.String))
    if "_detail" not in schema:
        raw = raw.with_columns(_detail=pl.lit(None, pl.String))
    rules = options.numbers
    disposition = _text("disposition").str.to_uppercase()
    disposition = pl.when(disposition == "").then(pl.lit(ANSWERED)).otherwise(disposition)
    frame = rules.normalise(raw, "callee", "number")
    if caller_numbers:
        frame = rules.normalise(frame, "caller", "caller_number")
    else:
        frame = frame.with_columns(caller_number=pl.lit(None, pl.String))
    frame = frame.with_columns(call_id=_text("call_id"), account=_text("account"))
    frame = frame.with_columns(
        account=pl.when(pl.col("account") != "").then(pl.col("account")),
        caller=_text("caller"),
        callee=_text("callee"),
        _start=parse_start(pl.col("start"), schema["start"], options.input_tz),
        _duration_ms=parse_duration_ms(pl.col("duration"), schema["duration"]),
        disposition=disposition,
        service=pl.when(_text("service") != "").then(_text("service")),
    )
    in_range = pl.col("_start").is_between(
        pl.lit(_EARLIEST, pl.Datetime("us", "UTC")),
        pl.lit(_AFTER_LATEST, pl.Datetime("us", "UTC")),
        closed="left",
    )
    too_long = (pl.col("disposition") == ANSWERED) & (
        pl.col("_duration_ms") > options.max_duration_s * 1000
    )
    reason = (
        pl.when(pl.col("_reader_reason").is_not_null())
        .then(pl.col("_reader_reason"))
        .when(pl.col("call_id") == "")
        .then(pl.lit(Reason.PARSE_ERROR.value))
        .when(~in_range.fill_null(False))
        .then(pl.lit(Reason.BAD_TIME.value))
        .when(pl.col("_duration_ms").is_null() | too_long)
        .then(pl.lit(Reason.BAD_DURATION.value))
        .when(pl.col("number").is_null())
        .then(pl.lit(Reason.BAD_NUMBER.value))
    )
    frame = frame.with_columns(_reason=reason)
    answered = pl.col("disposition") == ANSWERED
    return frame.with_columns(
        _start_text=_original_text("start", schema),
        _duration_text=_original_text("duration", schema),
        # Out of range, the instant is dropped: no later stage sees year 0001 or 9999.
        start=pl.when(in_range).then(pl.col("_start")),
        duration_ms=pl.when(answered).then(pl.col("_duration_ms")).otherwise(0),
    ).drop("_start", "_duration_ms")


def _original_text(name: str, schema: pl.Schema) -> pl.Expr:
    """The cell as it was, for reject messages: free for text, omitted for typed columns."""
    if schema[name] == pl.String:
        return pl.col(name)
    return pl.lit(None, pl.String)


def mark_duplicates(prepared: pl.LazyFrame, seen: pl.Series | None = None) -> pl.LazyFrame:
    """Reject every good row whose call_id an earlier good row already has.

    Earlier means earlier in the input: files in the order given, lines in file order.
    Rows rejected for another reason do not count, so a corrupt first copy does not
    hide a good second one. ``seen`` holds call_ids of good rows that came before
    ``prepared`` (an earlier slice of the same input, see ``cdr_rating.pipeline``).
    """
    good = pl.col("_reason").is_null()
    # Hashes find candidates cheaply; only rows whose hash repeats are compared by
    # their text, so a hash collision can never reject a call that is not a duplicate.
    hashed = prepared.with_columns(_hash=pl.when(good).then(pl.col("call_id").hash()))
    hashed = hashed.with_columns(_suspect=good & pl.col("_hash").is_duplicated())
    repeated = (
        pl.col("_suspect")
        & ~pl.when(pl.col("_suspect")).then(pl.col("call_id")).is_first_distinct()
    )
    if seen is not None and seen.len():
        repeated = repeated | (good & pl.col("call_id").is_in(seen.implode()))
    return hashed.with_columns(
        _reason=pl.when(repeated).then(pl.lit(Reason.DUPLICATE.value)).otherwise("_reason"),
    ).drop("_hash", "_suspect")


def parsed_calls(prepared: pl.LazyFrame) -> pl.LazyFrame:
    """Every row in the canonical call schema, with ``_reason`` (null if good) and what
    reject messages quote: a reader's ``_detail`` and the original start and duration."""
    return prepared.select(
        *CALL_SCHEMA.names(), "_reason", "_detail", "_start_text", "_duration_text"
    ).cast(CALL_SCHEMA)
