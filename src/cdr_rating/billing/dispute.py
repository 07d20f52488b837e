"""The dispute report: for one account, every call a re-rating changes, before and after.

Operators send it to the customer with the credit or debit note: the calls, the old and
new prefix, band, billable seconds and charge, and the totals that the note settles.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from cdr_rating.billing.document import DisputeDocument, DisputeRow, Party
from cdr_rating.billing.rerate import RerateResult
from cdr_rating.errors import UsageError
from cdr_rating.money import format_amount
from cdr_rating.periods import period_bounds

CSV_COLUMNS = (
    "call_id",
    "start",
    "number",
    "prefix_before",
    "band_before",
    "billable_s_before",
    "charge_before",
    "prefix_after",
    "band_after",
    "billable_s_after",
    "charge_after",
    "difference",
)


def dispute_frame(result: RerateResult, account: str, timezone: str, decimals: int) -> pl.DataFrame:
    """The changed calls of ``account`` as text columns (``CSV_COLUMNS``), by start."""
    money = pl.Decimal(38, decimals)

    def amount(name: str) -> pl.Expr:
        return pl.col(name).cast(money).cast(pl.String)

    return (
        result.changes.filter(pl.col("account") == account)
        .sort("start", "call_id")
        .select(
            "call_id",
            start=pl.col("start").dt.convert_time_zone(timezone).dt.strftime("%Y-%m-%d %H:%M:%S"),
            number=pl.format("+{}", pl.col("number")),
            prefix_before=pl.col("prefix_before"),
            band_before=pl.col("band_before"),
            billable_s_before=pl.col("billable_s_before").cast(pl.String),
            charge_before=amount("charge_before"),
            prefix_after=pl.col("prefix_after"),
            band_after=pl.col("band_after"),
            billable_s_after=pl.col("billable_s_after").cast(pl.String),
            charge_after=amount("charge_after"),
            difference=amount("difference"),
        )
    )


def dispute_document(
    result: RerateResult,
    account: str,
    issuer: Party,
    timezone: str,
    *,
    today: dt.date | None = None,
) -> tuple[DisputeDocument, pl.DataFrame]:
    """The report of ``account`` and its CSV rows."""
    change = next((c for c in result.accounts if c.account == account), None)
    if change is None:
        raise UsageError(f"account {account} has nothing billed or re-rated in {result.period}")
    bill = change.after or change.before
    decimals = bill.decimals if bill is not None else 4
    frame = dispute_frame(result, account, timezone, decimals)
    start, _ = period_bounds(result.period, timezone)
    customer = bill.customer if bill is not None else None
    differences = result.changes.filter(pl.col("account") == account).get_column("difference")
    calls_difference = sum((Decimal(v) for v in differences.drop_nulls().to_list()), Decimal(0))
    document = DisputeDocument(
        account=account,
        period=result.period,
        period_label=f"{start:%B %Y}",
        currency=change.currency,
        issuer=issuer,
        customer=Party(
            name=customer.name if customer else account,
            address=customer.address if customer else "",
            email=customer.email if customer else "",
            account=account,
        ),
        invoice=change.invoice,
        sheets_before=_changed(result.sheets_before, result.sheets_after),
        sheets_after=_changed(result.sheets_after, result.sheets_before),
        prepared_on=f"{today or dt.date.today():%Y-%m-%d}",
        billed=format_amount(change.billed, change.currency_decimals),
        rerated=format_amount(change.rerated, change.currency_decimals),
        difference=format_amount(change.difference, change.currency_decimals),
        calls_difference=format_amount(calls_difference, decimals),
        rows=[
            DisputeRow(
                call_id=row["call_id"],
                start=row["start"],
                number=row["number"],
                prefix_before=row["prefix_before"] or "",
                band_before=row["band_before"] or "",
                billable_before=row["billable_s_before"] or "",
                charge_before=row["charge_before"] or "not rated",
                prefix_after=row["prefix_after"] or "",
                band_after=row["band_after"] or "",
                billable_after=row["billable_s_after"] or "",
                charge_after=row["charge_after"] or "not rated",
                difference=row["difference"],
            )
            for row in frame.iter_rows(named=True)
        ],
    )
    return document, frame


def _changed(sheets: list[dict[str, str]], other: list[dict[str, str]]) -> str:
    """The sheet files of ``sheets`` whose content is not among ``other``'s."""
    known = {reference["sha256"] for reference in other}
    names = sorted({_name(r["path"]) for r in sheets if r["sha256"] not in known})
    return ", ".join(names) or "unchanged"


def _name(path: str) -> str:
    """A sheet file as the customer may see it: its folder and name."""
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])
