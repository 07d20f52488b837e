"""Re-rating as frame functions: what changes when a period's calls are priced again.

Per account, ``compare`` sets what was billed against what the re-rated calls bill:

- ``billed``: for an account with a final invoice, that invoice's total plus the notes
  already issued against it; otherwise what the stored calls bill (a draft);
- ``rerated``: what the re-rated calls bill.

``changes`` lists every call whose prefix, band, billable seconds or charge changed,
or that moved between rated and rejected; ``note_bill`` turns a change into the lines
of the credit or debit note that settles it. The store and the ledger around this are
``cdr_rating.jobs.rerate``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from cdr_rating.billing.allowances import allowance_table
from cdr_rating.billing.period import (
    Bill,
    BillingRules,
    BillLine,
    PeriodBill,
    TaxLine,
    bill_period,
    minutes,
    tax_amount,
    tax_bases,
)
from cdr_rating.money import DECIMAL_PRECISION, MAX_DECIMALS, format_amount
from cdr_rating.rating import RatingPlan
from cdr_rating.rating.engine import stored_as_input

# Rejects that other sheets or accounts may rate.
RERATEABLE = ("no_rate", "unknown_account")
MONEY = pl.Decimal(DECIMAL_PRECISION, MAX_DECIMALS)
CHANGE_COLUMNS = ("prefix", "band", "billable_s", "charge")
CHANGES_SCHEMA = pl.Schema(
    {
        "call_id": pl.String(),
        "account": pl.String(),
        "start": pl.Datetime("us", "UTC"),
        "number": pl.String(),
        **{
            f"{c}_{side}": t
            for side in ("before", "after")
            for c, t in (
                ("prefix", pl.String()),
                ("band", pl.String()),
                ("billable_s", pl.Int64()),
                ("charge", MONEY),
            )
        },
        "difference": MONEY,
    }
)
LineKey = tuple[str, str, str, str]  # kind, description, detail, tax rate ("" = none)


@dataclass(frozen=True)
class Invoiced:
    """A final invoice of the period, with what it bills including its final notes."""

    account: str
    number: str
    invoice_id: int
    currency: str
    total: Decimal


@dataclass(frozen=True)
class AccountChange:
    """One account's bill before and after; amounts are totals (currency decimals)."""

    account: str
    currency: str
    currency_decimals: int
    invoice: str | None
    billed: Decimal
    rerated: Decimal
    before: Bill | None
    after: Bill | None
    calls_changed: int

    @property
    def difference(self) -> Decimal:
        return self.rerated - self.billed

    def as_dict(self) -> dict[str, Any]:
        places = self.currency_decimals
        return {
            "account": self.account,
            "currency": self.currency,
            "invoice": self.invoice,
            "billed": format_amount(self.billed, places),
            "rerated": format_amount(self.rerated, places),
            "difference": format_amount(self.difference, places),
            "calls_changed": self.calls_changed,
        }


@dataclass
class RerateResult:
    """Everything a re-rating found; ``changes`` is one row per changed call
    (``CHANGES_SCHEMA``)."""

    period: str
    account: str | None
    accounts: list[AccountChange]
    changes: pl.DataFrame
    calls: int  # stored rows re-rated: rated calls and re-rateable rejects
    sheets_before: list[dict[str, str]]
    sheets_after: list[dict[str, str]]
    slices: int = 1
    # What apply writes: the files of the period that re-rating touched, and where the
    # new rows of each slice were spilled (``jobs.rerate``).
    touched: list[str] = field(default_factory=list)

    def total_difference(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for change in self.accounts:
            totals[change.currency] = totals.get(change.currency, Decimal(0)) + change.difference
        return totals

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``cdr-rating rerate`` (ARCHITECTURE.md section 8).

        ``total_difference`` is a string when every account bills in one currency,
        otherwise an object by currency (amounts in different currencies do not add).
        """
        by_currency = {
            currency: format_amount(amount, self._places(currency))
            for currency, amount in sorted(self.total_difference().items())
        }
        total: str | dict[str, str] | None = (
            next(iter(by_currency.values())) if len(by_currency) == 1 else by_currency or None
        )
        return {
            "period": self.period,
            "accounts": [change.as_dict() for change in self.accounts],
            "total_difference": total if total is not None else "0.00",
            "calls_changed": self.changes.height,
        }

    def _places(self, currency: str) -> int:
        return next(c.currency_decimals for c in self.accounts if c.currency == currency)

    @property
    def unchanged(self) -> bool:
        return self.changes.is_empty() and all(c.difference == 0 for c in self.accounts)


def retryable(rejects: pl.DataFrame, account: str | None) -> pl.DataFrame:
    """Stored rejects that may rate now (those kept with what rating needs)."""
    keep = pl.col("reason").is_in(RERATEABLE) & pl.col("duration_s").is_not_null()
    if account is not None:
        keep &= pl.col("account") == account
    return rejects.filter(keep)


def engine_input(rated: pl.DataFrame, rejects: pl.DataFrame) -> pl.DataFrame:
    """Stored rated calls and rejects (stored schemas, with ``_from``) back in the
    engine's input shape, each with ``_from`` and ``_origin`` (``rated`` | ``rejects``)."""
    passthrough = ("disposition", "service", "file", "line")
    return pl.concat(
        [
            stored_as_input(rated, passthrough).with_columns(
                caller_number=pl.lit(None, pl.String), _origin=pl.lit("rated")
            ),
            stored_as_input(rejects, ("file", "line", "caller_number")).with_columns(
                _origin=pl.lit("rejects")
            ),
        ],
        how="diagonal_relaxed",
    )


def changes(old: pl.DataFrame, retried: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """One row per call whose prefix, band, billable seconds or charge changed, or that
    moved between rated and rejected (``CHANGES_SCHEMA``).

    ``old``: stored rated calls; ``retried``: stored rejects priced again; ``new``: the
    rated calls of both, as re-rated."""
    before = pl.concat(
        [
            old.select(
                "call_id",
                "account",
                "start",
                "number",
                *(pl.col(c).alias(f"{c}_before") for c in CHANGE_COLUMNS),
            ),
            retried.select("call_id", "account", "start", "number"),
        ],
        how="diagonal_relaxed",
    )
    after = new.select(
        "call_id", "account", *(pl.col(c).alias(f"{c}_after") for c in CHANGE_COLUMNS)
    )
    joined = before.join(after, on="call_id", how="full", coalesce=True, suffix="_new")
    differs = pl.lit(value=False)
    for column in CHANGE_COLUMNS:
        differs |= pl.col(f"{column}_before").ne_missing(pl.col(f"{column}_after"))
    found = (
        joined.filter(differs)
        .with_columns(
            account=pl.coalesce("account_new", "account"),
            difference=pl.col("charge_after").fill_null(0) - pl.col("charge_before").fill_null(0),
        )
        .drop("account_new")
    )
    return (
        pl.concat([pl.DataFrame(schema=CHANGES_SCHEMA), found], how="diagonal_relaxed")
        .select(CHANGES_SCHEMA.names())
        .cast(CHANGES_SCHEMA)
        .sort("account", "start", "call_id")
    )


def compare(
    invoiced: dict[str, Invoiced],
    accounts: Sequence[str],
    before: tuple[BillingRules, RatingPlan, pl.DataFrame],
    after: tuple[BillingRules, RatingPlan, pl.DataFrame],
    changes: pl.DataFrame,
    *,
    detail: Sequence[str] = (),
) -> list[AccountChange]:
    """Per account of ``accounts``: billed (final invoice plus notes, or the stored
    calls' bill) and re-rated totals. Calls are those of these accounts, before and
    after; the new bills of the accounts in ``detail`` are itemised (for their notes)."""
    after_rules, after_plan, after_calls = after
    before_rules, before_plan, before_calls = before
    only = list(accounts)
    new = bill_period(after_calls, after_rules, after_plan, only, detail=False)
    detailed = bill_period(after_calls, after_rules, after_plan, list(detail)) if detail else None
    counts = dict(changes.group_by("account").len().iter_rows()) if not changes.is_empty() else {}
    # Accounts without a final invoice are billed from their stored calls. When no call
    # of an account changed and the allowances are the same, that bill is the new one.
    same_allowances = allowance_table(before_rules.sheets).equals(
        allowance_table(after_rules.sheets)
    )
    waiting = [
        bill.account
        for bill in new.bills
        if bill.account not in invoiced and (bill.account in counts or not same_allowances)
    ]
    old: PeriodBill | None = None
    if waiting:
        old = bill_period(before_calls, before_rules, before_plan, waiting, detail=False)
    found = []
    names = sorted({bill.account for bill in new.bills} | (set(only) & set(invoiced)))
    for name in names:
        after_bill = new.bill_of(name)
        if detailed is not None and detailed.bill_of(name) is not None:
            after_bill = detailed.bill_of(name)
        previous = invoiced.get(name)
        before_bill = old.bill_of(name) if old is not None else None
        if before_bill is None and name not in invoiced and name not in counts:
            before_bill = after_bill if same_allowances else None
        reference = after_bill or before_bill
        if reference is None and previous is None:
            continue
        currency = reference.currency if reference else previous.currency  # type: ignore[union-attr]
        places = reference.currency_decimals if reference else 2
        billed = previous.total if previous else (before_bill.total if before_bill else Decimal(0))
        found.append(
            AccountChange(
                account=name,
                currency=currency,
                currency_decimals=places,
                invoice=previous.number if previous else None,
                billed=billed,
                rerated=after_bill.total if after_bill else Decimal(0),
                before=before_bill,
                after=after_bill,
                calls_changed=int(counts.get(name, 0)),
            )
        )
    return found


def note_bill(change: AccountChange, old: dict[LineKey, dict[str, Any]]) -> Bill:
    """The note of ``change``: per-line differences, tax effect per rate, new - billed."""
    assert change.after is not None
    new: dict[LineKey, BillLine] = {
        (
            line.kind,
            line.description,
            line.detail,
            "" if line.tax_rate is None else str(line.tax_rate),
        ): line
        for line in change.after.lines
    }
    lines = []
    for key in sorted(set(new) | set(old)):
        after = new.get(key)
        before = old.get(key, {"amount": Decimal(0), "calls": 0, "seconds": 0})
        amount = (after.amount if after else Decimal(0)) - before["amount"]
        calls = ((after.calls or 0) if after else 0) - before["calls"]
        seconds = ((after.seconds or 0) if after else 0) - before["seconds"]
        if amount == 0 and calls == 0:
            continue
        kind, description, detail, rate_text = key
        lines.append(
            BillLine(
                kind=kind,
                description=description,
                detail=detail,
                calls=calls if kind in ("usage", "allowance") else None,
                quantity=minutes(seconds) if kind in ("usage", "allowance") else "",
                unit="min" if kind in ("usage", "allowance") else "",
                amount=amount,
                tax_rate=Decimal(rate_text) if rate_text else None,
                seconds=seconds,
            )
        )
    places = change.currency_decimals
    bases_new = tax_bases(change.after.lines)
    bases_old: dict[Decimal, Decimal] = {}
    for (_, _, _, rate_text), billed in old.items():
        if rate_text:
            rate = Decimal(rate_text)
            bases_old[rate] = bases_old.get(rate, Decimal(0)) + billed["amount"]
    taxes = []
    for rate in sorted(set(bases_new) | set(bases_old), reverse=True):
        new_base, old_base = bases_new.get(rate, Decimal(0)), bases_old.get(rate, Decimal(0))
        effect = tax_amount(new_base, rate, places) - tax_amount(old_base, rate, places)
        if new_base != old_base or effect:
            taxes.append(TaxLine(rate, new_base - old_base, effect))
    subtotal = sum((item.amount for item in lines), Decimal(0))
    tax_total = sum((item.amount for item in taxes), Decimal(0))
    total = change.difference
    return dataclasses.replace(
        change.after,
        lines=tuple(lines),
        taxes=tuple(taxes),
        subtotal=subtotal,
        tax=tax_total,
        rounding=total - subtotal - tax_total,
        total=total,
    )
