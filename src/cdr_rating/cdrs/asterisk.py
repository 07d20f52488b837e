"""Asterisk ``cdr_csv`` files: ``Master.csv`` and the per-account ``<accountcode>.csv``.

No header; text fields quoted (``""`` for a quote inside), numbers and an empty answer
time unquoted. The columns (0-based): accountcode, src, dst, dcontext, clid, channel,
dstchannel, lastapp, lastdata, start, answer, end, duration, billsec, disposition,
amaflags (16 columns), then uniqueid (17), userfield (18), and peeraccount, linkedid,
sequence (21) when they are enabled. Billing starts at ``answer`` (``start`` when the
call was not answered or the answer time is empty) and lasts ``billsec`` seconds.

Asterisk writes one row per leg and per dial attempt, all with the uniqueid of the
calling channel, and the same row again into ``<accountcode>.csv``. The call_id keeps
legs and attempts apart and makes a re-delivered row a duplicate:

* with a uniqueid: ``<uniqueid>-<8 hex digits>``, the digits being the low 32 bits of
  the fingerprint (``identity.fingerprint``) of start, disposition and dstchannel;
* without one (16 columns, or an empty uniqueid): ``ast-<16 hex digits>``, the whole
  fingerprint of accountcode, src, dst, channel, dstchannel, start, answer, end,
  duration, billsec and disposition.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cdr_rating.cdrs.delimited import field_name, read_fields
from cdr_rating.cdrs.identity import hex_digits, with_fingerprint, words_needed
from cdr_rating.cdrs.records import (
    Check,
    not_longer,
    raw_frame,
    require_some_calls,
    shape_checks,
    shaped,
    whole_seconds,
)
from cdr_rating.cdrs.schema import Reason

LAYOUTS = (16, 17, 18, 21)
ACCOUNTCODE, SRC, DST, DCONTEXT, CLID, CHANNEL, DSTCHANNEL, LASTAPP, LASTDATA = range(9)
START, ANSWER, END, DURATION, BILLSEC, DISPOSITION, AMAFLAGS, UNIQUEID = range(9, 17)
# What tells apart the rows that share a uniqueid. The channel is the one the uniqueid
# names, the same in all of them. Each leg or attempt dials its own destination channel
# (its name ends in a sequence number), at its own start; the disposition separates rows
# that have neither (no destination, same second). Answer and end time add nothing.
LEG_FIELDS = (START, DISPOSITION, DSTCHANNEL)
ROW_FIELDS = (
    ACCOUNTCODE,
    SRC,
    DST,
    CHANNEL,
    DSTCHANNEL,
    START,
    ANSWER,
    END,
    DURATION,
    BILLSEC,
    DISPOSITION,
)
WANTED = (*ROW_FIELDS, UNIQUEID)
ANSWERED = "ANSWERED"
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def looks_like(fields: Sequence[str]) -> bool:
    """Whether one line's fields have the layout of an Asterisk Master.csv row."""
    return (
        len(fields) in LAYOUTS
        and all(_TIME.match(fields[index].strip()) for index in (START, END))
        and all(fields[index].strip().isdigit() for index in (DURATION, BILLSEC))
    )


def read_asterisk(path: Path) -> pl.LazyFrame:
    """The raw frame of an Asterisk ``cdr_csv`` file (see the module docstring)."""
    rows = read_fields(path, WANTED)
    counts = pl.col("fields").is_in(list(LAYOUTS))
    require_some_calls(rows, shaped(counts), path, "an Asterisk Master.csv file (16 to 21 fields)")
    # Fields are used as written (Asterisk pads none); prepare_calls trims what it reads.
    plan = _with_call_ids(rows).with_columns(
        _disposition=pl.col(field_name(DISPOSITION)).str.strip_chars().str.to_uppercase()
    )
    disposition = pl.col("_disposition")
    answered = disposition == ANSWERED
    answer = pl.col(field_name(ANSWER)).str.strip_chars()
    checks = [
        *shape_checks(counts, "Asterisk Master.csv lines have 16, 17, 18 or 21"),
        Check(disposition == "", Reason.PARSE_ERROR, pl.lit("the disposition field is empty")),
        whole_seconds("duration", pl.col(field_name(DURATION))),
        whole_seconds("billsec", pl.col(field_name(BILLSEC))),
        not_longer(
            "billsec", pl.col(field_name(BILLSEC)), "duration", pl.col(field_name(DURATION))
        ),
    ]
    columns = {
        "call_id": pl.col("call_id"),
        "account": pl.col(field_name(ACCOUNTCODE)),
        "caller": pl.col(field_name(SRC)),
        "callee": pl.col(field_name(DST)),
        # Billing starts at the answer. Unanswered calls have no answer time, and nor do
        # the answered rows A2Billing writes: those keep their start (the ring time
        # before the answer only moves the band or day on a boundary).
        "start": pl.when(answered & (answer != ""))
        .then(answer)
        .otherwise(pl.col(field_name(START))),
        "duration": pl.col(field_name(BILLSEC)),
        "disposition": disposition,
    }
    return raw_frame(rows, path, shaped(counts), columns, checks, plan)


def _with_call_ids(rows: pl.DataFrame) -> pl.LazyFrame:
    """The plan that adds ``call_id`` (the rule in the module docstring)."""
    uniqueid = pl.col(field_name(UNIQUEID))
    has_uniqueid = ((pl.col("fields") > UNIQUEID) & (uniqueid != "")).fill_null(False)
    leg_fields = [field_name(index) for index in LEG_FIELDS]
    plan = with_fingerprint(rows.lazy(), leg_fields, words_needed(rows, leg_fields), "_leg")
    by_leg = uniqueid + "-" + hex_digits(pl.col("_leg"), 8)
    if rows.select(has_uniqueid.all()).item():
        return plan.with_columns(call_id=by_leg)
    row_fields = [field_name(index) for index in ROW_FIELDS]
    plan = with_fingerprint(plan, row_fields, words_needed(rows, row_fields), "_whole")
    by_row = "ast-" + hex_digits(pl.col("_whole"), 16)
    return plan.with_columns(call_id=pl.when(has_uniqueid).then(by_leg).otherwise(by_row))
