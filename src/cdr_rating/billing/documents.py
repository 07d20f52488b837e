"""From an exact bill to what an invoice shows (``InvoiceDocument``), and back to JSON.

Every amount is formatted here, once: line amounts and the subtotal with the bill's
decimals (the sheet's), taxes and the total with the currency's. The terminal table,
JSON, HTML and PDF all read the same strings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import polars as pl

from cdr_rating.billing.document import (
    BandRow,
    CallRow,
    InvoiceDocument,
    Line,
    Party,
    TaxRow,
)
from cdr_rating.billing.period import Bill, BillLine, minutes
from cdr_rating.money import format_amount
from cdr_rating.periods import period_bounds

SHOWN_DIGITS = 3  # a masked caller keeps its last three digits
SECTIONS = {"usage": "usage", "allowance": "allowances", "fee": "fees", "commitment": "adjustments"}


def percent(rate: Decimal | None) -> str:
    """``Decimal("0.19")`` as ``"19 %"``; None (not taxable) as ``""``."""
    if rate is None:
        return ""
    text = f"{(rate * 100).normalize():f}"
    return f"{text} %"


def build_document(
    bill: Bill,
    issuer: Party,
    timezone: str,
    *,
    status: str = "draft",
    number: str | None = None,
    issued_on: dt.date | None = None,
    due_on: dt.date | None = None,
    calls: pl.DataFrame | None = None,
    kind: str = "invoice",
    refers_to: str | None = None,
    reason: str = "",
) -> InvoiceDocument:
    """The document of ``bill``; ``calls`` (its account's billed calls) fill the
    itemised appendix when the account wants one."""
    start, end = period_bounds(bill.period, timezone)
    money = bill.decimals

    def line(item: BillLine) -> Line:
        return Line(
            kind=item.kind,
            description=item.description,
            amount=format_amount(item.amount, money),
            detail=item.detail,
            calls=item.calls,
            quantity=item.quantity,
            unit=item.unit,
            tax_rate=percent(item.tax_rate),
        )

    sections: dict[str, list[Line]] = {name: [] for name in SECTIONS.values()}
    for item in bill.lines:
        sections[SECTIONS[item.kind]].append(line(item))
    return InvoiceDocument(
        kind=kind,
        status=status,
        number=number,
        account=bill.account,
        period=bill.period,
        period_label=f"{start:%B %Y}",
        period_start=f"{start:%Y-%m-%d}",
        period_end=f"{end - dt.timedelta(days=1):%Y-%m-%d}",
        issued_on="" if issued_on is None else f"{issued_on:%Y-%m-%d}",
        due_on="" if due_on is None else f"{due_on:%Y-%m-%d}",
        currency=bill.currency,
        issuer=issuer,
        customer=Party(
            name=bill.customer.name,
            address=bill.customer.address,
            email=bill.customer.email,
            account=bill.account,
        ),
        usage=sections["usage"],
        bands=_bands(bill),
        allowances=sections["allowances"],
        fees=sections["fees"],
        adjustments=sections["adjustments"],
        subtotal=format_amount(bill.subtotal, money),
        taxes=[
            TaxRow(
                rate=percent(tax.rate),
                base=format_amount(tax.base, money),
                amount=format_amount(tax.amount, bill.currency_decimals),
            )
            for tax in bill.taxes
        ],
        tax=format_amount(bill.tax, bill.currency_decimals),
        rounding="" if bill.rounding == 0 else format_amount(bill.rounding, money),
        total=format_amount(bill.total, bill.currency_decimals),
        refers_to=refers_to,
        reason=reason,
        calls=None if calls is None else call_rows(calls, timezone, money),
    )


def _bands(bill: Bill) -> list[BandRow]:
    totals: dict[str, tuple[int, int, Decimal]] = {}
    for item in bill.lines:
        if item.kind == "usage":
            calls, seconds, amount = totals.get(item.detail, (0, 0, Decimal(0)))
            totals[item.detail] = (
                calls + (item.calls or 0),
                seconds + (item.seconds or 0),
                amount + item.amount,
            )
    return [
        BandRow(band, calls, minutes(seconds), format_amount(amount, bill.decimals))
        for band, (calls, seconds, amount) in sorted(totals.items())
    ]


def masked(caller: pl.Expr) -> pl.Expr:
    """A caller number with every digit but the last three replaced by ``x``."""
    digits = caller.fill_null("").str.replace_all(r"[^\d+]", "")
    hidden = digits.str.head(-SHOWN_DIGITS).str.replace_all(r"\d", "x")
    return (
        pl.when(digits.str.len_chars() > SHOWN_DIGITS)
        .then(hidden + digits.str.tail(SHOWN_DIGITS))
        .otherwise(digits)
    )


def appendix_frame(calls: pl.DataFrame, timezone: str, decimals: int) -> pl.DataFrame:
    """The itemised calls as text columns, in order of start (vectorised)."""
    # Whole seconds, half up, for reading; billing uses billable_s.
    duration = ((pl.col("duration_s") * 1000).cast(pl.Int64) + 500) // 1000
    charge = pl.col("billed").cast(pl.Decimal(38, decimals)).cast(pl.String)
    return calls.sort("start", "call_id").select(
        start=pl.col("start").dt.convert_time_zone(timezone).dt.strftime("%Y-%m-%d %H:%M:%S"),
        caller=masked(pl.col("caller")),
        number=pl.format("+{}", pl.col("number")),
        destination=pl.col("destination").fill_null(""),
        band=pl.col("band").fill_null(""),
        duration=pl.format(
            "{}:{}",
            duration // 60,
            (duration % 60).cast(pl.String).str.zfill(2),
        ),
        billable_s=pl.col("billable_s").cast(pl.String),
        allowance_s=pl.col("allowance_s").cast(pl.String),
        charge=charge,
    )


def call_rows(calls: pl.DataFrame, timezone: str, decimals: int) -> list[CallRow]:
    return [
        CallRow(**row) for row in appendix_frame(calls, timezone, decimals).iter_rows(named=True)
    ]


def document_to_json(document: InvoiceDocument) -> str:
    """The document without its appendix (the calls are kept in Parquet)."""
    data = {
        name.name: _plain(getattr(document, name.name)) for name in dataclasses.fields(document)
    }
    data["calls"] = None if document.calls is None else []
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` gives for a document's field, without its deep copy
    (ten times slower, and an invoice can have thousands of lines): parties, lines and
    rows are flat dataclasses of strings and numbers, so their ``vars`` are enough."""
    if isinstance(value, list):
        return [vars(item) for item in value]
    if dataclasses.is_dataclass(value):
        return vars(value)
    return value


def document_from_json(text: str, calls: list[CallRow] | None = None) -> InvoiceDocument:
    data: dict[str, Any] = json.loads(text)
    lists = {"usage": Line, "allowances": Line, "fees": Line, "adjustments": Line}
    for name, kind in lists.items():
        data[name] = [kind(**item) for item in data[name]]
    data["bands"] = [BandRow(**item) for item in data["bands"]]
    data["taxes"] = [TaxRow(**item) for item in data["taxes"]]
    data["issuer"] = Party(**data["issuer"])
    data["customer"] = Party(**data["customer"])
    data["calls"] = None if data["calls"] is None else (calls or [])
    return InvoiceDocument(**data)


def bill_lines(bill: Bill) -> list[dict[str, Any]]:
    """The lines of a bill as JSON objects, formatted exactly as the ledger keeps them."""
    return [
        {
            "kind": line.kind,
            "description": line.description,
            "detail": line.detail,
            "calls": line.calls,
            "quantity": line.quantity,
            "unit": line.unit,
            "amount": format_amount(line.amount, bill.decimals),
            "tax_rate": None if line.tax_rate is None else str(line.tax_rate),
        }
        for line in bill.lines
    ]
