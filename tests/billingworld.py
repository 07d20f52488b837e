"""A small billing world on disk: a sheet, accounts, fees and rated calls, for period tests.

Calls go through the real pipeline (canonical CSV in, ``rate_files``), so bills are
made from exactly what the store would hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cdr_rating.accounts import load_accounts, load_sheets
from cdr_rating.billing.fees import load_fees
from cdr_rating.billing.period import BillingRules, PeriodBill, bill_period
from cdr_rating.pipeline import rate_files
from cdr_rating.rating import RatingPlan
from sheetfactory import SheetSpec, row, write_sheet

ACCOUNTS_HEADER = "account,name,sheet,effective_from,tax_rate,numbers,email,address,itemised"
FEES_HEADER = "account,code,description,amount,kind,date,end_date,taxable,prorate"
CDR_HEADER = "call_id,account,caller,callee,start,duration,disposition"


def flat_sheet(
    allowance_s: int = 0, rate: str = "0.6", connect_fee: str | None = None, **extra: object
) -> SheetSpec:
    """EUR, ``rate`` per minute to +49 billed per second, optional allowance on 49."""
    cells: dict[str, object] = {"unit_s": 60, "increment_s": 1}
    if connect_fee is not None:
        cells["connect_fee"] = connect_fee
    return SheetSpec(
        rows=[row("49", rate, destination="Germany", **cells)],  # type: ignore[arg-type]
        sheet_id="flat",
        allowances=[("national", allowance_s, ["49"])] if allowance_s else [],
        **extra,  # type: ignore[arg-type]
    )


@dataclass
class World:
    folder: Path
    sheets: Sequence[SheetSpec]
    accounts: Sequence[str]  # rows after the header
    fees: Sequence[str] = ()
    period: str = "2026-10"
    accounts_header: str = ACCOUNTS_HEADER
    last_rules: BillingRules | None = None
    last_plan: RatingPlan | None = None

    def bill(self, calls: Sequence[str]) -> PeriodBill:
        """Rate ``calls`` (canonical CSV rows) and bill the period."""
        sheet_dir = self.folder / "sheets"
        for spec in self.sheets:
            write_sheet(sheet_dir, spec)
        accounts_path = self.folder / "accounts.csv"
        accounts_path.write_text("\n".join([self.accounts_header, *self.accounts]) + "\n", "utf-8")
        sheets = load_sheets(sheet_dir)
        accounts = load_accounts(accounts_path, sheets)
        fees = None
        if self.fees:
            fees_path = self.folder / "fees.csv"
            fees_path.write_text("\n".join([FEES_HEADER, *self.fees]) + "\n", "utf-8")
            fees = load_fees(fees_path, accounts)
        plan = RatingPlan.from_sheets(sheets, accounts=accounts)
        cdrs = self.folder / "cdrs.csv"
        cdrs.write_text("\n".join([CDR_HEADER, *calls]) + "\n", "utf-8")
        result = rate_files([cdrs], plan)
        assert result.rejects.is_empty(), result.rejects.to_dicts()
        rules = BillingRules(self.period, "Europe/Berlin", sheets, accounts, fees)
        self.last_rules, self.last_plan = rules, plan
        return bill_period(result.rated, rules, plan)


def billed(period: PeriodBill) -> dict[str, str]:
    """``call_id -> billed charge`` as text."""
    return {
        call_id: str(charge)
        for call_id, charge in period.calls.select(
            "call_id", pl.col("billed").cast(pl.Decimal(38, 4))
        ).iter_rows()
    }
