"""CGRateS CDR exports in the default ``*file_csv`` field layout.

No header. Columns (0-based): 0 CGRID, 1 RunID, 2 ToR, 3 OriginID, 4 RequestType,
5 Direction, 6 Tenant, 7 Category, 8 Account, 9 Subject, 10 Destination, 11 SetupTime,
12 AnswerTime, 13 Usage, 14 Cost, then any extra fields (ignored).

* call_id: OriginID (the switch's call identifier), or CGRID when it is empty; the same
  call exported again, by another charging run too, is a duplicate.
* account: Account; caller: Subject; callee: Destination.
* Times are Go's ``time.String()`` (``2013-11-07 08:42:26 +0000 UTC``, optionally with
  fractional seconds) or RFC 3339. The zero time (``0001-01-01 ...``) means none.
* Usage is a Go duration (``10s``, ``1m30s``, ``1h2m3.5s``, ``250ms``, ``1.5µs``) or a
  whole number of nanoseconds; it becomes decimal seconds (fractions of a nanosecond
  are kept to 12 decimals, no floating point).
* A call is answered when it has an AnswerTime or a Usage above 0; billing starts at
  AnswerTime (SetupTime when there is none). Other calls are ``NO ANSWER`` (rated at 0).
* Rows whose ToR is not ``*voice`` (``*sms``, ``*data``) are not calls: ``parse_error``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cdr_rating.cdrs.delimited import field_name, read_fields
from cdr_rating.cdrs.records import (
    Check,
    field,
    raw_frame,
    require_some_calls,
    shape_checks,
    shaped,
)
from cdr_rating.cdrs.schema import Reason

CGRID, RUN_ID, TOR, ORIGIN_ID, REQUEST_TYPE, DIRECTION, TENANT, CATEGORY = range(8)
ACCOUNT, SUBJECT, DESTINATION, SETUP_TIME, ANSWER_TIME, USAGE, COST = range(8, 15)
MIN_FIELDS = COST + 1
WANTED = (CGRID, TOR, ORIGIN_ID, ACCOUNT, SUBJECT, DESTINATION, SETUP_TIME, ANSWER_TIME, USAGE)
VOICE = "*voice"
ANSWERED, NOT_ANSWERED = "ANSWERED", "NO ANSWER"

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT = "(?:ns|us|µs|μs|ms|h|m|s)"  # longest first: "ms" must win over "m"
_GO_DURATION = rf"^(?:{_NUMBER}{_UNIT})+$"
_UNIT_SECONDS = {
    "ns": "0.000000001",
    "us": "0.000001",
    "µs": "0.000001",  # micro sign
    "μs": "0.000001",  # Greek mu
    "ms": "0.001",
    "s": "1",
    "m": "60",
    "h": "3600",
}
_SCALE = 12
# Go's time.String(): "2006-01-02 15:04:05.999 -0700 MST", maybe " m=+0.001" after it.
_GO_TIME = (
    r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?) ?([+-]\d{2})(\d{2})"
    r"(?: [A-Za-z0-9+-]+)?(?: m=[+-][0-9.]+)?$"
)
_ZERO_TIME = "0001-01-01"
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
_USAGE = re.compile(rf"^\d+$|{_GO_DURATION}")


def looks_like(fields: Sequence[str]) -> bool:
    """Whether one line's fields have the layout of a CGRateS ``*file_csv`` row."""
    return (
        len(fields) >= MIN_FIELDS
        and fields[TOR].strip().startswith("*")
        and bool(_TIME.match(fields[SETUP_TIME].strip()))
        and bool(_USAGE.match(fields[USAGE].strip()))
    )


def usage_seconds(usage: pl.Expr) -> pl.Expr:
    """Usage text as decimal seconds text, or null when it is not a duration."""
    as_decimal = pl.Decimal(38, _SCALE)
    nanoseconds = usage.str.to_decimal(scale=_SCALE) / pl.lit(10**9).cast(as_decimal)
    tokens = usage.str.extract_all(f"{_NUMBER}{_UNIT}").list.eval(
        pl.element().str.extract(f"^({_NUMBER})").str.to_decimal(scale=_SCALE)
        * pl.element()
        .str.extract(f"({_UNIT})$")
        .replace_strict(list(_UNIT_SECONDS), list(_UNIT_SECONDS.values()))
        .str.to_decimal(scale=_SCALE)
    )
    # A number too long for the decimal type is null; the sum would skip it.
    every_token = tokens.list.drop_nulls().list.len() == tokens.list.len()
    seconds = (
        pl.when(usage.str.contains(r"^\d+$"))
        .then(nanoseconds)
        .when(usage.str.contains(_GO_DURATION) & every_token)
        .then(tokens.list.sum())
    )
    return seconds.cast(as_decimal).cast(pl.String)


def iso_time(text: pl.Expr) -> pl.Expr:
    """Go's ``time.String()`` as ISO 8601 (``+0000 UTC`` becomes ``+00:00``); RFC 3339
    and anything else pass through for ``prepare_calls`` to judge."""
    return text.str.replace(_GO_TIME, "${1}${2}:${3}")


def read_cgrates(path: Path) -> pl.LazyFrame:
    """The raw frame of a CGRateS ``*file_csv`` export (see the module docstring)."""
    rows = read_fields(path, WANTED)
    counts = pl.col("fields") >= MIN_FIELDS
    require_some_calls(rows, shaped(counts), path, "a CGRateS *file_csv export (15+ fields)")
    rows = rows.with_columns(field(index).alias(field_name(index)) for index in WANTED)
    usage = pl.col(field_name(USAGE))
    rows = rows.with_columns(_seconds=usage_seconds(usage))
    answer_time = pl.col(field_name(ANSWER_TIME))
    has_answer_time = (answer_time != "") & ~answer_time.str.starts_with(_ZERO_TIME)
    used = pl.col("_seconds").str.contains(r"[1-9]").fill_null(False)
    tor = pl.col(field_name(TOR))
    checks = [
        *shape_checks(counts, f"CGRateS *file_csv lines have at least {MIN_FIELDS}"),
        Check(
            (tor != VOICE) & (tor != ""),
            Reason.PARSE_ERROR,
            pl.format("ToR '{}' is not a voice call; only {} rows are rated", tor, pl.lit(VOICE)),
        ),
        Check(
            pl.col("_seconds").is_null(),
            Reason.BAD_DURATION,
            pl.format(
                "Usage '{}' is not a duration (like 1m30s) or a number of nanoseconds",
                usage.str.slice(0, 60),
            ),
        ),
    ]
    origin_id = pl.col(field_name(ORIGIN_ID))
    columns = {
        "call_id": pl.when(origin_id != "").then(origin_id).otherwise(pl.col(field_name(CGRID))),
        "account": pl.col(field_name(ACCOUNT)),
        "caller": pl.col(field_name(SUBJECT)),
        "callee": pl.col(field_name(DESTINATION)),
        "start": iso_time(
            pl.when(has_answer_time).then(answer_time).otherwise(pl.col(field_name(SETUP_TIME)))
        ),
        "duration": pl.col("_seconds"),
        "disposition": pl.when(has_answer_time | used)
        .then(pl.lit(ANSWERED))
        .otherwise(pl.lit(NOT_ANSWERED)),
    }
    return raw_frame(rows, path, shaped(counts), columns, checks)
