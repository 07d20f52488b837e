"""The canonical CDR: the frame every input format is turned into, and reject reasons."""

from __future__ import annotations

from enum import StrEnum

import polars as pl

# The text columns a format reader produces (``file`` and ``line`` locate each row).
RAW_COLUMNS = (
    "call_id",
    "account",
    "caller",
    "callee",
    "start",
    "duration",
    "disposition",
    "service",
)

# A parsed call, ready for rating.
CALL_SCHEMA = pl.Schema(
    {
        "call_id": pl.String(),
        "account": pl.String(),
        "caller": pl.String(),
        "callee": pl.String(),
        "number": pl.String(),
        "caller_number": pl.String(),
        "start": pl.Datetime("us", "UTC"),
        "duration_ms": pl.Int64(),
        "disposition": pl.String(),
        "service": pl.String(),
        "file": pl.Categorical(),  # one path repeated on every row: stored once
        "line": pl.Int64(),
    }
)

REJECT_SCHEMA = pl.Schema(
    {
        "file": pl.String,
        "line": pl.Int64,
        "call_id": pl.String,
        "reason": pl.String,
        "message": pl.String,
        "raw": pl.String,
    }
)


class Reason(StrEnum):
    """Why a row was not rated (a contract: these codes appear in rejects files)."""

    PARSE_ERROR = "parse_error"
    BAD_NUMBER = "bad_number"
    BAD_TIME = "bad_time"
    BAD_DURATION = "bad_duration"
    UNKNOWN_ACCOUNT = "unknown_account"
    NO_RATE = "no_rate"
    DUPLICATE = "duplicate"
    CLOSED_PERIOD = "closed_period"
