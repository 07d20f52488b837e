"""Period close as frame functions: from a period's rated calls to one bill per account.

``bill_period`` applies the period rules (ARCHITECTURE.md 5.4 and 10): allowances in
chronological order, recurring and one-off fees (prorated when asked), the minimum
monthly commitment, and taxes per rate. Calls are aggregated with Polars; only the
per-account totals (a handful of lines each) are summed in Python, with Decimal.

Invoice arithmetic, exactly:

- a usage line (one destination in one band) is the sum of its calls' rounded charges,
  so the usage lines always add up to the period's rated charges;
- an allowance line is minus the value of the seconds it covered (charge minus the
  charge still due, per call);
- a prorated fee is ``amount * days / days_in_period``, rounded half-up to the currency;
- the commitment top-up is ``minimum - usage after allowances`` when positive;
- the tax of each rate is ``rate * (sum of the lines taxed at it)``, rounded half-up to
  the currency's decimals once per invoice; the total is ``subtotal + taxes``, rounded
  half-up to the currency's decimals, the difference shown as rounding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

import polars as pl

from cdr_rating.billing.allowances import price_after_allowances, take_allowances
from cdr_rating.periods import period_bounds
from cdr_rating.rating import RatingPlan
from cdr_rating.sheets import RateSheet

# ISO 4217 minor units that are not 2; ``[billing] currency_decimals`` overrides.
CURRENCY_DECIMALS = {
    "BHD": 3, "CLP": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3,
    "LYD": 3, "OMR": 3, "PYG": 0, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}  # fmt: skip
MINUTE = Decimal(60)


class BillLine(NamedTuple):
    """One invoice line, exact. ``tax_rate`` None: not taxable.

    A named tuple, not a dataclass: a month of a large operator has millions of lines
    (one per account, destination and band), and a tuple is built several times faster.
    """

    kind: str
    description: str
    amount: Decimal
    detail: str = ""
    calls: int | None = None
    quantity: str = ""
    unit: str = ""
    tax_rate: Decimal | None = None
    seconds: int | None = None


@dataclass(frozen=True)
class TaxLine:
    rate: Decimal
    base: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Customer:
    account: str
    name: str
    address: str
    email: str
    itemised: bool


@dataclass(frozen=True)
class Bill:
    """One account's bill for a period: what its invoice says, exactly.

    ``decimals`` is how many decimals its line amounts carry (the sheet's, at least the
    currency's); taxes and the total have ``currency_decimals``.
    """

    account: str
    period: str
    currency: str
    decimals: int
    currency_decimals: int
    customer: Customer
    lines: tuple[BillLine, ...]
    taxes: tuple[TaxLine, ...]
    subtotal: Decimal
    tax: Decimal
    rounding: Decimal
    total: Decimal


@dataclass(frozen=True)
class BillingRules:
    """Everything besides the calls that a period's bills depend on."""

    period: str
    timezone: str
    sheets: Sequence[RateSheet]
    accounts: pl.DataFrame
    fees: pl.DataFrame | None = None
    currency_decimals: Mapping[str, int] = field(default_factory=dict)

    def decimals_of(self, currency: str) -> int:
        return self.currency_decimals.get(currency, CURRENCY_DECIMALS.get(currency, 2))


@dataclass(frozen=True)
class PeriodBill:
    """The bills of a period and its calls as billed (with ``allowance``,
    ``allowance_s``, ``billed`` and ``tax_rate``)."""

    calls: pl.DataFrame
    bills: tuple[Bill, ...]
    _by_account: dict[str, Bill] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_account.update((bill.account, bill) for bill in self.bills)

    def bill_of(self, account: str) -> Bill | None:
        return self._by_account.get(account)


def bill_period(
    calls: pl.DataFrame,
    rules: BillingRules,
    plan: RatingPlan,
    only: Sequence[str] | None = None,
    *,
    detail: bool = True,
) -> PeriodBill:
    """Bills for every account (or those in ``only``) of one period.

    ``calls`` are the period's stored rated calls. An account gets a bill when its plan
    is in force during the period and it has calls, fees or a commitment. Without
    ``detail`` the usage and allowance lines of an account are summed into one line per
    tax rate: the same totals and taxes, for a fraction of the work (re-rating compares
    totals of every account, and details only those that changed).
    """
    if only is not None:
        calls = calls.filter(pl.col("account").is_in(pl.Series(list(only)).implode()))
    start, end = period_bounds(rules.period, rules.timezone)
    versions = _account_versions(rules)
    billed = price_after_allowances(take_allowances(calls, rules.sheets), plan)
    billed = _with_tax_rate(billed, versions)
    current = _versions_at(versions, end, only)
    usage = _usage(billed) if detail else _usage_summary(billed)
    allowances = _allowance_use(billed) if detail else {}
    fees = _fees(rules, current, start, end)
    per_rate = _billed_by_tax_rate(billed)
    bills = []
    for version in current.iter_rows(named=True):
        account = version["account"]
        account_lines = [
            *usage.get(account, []),
            *allowances.get(account, []),
            *fees.get(account, []),
        ]
        usage_bases = per_rate.get(account, {})
        net = sum(usage_bases.values(), Decimal(0))
        account_lines += _commitment(version, net)
        if account_lines:
            bills.append(_bill(rules, version, tuple(account_lines), usage_bases))
    return PeriodBill(calls=billed, bills=tuple(bills))


def _account_versions(rules: BillingRules) -> pl.DataFrame:
    """Account plan versions with ``currency``, ``decimals`` and an exact ``tax``."""
    sheets = {sheet.id: sheet for sheet in rules.sheets}
    return rules.accounts.with_columns(
        pl.col("effective_from").fill_null(-(2**62)),
        currency=pl.col("sheet").replace_strict(
            {key: sheet.currency for key, sheet in sheets.items()}, default=None
        ),
        decimals=pl.col("sheet").replace_strict(
            {key: sheet.settings.rounding.decimals for key, sheet in sheets.items()},
            default=None,
            return_dtype=pl.Int64,
        ),
    ).sort("account", "effective_from")


def _versions_at(
    versions: pl.DataFrame, end: dt.datetime, only: Sequence[str] | None
) -> pl.DataFrame:
    """The latest version of each account that began before ``end`` (the period's)."""
    before = versions.filter(pl.col("effective_from") < int(end.timestamp()))
    if only is not None:
        before = before.filter(pl.col("account").is_in(pl.Series(list(only)).implode()))
    return before.group_by("account", maintain_order=True).last().sort("account")


def _with_tax_rate(calls: pl.DataFrame, versions: pl.DataFrame) -> pl.DataFrame:
    """``tax_rate`` (text) of the account's plan version in force at each call's start."""
    table = versions.select("account", "effective_from", "tax_rate")
    return (
        calls.with_row_index("_call")
        .with_columns(_at=pl.col("start").dt.epoch("s"))
        .sort("_at")
        .join_asof(
            table.sort("effective_from"),
            left_on="_at",
            right_on="effective_from",
            by="account",
            check_sortedness=False,  # sorted globally; Polars cannot tell within groups
        )
        .sort("_call")
        .drop("_call", "_at", "effective_from")
    )


def _tax(text: str | None) -> Decimal | None:
    return Decimal(text) if text else None


def _usage(calls: pl.DataFrame) -> dict[str, list[BillLine]]:
    """Usage lines: calls of one destination in one band, per account and tax rate."""
    lines = (
        calls.filter((pl.col("billable_s") > 0) | (pl.col("charge") != 0))
        .with_columns(
            destination=pl.when(pl.col("destination").fill_null("") == "")
            .then(pl.format("+{}", pl.col("prefix")))
            .otherwise(pl.col("destination"))
        )
        .group_by("account", "destination", "band", "tax_rate")
        .agg(calls=pl.len(), seconds=pl.col("billable_s").sum(), amount=pl.col("charge").sum())
        .sort("account", "destination", "band", "tax_rate")
    )
    return _lines("usage", lines.rename({"destination": "description", "band": "detail"}))


def _usage_summary(calls: pl.DataFrame) -> dict[str, list[BillLine]]:
    """One line per account and tax rate: usage after allowances."""
    summed = (
        calls.filter((pl.col("billable_s") > 0) | (pl.col("charge") != 0))
        .group_by("account", "tax_rate")
        .agg(calls=pl.len(), seconds=pl.col("billable_s").sum(), amount=pl.col("billed").sum())
        .sort("account", "tax_rate")
        .with_columns(description=pl.lit("Usage after allowances"), detail=pl.lit(""))
    )
    return _lines("usage", summed)


def _allowance_use(calls: pl.DataFrame) -> dict[str, list[BillLine]]:
    """Allowance lines: the value of the covered seconds, negative, per allowance."""
    used = (
        calls.filter(pl.col("allowance_s") > 0)
        .group_by("account", "allowance", "tax_rate")
        .agg(
            calls=pl.len(),
            seconds=pl.col("allowance_s").sum(),
            amount=(pl.col("billed") - pl.col("charge")).sum(),
        )
        .sort("account", "allowance", "tax_rate")
        .with_columns(
            description=pl.format("Included usage: {}", pl.col("allowance")), detail=pl.lit("")
        )
    )
    return _lines("allowance", used)


def _lines(kind: str, frame: pl.DataFrame) -> dict[str, list[BillLine]]:
    """Per account, one ``BillLine`` per row of ``frame`` (``account``, ``description``,
    ``detail``, ``calls``, ``seconds``, ``amount``, ``tax_rate``), in row order.

    Built from whole columns: a period of a large operator has a line per account,
    destination and band, hundreds of thousands of them.
    """
    columns = frame.with_columns(quantity=minutes_text(pl.col("seconds"))).select(
        "account", "description", "detail", "calls", "seconds", "quantity", "amount", "tax_rate"
    )
    rates = {text: _tax(text) for text in columns.get_column("tax_rate").unique().to_list()}
    found: dict[str, list[BillLine]] = {}
    # Positional, in BillLine's field order: this loop runs once per line.
    for account, description, detail, calls, seconds, quantity, amount, tax in zip(
        *(columns.get_column(name).to_list() for name in columns.columns), strict=True
    ):
        line = BillLine(
            kind, description, amount, detail, calls, quantity, "min", rates[tax], seconds
        )
        if account in found:
            found[account].append(line)
        else:
            found[account] = [line]
    return found


def minutes_text(seconds: pl.Expr) -> pl.Expr:
    """``minutes`` as an expression: hundredths of a minute, half up, as text."""
    hundredths = (seconds.abs() * 100 + 30) // 60
    sign = pl.when(seconds < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.format(
        "{}{}.{}",
        sign,
        hundredths // 100,
        (hundredths % 100).cast(pl.String).str.zfill(2),
    )


def minutes(seconds: int) -> str:
    """Seconds as minutes with two decimals (half-up): what a customer reads."""
    return f"{(Decimal(seconds) / MINUTE).quantize(Decimal('0.01'), ROUND_HALF_UP):f}"


def _fees(
    rules: BillingRules, current: pl.DataFrame, start: dt.datetime, end: dt.datetime
) -> dict[str, list[BillLine]]:
    """Monthly fees running in the period (prorated by day when asked) and one-off fees
    dated in it. Dates are calendar dates in the billing timezone."""
    if rules.fees is None:
        return {}
    first, last = start.date(), (end - dt.timedelta(days=1)).date()
    days = (last - first).days + 1
    fees = (
        rules.fees.join(current.select("account", "tax_rate", "currency"), on="account")
        .filter(
            pl.when(pl.col("kind") == "once")
            .then(pl.col("date").is_between(first, last))
            .otherwise(
                (pl.col("date") <= last)
                & (pl.col("end_date").is_null() | (pl.col("end_date") >= first))
            )
        )
        .with_columns(
            _from=pl.max_horizontal(pl.col("date"), pl.lit(first)),
            _to=pl.min_horizontal(pl.col("end_date").fill_null(last), pl.lit(last)),
        )
        .with_columns(_days=(pl.col("_to") - pl.col("_from")).dt.total_days() + 1)
        .sort("account", "kind", "line")
    )
    found: dict[str, list[BillLine]] = {}
    for row in fees.iter_rows(named=True):
        amount = Decimal(row["amount"])
        quantity, unit, detail = "1", "month", ""
        if row["kind"] == "once":
            unit, detail = "", f"one-off, {row['date']:%Y-%m-%d}"
        elif row["_days"] < days:
            detail = f"{row['_from']:%Y-%m-%d} to {row['_to']:%Y-%m-%d}"
            if row["prorate"]:
                quantity, unit = f"{row['_days']}/{days}", "days"
                places = Decimal(1).scaleb(-rules.decimals_of(row["currency"]))
                amount = (amount * row["_days"] / days).quantize(places, ROUND_HALF_UP)
        found.setdefault(row["account"], []).append(
            BillLine(
                kind="fee",
                description=row["description"],
                detail=detail,
                quantity=quantity,
                unit=unit,
                amount=amount,
                tax_rate=_tax(row["tax_rate"]) if row["taxable"] else None,
            )
        )
    return found


def _commitment(version: dict[str, object], usage: Decimal) -> list[BillLine]:
    """The top-up to the account's minimum monthly commitment, if usage fell short."""
    minimum = str(version.get("minimum_commitment") or "")
    if not minimum or Decimal(minimum) <= usage:
        return []
    return [
        BillLine(
            kind="commitment",
            description="Minimum monthly commitment",
            detail=f"commitment {minimum}, usage {usage}",
            amount=Decimal(minimum) - usage,
            tax_rate=_tax(str(version.get("tax_rate") or "")),
        )
    ]


def tax_bases(lines: Sequence[BillLine]) -> dict[Decimal, Decimal]:
    """The taxable base of each tax rate: the sum of the lines taxed at it."""
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        if line.tax_rate is not None:
            bases[line.tax_rate] = bases.get(line.tax_rate, Decimal(0)) + line.amount
    return bases


def tax_amount(base: Decimal, rate: Decimal, decimals: int) -> Decimal:
    """The tax at ``rate`` on ``base``: rounded half-up to the currency's decimals, once
    per invoice and rate."""
    return (base * rate).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)


def _billed_by_tax_rate(calls: pl.DataFrame) -> dict[str, dict[Decimal | None, Decimal]]:
    """Per account and tax rate, what its calls bill after allowances: the sum of its
    usage and allowance lines, summed in Polars rather than line by line."""
    sums = calls.group_by("account", "tax_rate").agg(pl.col("billed").sum())
    found: dict[str, dict[Decimal | None, Decimal]] = {}
    for account, rate, amount in sums.iter_rows():
        found.setdefault(account, {})[_tax(rate)] = Decimal(amount)
    return found


USAGE_KINDS = ("usage", "allowance")


def _bill(
    rules: BillingRules,
    version: dict[str, object],
    lines: tuple[BillLine, ...],
    usage_bases: Mapping[Decimal | None, Decimal],
) -> Bill:
    """The bill of ``lines``. ``usage_bases`` is what the usage and allowance lines sum
    to per tax rate (``None``: not taxable), so that only the few other lines are
    summed here."""
    currency = str(version["currency"])
    money_places = rules.decimals_of(currency)
    places = Decimal(1).scaleb(-money_places)
    others = [line for line in lines if line.kind not in USAGE_KINDS]
    subtotal = sum(usage_bases.values(), Decimal(0)) + sum(
        (line.amount for line in others), Decimal(0)
    )
    bases = tax_bases(others)
    for rate, base in usage_bases.items():
        if rate is not None:
            bases[rate] = bases.get(rate, Decimal(0)) + base
    taxes = tuple(
        TaxLine(rate, base, tax_amount(base, rate, money_places))
        for rate, base in sorted(bases.items(), reverse=True)
    )
    tax = sum((line.amount for line in taxes), Decimal(0))
    total = (subtotal + tax).quantize(places, ROUND_HALF_UP)
    return Bill(
        account=str(version["account"]),
        period=rules.period,
        currency=currency,
        decimals=max(money_places, int(str(version["decimals"]))),
        currency_decimals=money_places,
        customer=Customer(
            account=str(version["account"]),
            name=str(version["name"] or version["account"]),
            address=str(version["address"] or ""),
            email=str(version["email"] or ""),
            itemised=bool(version["itemised"]),
        ),
        lines=lines,
        taxes=taxes,
        subtotal=subtotal,
        tax=tax,
        rounding=total - subtotal - tax,
        total=total,
    )
