"""FreeSWITCH ``mod_cdr_csv`` files, written with the ``example`` or ``default`` template.

No header; every field quoted, numbers too. The ``example`` template has 15 columns
(0-based): caller_id_name, caller_id_number, destination_number, context, start_stamp,
answer_stamp, end_stamp, duration, billsec, hangup_cause, uuid, bleg_uuid, accountcode,
read_codec, write_codec. The ``default`` template is the first 13, with a space before
the last field (``, "1001"``), which is therefore read as quoted too.

The call_id is the channel's ``uuid``: each leg has its own, so a re-delivered row is a
duplicate and the A and B legs (``legs=ab``) are two calls. A call is answered when
``billsec`` is above 0 or it has an answer time; otherwise its disposition is the
hangup cause (``NO_ANSWER``, ``USER_BUSY``, ...; ``NO_ANSWER`` when empty) and it is
rated at 0. Billing starts
at ``answer_stamp`` (``start_stamp`` when there is none) and lasts ``billsec``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cdr_rating.cdrs.delimited import field_name, read_fields
from cdr_rating.cdrs.records import (
    field,
    not_longer,
    raw_frame,
    require_some_calls,
    shape_checks,
    shaped,
    whole_seconds,
)

DEFAULT_TEMPLATE, EXAMPLE_TEMPLATE = 13, 15
LAYOUTS = (DEFAULT_TEMPLATE, EXAMPLE_TEMPLATE)
CALLER_ID_NAME, CALLER_ID_NUMBER, DESTINATION_NUMBER, CONTEXT = range(4)
START_STAMP, ANSWER_STAMP, END_STAMP, DURATION, BILLSEC, HANGUP_CAUSE = range(4, 10)
UUID, BLEG_UUID, ACCOUNTCODE = range(10, 13)
WANTED = (
    CALLER_ID_NUMBER,
    DESTINATION_NUMBER,
    START_STAMP,
    ANSWER_STAMP,
    DURATION,
    BILLSEC,
    HANGUP_CAUSE,
    UUID,
    ACCOUNTCODE,
)
ANSWERED = "ANSWERED"
NOT_ANSWERED = "NO_ANSWER"  # the Q.850 name, for the rare row without a hangup cause
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def looks_like(fields: Sequence[str]) -> bool:
    """Whether one line's fields have the layout of a mod_cdr_csv row."""
    return (
        len(fields) in LAYOUTS
        and bool(_TIME.match(fields[START_STAMP].strip()))
        and all(fields[index].strip().isdigit() for index in (DURATION, BILLSEC))
    )


def _default_template_field(value: pl.Expr) -> pl.Expr:
    """The last field of the ``default`` template: `` "1001"`` after the separator."""
    quoted = value.str.starts_with('"') & value.str.ends_with('"') & (value.str.len_chars() >= 2)
    inner = value.str.slice(1, value.str.len_chars() - 2).str.replace_all('""', '"', literal=True)
    return pl.when(quoted).then(inner).otherwise(value)


def read_freeswitch(path: Path) -> pl.LazyFrame:
    """The raw frame of a FreeSWITCH ``mod_cdr_csv`` file (see the module docstring)."""
    rows = read_fields(path, WANTED)
    counts = pl.col("fields").is_in(list(LAYOUTS))
    require_some_calls(
        rows, shaped(counts), path, "a FreeSWITCH mod_cdr_csv file (13 or 15 fields)"
    )
    rows = rows.with_columns(field(index).alias(field_name(index)) for index in WANTED)
    accountcode = pl.col(field_name(ACCOUNTCODE))
    rows = rows.with_columns(
        pl.when(pl.col("fields") == DEFAULT_TEMPLATE)
        .then(_default_template_field(accountcode))
        .otherwise(accountcode)
        .alias(field_name(ACCOUNTCODE))
    )
    billsec = pl.col(field_name(BILLSEC))
    answer = pl.col(field_name(ANSWER_STAMP))
    answered = (billsec.str.to_integer(strict=False) > 0).fill_null(False) | (answer != "")
    checks = [
        *shape_checks(counts, "FreeSWITCH mod_cdr_csv lines have 13 or 15"),
        whole_seconds("duration", pl.col(field_name(DURATION))),
        whole_seconds("billsec", billsec),
        not_longer("billsec", billsec, "duration", pl.col(field_name(DURATION))),
    ]
    hangup_cause = pl.col(field_name(HANGUP_CAUSE)).str.to_uppercase()
    columns = {
        "call_id": pl.col(field_name(UUID)),
        "account": accountcode,
        "caller": pl.col(field_name(CALLER_ID_NUMBER)),
        "callee": pl.col(field_name(DESTINATION_NUMBER)),
        "start": pl.when(answer != "").then(answer).otherwise(pl.col(field_name(START_STAMP))),
        "duration": billsec,
        "disposition": pl.when(answered)
        .then(pl.lit(ANSWERED))
        .when(hangup_cause != "")
        .then(hangup_cause)
        .otherwise(pl.lit(NOT_ANSWERED)),
    }
    return raw_frame(rows, path, shaped(counts), columns, checks)
