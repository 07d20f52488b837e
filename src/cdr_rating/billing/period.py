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
import math
from collections.abc import Iterator, Mapping, Sequence
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
# Above this many combinations of key values, ``sorted_groups`` cannot pack them in one
# Int64 and groups on the keys themselves.
PACKED_LIMIT = 2**62


class BillLine(NamedTuple):
    """One invoice line, exact. ``tax_rate`` None: not taxable.

    A named tuple, not a dataclass: it is built several times faster, and an invoice
    can have thousands of lines.
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


# The columns of a frame of usage or allowance lines, in BillLine's field order after
# ``kind`` (``unit`` is always "min").
LINE_COLUMNS = ("description", "amount", "detail", "calls", "quantity", "tax_rate", "seconds")


class BillLines(Sequence[BillLine]):
    """A bill's lines: its usage and allowance lines kept as frame rows until read,
    then its fees and commitment.

    A month of a large operator has millions of usage lines (one per account,
    destination and band). Totals and taxes need only their sums per tax rate, which
    Polars gives; the ``BillLine`` objects are built when something reads the lines (a
    document, the ledger), once, and only for that bill.
    """

    __slots__ = ("_frames", "_lines", "_others", "_rates")

    def __init__(
        self,
        frames: Sequence[tuple[str, pl.DataFrame]],
        others: Sequence[BillLine],
        rates: Mapping[str | None, Decimal | None],
    ) -> None:
        self._frames = frames
        self._others = others
        self._rates = rates
        self._lines: tuple[BillLine, ...] | None = None

    def _built(self) -> tuple[BillLine, ...]:
        if self._lines is None:
            built: list[BillLine] = []
            rates = self._rates
            for kind, frame in self._frames:
                # Positional, in BillLine's field order: this runs once per line.
                built += (
                    BillLine(
                        kind,
                        description,
                        amount,
                        detail,
                        calls,
                        quantity,
                        "min",
                        rates[tax],
                        seconds,
                    )
                    for description, amount, detail, calls, quantity, tax, seconds in frame.rows()
                )
            self._lines = (*built, *self._others)
            self._frames = ()
        return self._lines

    def __len__(self) -> int:
        if self._lines is not None:
            return len(self._lines)
        return sum(frame.height for _, frame in self._frames) + len(self._others)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]  # int or slice
        return self._built()[index]

    def __iter__(self) -> Iterator[BillLine]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to tuples, so not hashable

    def __repr__(self) -> str:
        return f"BillLines({len(self)} lines)"


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
    lines: Sequence[BillLine]
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
    billed = with_tax_rate(billed, versions, start)
    current = _versions_at(versions, end, only)
    usage = _by_account(usage_lines(billed) if detail else _usage_summary(billed))
    allowances = _by_account(_allowance_use(billed)) if detail else {}
    fees = _fees(rules, current, start, end)
    per_rate = _billed_by_tax_rate(billed)
    rates = {text: _tax(text) for text in versions.get_column("tax_rate").unique().to_list()}
    bills = []
    for version in current.iter_rows(named=True):
        account = version["account"]
        frames = [
            (kind, lines[account])
            for kind, lines in (("usage", usage), ("allowance", allowances))
            if account in lines
        ]
        usage_bases = per_rate.get(account, {})
        net = sum(usage_bases.values(), Decimal(0))
        others = [*fees.get(account, []), *_commitment(version, net)]
        if frames or others:
            lines = BillLines(frames, others, rates)
            bills.append(_bill(rules, version, lines, others, usage_bases))
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


def with_tax_rate(calls: pl.DataFrame, versions: pl.DataFrame, start: dt.datetime) -> pl.DataFrame:
    """``tax_rate`` (text) of the account's plan version in force at each call's start.

    Most accounts have one version for the whole period: their calls take its rate by
    a plain join. Only the calls of accounts whose plan changes during the period (or
    begins in it) need an as-of join, which sorts them by start.
    """
    table = versions.select("account", "effective_from", "tax_rate")
    began = int(start.timestamp())
    # The versions in force at some time of the period: the last one that began by its
    # start, and every one that begins in it (later ones do not matter to its calls).
    relevant = table.filter(
        (pl.col("effective_from") > began)
        | (
            pl.col("effective_from")
            == pl.col("effective_from")
            .filter(pl.col("effective_from") <= began)
            .max()
            .over("account")
        )
    )
    steady = relevant.filter(
        (pl.len().over("account") == 1) & (pl.col("effective_from") <= began)
    ).select("account", "tax_rate")
    # Only the columns needed, and the rate alone put back: a join of the whole frame
    # would copy every column of millions of calls.
    keyed = calls.select("account", "start").with_row_index("_call")
    rate = keyed.join(steady, on="account", how="left", maintain_order="left")
    tax_rate = rate.get_column("tax_rate")
    changing = keyed.join(steady, on="account", how="anti")
    if not changing.is_empty():
        found = (
            changing.with_columns(_at=pl.col("start").dt.epoch("s"))
            .sort("account", "_at")
            .join_asof(
                relevant.sort("account", "effective_from"),
                left_on="_at",
                right_on="effective_from",
                by="account",
                check_sortedness=False,  # sorted within each account, as asked
            )
        )
        tax_rate = tax_rate.scatter(found.get_column("_call"), found.get_column("tax_rate"))
    return calls.with_columns(tax_rate)


def _tax(text: str | None) -> Decimal | None:
    return Decimal(text) if text else None


# The calls an invoice shows (as usage lines and in its appendix): those with billed
# seconds or a charge.
SHOWN = (pl.col("billable_s") > 0) | (pl.col("charge") != 0)


def usage_lines(calls: pl.DataFrame) -> pl.DataFrame:
    """Usage lines: calls of one destination in one band, per account and tax rate."""
    shown = (
        calls.select("account", "destination", "prefix", "band", "tax_rate", "billable_s", "charge")
        .filter(SHOWN)
        .with_columns(
            destination=pl.when(pl.col("destination").fill_null("") == "")
            .then(pl.format("+{}", pl.col("prefix")))
            .otherwise(pl.col("destination"))
        )
    )
    lines = sorted_groups(
        shown,
        ("account", "destination", "band", "tax_rate"),
        calls=pl.len(),
        seconds=pl.col("billable_s").sum(),
        amount=pl.col("charge").sum(),
    )
    return lines.rename({"destination": "description", "band": "detail"})


def sorted_groups(frame: pl.DataFrame, keys: Sequence[str], **aggs: pl.Expr) -> pl.DataFrame:
    """``frame.group_by(keys).agg(**aggs).sort(keys)``, computed on one integer.

    Each key is replaced by its rank among its distinct values (a handful of bands and
    tax rates, thousands of accounts and destinations) and the ranks are packed into one
    Int64, so that grouping and sorting millions of lines compares integers, not
    several strings: the slowest step of billing a month otherwise.
    """
    ranked = [frame.get_column(key).unique().sort() for key in keys]
    if frame.is_empty() or math.prod(len(values) for values in ranked) >= PACKED_LIMIT:
        # Nothing to pack (Polars cannot replace with an empty mapping), or too many
        # combinations for one Int64: not for a real month (10^6 accounts x 10^5
        # destinations x 100 bands x 100 tax rates is 10^15).
        return frame.group_by(keys).agg(**aggs).sort(keys)
    packed = pl.lit(0, pl.Int64)
    for key, values in zip(keys, ranked, strict=True):
        rank = pl.int_range(len(values), dtype=pl.Int64, eager=True)
        packed = packed * len(values) + pl.col(key).replace_strict(values, rank)
    grouped = frame.group_by(_key=packed).agg(**aggs).sort("_key")
    code = grouped.get_column("_key")
    decoded: dict[str, pl.Series] = {}
    for key, values in zip(reversed(keys), reversed(ranked), strict=True):
        decoded[key] = values.gather(code % len(values))
        code = code // len(values)
    return grouped.select(*(decoded[key].alias(key) for key in keys), pl.exclude("_key"))


def _usage_summary(calls: pl.DataFrame) -> pl.DataFrame:
    """One line per account and tax rate: usage after allowances."""
    return sorted_groups(
        calls.select("account", "tax_rate", "billable_s", "charge", "billed").filter(SHOWN),
        ("account", "tax_rate"),
        calls=pl.len(),
        seconds=pl.col("billable_s").sum(),
        amount=pl.col("billed").sum(),
    ).with_columns(description=pl.lit("Usage after allowances"), detail=pl.lit(""))


def _allowance_use(calls: pl.DataFrame) -> pl.DataFrame:
    """Allowance lines: the value of the covered seconds, negative, per allowance."""
    return (
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


def _by_account(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Per account, its rows of ``frame`` (lines sorted by account: ``account``,
    ``description``, ``detail``, ``calls``, ``seconds``, ``amount``, ``tax_rate``) with
    the columns of ``LINE_COLUMNS``.

    Slices of one frame, not copies: a period of a large operator has a line per
    account, destination and band, millions of them.
    """
    lines = frame.with_columns(quantity=minutes_text(pl.col("seconds")))
    counts = lines.group_by("account", maintain_order=True).len()
    offsets = counts.get_column("len").cum_sum() - counts.get_column("len")
    lines = lines.select(LINE_COLUMNS)
    return {
        account: lines.slice(offset, length)
        for account, offset, length in zip(
            counts.get_column("account").to_list(),
            offsets.to_list(),
            counts.get_column("len").to_list(),
            strict=True,
        )
    }


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
    sums = sorted_groups(calls, ("account", "tax_rate"), billed=pl.col("billed").sum())
    found: dict[str, dict[Decimal | None, Decimal]] = {}
    for account, rate, amount in sums.iter_rows():
        found.setdefault(account, {})[_tax(rate)] = Decimal(amount)
    return found


def _bill(
    rules: BillingRules,
    version: dict[str, object],
    lines: BillLines,
    others: Sequence[BillLine],
    usage_bases: Mapping[Decimal | None, Decimal],
) -> Bill:
    """The bill of ``lines``. ``usage_bases`` is what the usage and allowance lines sum
    to per tax rate (``None``: not taxable), so that only the few ``others`` (fees and
    commitment) are summed here."""
    currency = str(version["currency"])
    money_places = rules.decimals_of(currency)
    places = Decimal(1).scaleb(-money_places)
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
