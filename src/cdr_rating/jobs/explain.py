"""Explaining a stored call: how it was priced and billed then, and priced now."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cdr_rating.billing.period import bill_period
from cdr_rating.config import Settings
from cdr_rating.errors import UsageError
from cdr_rating.explain import explain_stored
from cdr_rating.jobs.books import existing_ledger
from cdr_rating.jobs.close import CALL_COLUMNS
from cdr_rating.jobs.month import StoredMonth
from cdr_rating.jobs.rerate import price_again, stored_call
from cdr_rating.jobs.setup import billing_setup
from cdr_rating.store import DataDir


def explain_stored_call(
    settings: Settings, call_id: str, period: str, sheets: Path | None = None
) -> str:
    """The explanation of ``call_id`` stored for ``period``, with what its account's
    invoice bills for it (after allowances) and how ``sheets`` price it now."""
    data = DataDir(settings.paths.data_dir)
    with existing_ledger(settings) as ledger:
        stored = stored_call(ledger, data, period, call_id)
        month = StoredMonth.of(ledger, data, period)
    if stored.is_empty():
        raise UsageError(f"call_id {call_id!r} is not stored for period {period}")
    setup = billing_setup(settings, period, sheets)
    billed = None
    row = stored.row(0, named=True)
    if row["_origin"] == "rated" and row["account"]:
        configured = setup if sheets is None else billing_setup(settings, period)
        calls = month.of_account(row["account"]).select(CALL_COLUMNS)
        bill = bill_period(calls, configured.rules, configured.plan, only=[row["account"]])
        billed = bill.calls.filter(pl.col("call_id") == call_id)
    again = price_again(stored, setup)
    return explain_stored(
        call_id, stored, again, setup.plan, str(sheets or settings.paths.sheets), billed
    )
