"""How one call was priced, in words an operator can read to a customer.

This is about one call, so it is plain Python with Decimal: it restates the engine's
decision (which it takes from the rated row) step by step, and recomputes the charge
from the chosen rate's tiers so that the explanation and the bill can never disagree
silently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

from cdr_rating.choices import RoundingMethod
from cdr_rating.errors import UsageError
from cdr_rating.money import NANO
from cdr_rating.rating import RatingPlan
from cdr_rating.sheets import RateSheet

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROS = 1_000_000
_ROUNDING = {
    RoundingMethod.HALF_UP: ROUND_HALF_UP,
    RoundingMethod.HALF_EVEN: ROUND_HALF_EVEN,
    RoundingMethod.UP: ROUND_CEILING,
    RoundingMethod.DOWN: ROUND_DOWN,
}


@dataclass(frozen=True)
class _Rate:
    """One rate of the sheet (its tiers), as the explanation needs it."""

    prefix: str
    band: str
    destination: str
    effective_from: int | None
    effective_to: int | None
    lines: list[int]
    tiers: list[dict[str, Any]]

    def effective_at(self, epoch: int) -> bool:
        return (self.effective_from is None or self.effective_from <= epoch) and (
            self.effective_to is None or epoch < self.effective_to
        )


def explain_call(
    call_id: str, rated_calls: pl.DataFrame, rejects: pl.DataFrame, plan: RatingPlan
) -> str:
    """The explanation of ``call_id`` (rated or rejected: ``rate_files``' two frames)."""
    rated = rated_calls.filter(pl.col("call_id") == call_id)
    if rated.height:
        return _explain_rated(rated.row(0, named=True), plan)
    rejected = rejects.filter(pl.col("call_id") == call_id)
    if rejected.height:
        row = rejected.row(0, named=True)
        return "\n".join(
            [
                f"Call {call_id} was not rated ({row['file']} line {row['line']}).",
                f"  reason:  {row['reason']}",
                f"  message: {row['message']}",
                f"  input:   {row['raw']}",
            ]
        )
    raise UsageError(f"call_id {call_id!r} is not in the given input files")


def explain_stored(
    call_id: str,
    stored: pl.DataFrame,
    again: tuple[pl.DataFrame, pl.DataFrame],
    plan: RatingPlan,
    sheets: str,
    billed: pl.DataFrame | None = None,
) -> str:
    """A stored call: how it was priced then (the stored row), what the invoice bills for
    it (``billed``: the call as billed, with its allowance), how ``plan`` prices it now
    (``again``, from ``jobs.rerate.price_again``), and the difference."""
    row = stored.row(0, named=True)
    lines = [f"Call {call_id}, stored in {row['_from']}."]
    if row["_origin"] == "rated":
        lines += [
            "Then (as stored and billed):",
            f"  sheet {row['sheet']}, prefix {row['prefix']} ({row['destination']}), band "
            f"{row['band']}, billable {row['billable_s']} s, charge {_plain(row['charge'])} "
            f"{row['currency']}",
        ]
        lines += _billed_lines(billed, row["currency"])
    else:
        lines += ["Then: not rated", f"  reason: {row['reason']}: {row['message']}"]
    rated, failed = again
    lines.append(f"Now (sheets in {sheets}):")
    if rated.height:
        now = rated.row(0, named=True)
        lines += ["  " + line for line in _explain_rated(now, plan).splitlines()]
        before = row["charge"] if row["_origin"] == "rated" else Decimal(0)
        lines.append(f"Difference: {_plain(now['charge'] - before)} {now['currency']}")
    else:
        lines.append(f"  not rated: {failed.row(0, named=True)['message']}")
    return "\n".join(lines)


def _billed_lines(billed: pl.DataFrame | None, currency: str) -> list[str]:
    """What the period's invoice bills for the call: its charge less the allowance."""
    if billed is None or billed.is_empty():
        return []
    call = billed.row(0, named=True)
    if not call["allowance_s"]:
        return [f"  the invoice bills it in full: {_plain(call['billed'])} {currency}"]
    value = call["charge"] - call["billed"]
    return [
        f"  allowance {call['allowance']} covers {call['allowance_s']} of its "
        f"{call['billable_s']} billable seconds, worth {_plain(value)} {currency}",
        f"  the invoice bills {_plain(call['billed'])} {currency} for it",
    ]


def _explain_rated(call: dict[str, Any], plan: RatingPlan) -> str:
    sheet = plan.sheets[plan.sheet_index(call["sheet"])]
    settings = sheet.settings
    start: dt.datetime = call["start"]
    local = start.astimezone(sheet.zone)
    epoch = int(start.timestamp())
    duration = Decimal(call["duration_s"])
    lines = [
        f"Call {call['call_id']} ({call['file']} line {call['line']})",
        f"  number:   callee {call['callee']!r} normalised to {call['number']}",
        f"  account:  {call.get('account') or '-'} rated with sheet {sheet.id} ({sheet.currency})",
        f"  start:    {start:%Y-%m-%d %H:%M:%S} UTC = {local:%a %Y-%m-%d %H:%M:%S %Z} "
        f"in {settings.timezone}",
        f"  band:     {call['band']} ({_band_reason(sheet, local, call['band'])})",
        f"  duration: {duration} s billable ({call.get('disposition') or 'ANSWERED'})",
        "",
        "Rates whose prefix starts the number (longest effective prefix for the band wins):",
    ]
    rates = _candidate_rates(sheet, call["number"])
    in_force = [r for r in rates if r.prefix == call["prefix"] and r.effective_at(epoch)]
    chosen = next((r for r in in_force if r.band == call["band"]), None) or next(
        r for r in in_force if r.band == ""
    )
    for rate in rates:
        lines.append(
            f"  line {','.join(map(str, rate.lines)):<8} prefix {rate.prefix:<15} "
            f"band {rate.band or '(all)':<10} {_window(rate, sheet):<34} "
            f"{_verdict(rate, chosen, call['band'], epoch)}"
        )
    lines += ["", f"Chosen: prefix {chosen.prefix} {chosen.destination!r}, tiers:"]
    billed = _tier_lines(chosen, call, settings.grace_s, lines)
    exact = sum(
        (
            b * Decimal(t["rate_nano"]) / NANO / t["unit_s"]
            for b, t in zip(billed, chosen.tiers, strict=True)
        ),
        Decimal(0),
    )
    billable = sum(billed)
    if billable and settings.band_mode == "split":
        pieces = _band_pieces(plan, sheet, call, rates, chosen, billed)
        if pieces:
            lines.append("The call crosses a band change (band_mode split); priced in pieces:")
            lines += [text for text, _ in pieces]
            exact = sum((amount for _, amount in pieces), Decimal(0))
    connect_fee = Decimal(chosen.tiers[0]["connect_fee_nano"]) / NANO if billable else Decimal(0)
    max_cost = chosen.tiers[0]["max_cost_nano"]
    total = connect_fee + exact
    lines.append(
        f"  connect fee {_plain(connect_fee)}; usage {_plain(exact)}; exact {_plain(total)}"
    )
    if max_cost is not None:
        cap = Decimal(max_cost) / NANO
        lines.append(f"  cap {_plain(cap)}: " + ("applied" if total > cap else "not reached"))
        total = min(total, cap)
    rounding = settings.rounding
    rounded = total.quantize(
        Decimal(1).scaleb(-rounding.decimals), rounding=_ROUNDING[rounding.method]
    )
    lines.append(
        f"  rounded {rounding.method.value} to {rounding.decimals} decimals: "
        f"{rounded} {sheet.currency}"
    )
    engine = Decimal(call["charge"]).quantize(Decimal(1).scaleb(-rounding.decimals))
    lines.append(f"Charge: {engine} {sheet.currency} for {call['billable_s']} billable seconds")
    if engine != rounded:
        lines.append("  WARNING: the recomputation above disagrees with the charge; please report")
    return "\n".join(lines)


def _candidate_rates(sheet: RateSheet, number: str) -> list[_Rate]:
    rows = sheet.rows.filter(pl.lit(number).str.starts_with(pl.col("prefix"))).sort(
        pl.col("prefix").str.len_chars(),
        "band",
        "effective_from",
        "from_s",
        descending=[True, False, False, False],
        nulls_last=False,
    )
    grouped = rows.group_by(
        "prefix", "band", "effective_from", "effective_to", maintain_order=True
    ).agg(pl.col("line").unique().sort(), pl.col("destination").first(), tiers=pl.struct(pl.all()))
    return [
        _Rate(
            prefix=row["prefix"],
            band=row["band"],
            destination=row["destination"],
            effective_from=row["effective_from"],
            effective_to=row["effective_to"],
            lines=row["line"],
            tiers=row["tiers"],
        )
        for row in grouped.to_dicts()
    ]


def _band_reason(sheet: RateSheet, local: dt.datetime, band: str) -> str:
    settings = sheet.settings
    if local.date() in settings.holidays:
        return f"{local.date()} is a holiday"
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    for window in settings.band_windows().get(band, []):
        if day in window.days:
            return f"window {','.join(window.days)} {window.start}-{window.end}"
    return "no band window covers this time: the default band"


def _window(rate: _Rate, sheet: RateSheet) -> str:
    def when(epoch: int | None) -> str:
        if epoch is None:
            return "open"
        return f"{dt.datetime.fromtimestamp(epoch, sheet.zone):%Y-%m-%d %H:%M}"

    if rate.effective_from is None and rate.effective_to is None:
        return "always"
    return f"{when(rate.effective_from)} to {when(rate.effective_to)}"


def _verdict(rate: _Rate, chosen: _Rate, band: str, epoch: int) -> str:
    if rate is chosen:
        return "<- chosen"
    if not rate.effective_at(epoch):
        return "not in force at the start"
    if rate.band not in (band, ""):
        return f"for band {rate.band}, not {band}"
    if rate.prefix == chosen.prefix:
        return "all-bands row; the band's own row wins"
    return "shorter prefix"


def _tier_lines(rate: _Rate, call: dict[str, Any], grace_s: int, lines: list[str]) -> list[int]:
    """Billed seconds of each tier, with a line of arithmetic for each."""
    duration_ms = int(Decimal(call["duration_s"]) * 1000)
    if duration_ms <= grace_s * 1000:
        lines.append(f"  duration within the grace of {grace_s} s: nothing to bill")
        return [0 for _ in rate.tiers]
    starts = [tier["from_s"] for tier in rate.tiers] + [None]
    billed_by_tier = []
    for index, tier in enumerate(rate.tiers):
        end = starts[index + 1]
        reach = duration_ms if end is None else min(duration_ms, end * 1000)
        used_ms = max(0, reach - tier["from_s"] * 1000)
        increment = tier["increment_s"]
        billed = -(-used_ms // (increment * 1000)) * increment
        price = Decimal(tier["rate_nano"]) / NANO
        billed_by_tier.append(billed)
        lines.append(
            f"  from {tier['from_s']} s by {increment} s: used {Decimal(used_ms) / 1000} s, "
            f"billed {billed} s x {_plain(price)} / {tier['unit_s']} s = "
            f"{_plain(billed * price / tier['unit_s'])}"
        )
    return billed_by_tier


def _band_pieces(
    plan: RatingPlan,
    sheet: RateSheet,
    call: dict[str, Any],
    rates: list[_Rate],
    chosen: _Rate,
    billed: list[int],
) -> list[tuple[str, Decimal]]:
    """The billed tiers laid out from the start and cut at band changes (docs/rating.md).

    Empty when the call stays in one band.
    """
    start: dt.datetime = call["start"]
    start_us = (start - _EPOCH) // dt.timedelta(microseconds=1)
    end_us = start_us + sum(billed) * _MICROS
    epoch = start_us // _MICROS
    index = plan.sheet_index(sheet.id)
    timeline = (
        plan.calendar.timeline(
            list(plan.sheets), [index], start, start + dt.timedelta(seconds=sum(billed))
        )
        .with_columns(until=pl.col("change").shift(-1))
        .filter(
            (pl.col("until").is_null() | (pl.col("until") * _MICROS > start_us))
            & (pl.col("change") * _MICROS < end_us)
        )
    )
    if timeline.height < 2:
        return []  # one band throughout: the tiers above are the whole story
    names = sheet.settings.band_names
    tier_starts = [start_us + sum(billed[:k]) * _MICROS for k in range(len(billed))]
    pieces = []
    for change, band, until in timeline.select("change", "band", "until").rows():
        band_name = names[band]
        rate = _rate_for_band(rates, band_name, epoch) or chosen
        for k, (offset, seconds) in enumerate(zip(tier_starts, billed, strict=True)):
            piece_from = max(offset, change * _MICROS)
            piece_to = min(offset + seconds * _MICROS, end_us if until is None else until * _MICROS)
            if piece_to <= piece_from:
                continue
            tier = rate.tiers[min(k, len(rate.tiers) - 1)]
            length = Decimal(piece_to - piece_from) / _MICROS
            price = Decimal(tier["rate_nano"]) / NANO
            amount = length * price / tier["unit_s"]
            local = (_EPOCH + dt.timedelta(microseconds=piece_from)).astimezone(sheet.zone)
            pieces.append(
                (
                    f"  from {local:%a %H:%M:%S} band {band_name}, tier {k + 1}, prefix "
                    f"{rate.prefix}: {_plain(length)} s x {_plain(price)} / {tier['unit_s']} s"
                    f" = {_plain(amount)}",
                    amount,
                )
            )
    return pieces


def _rate_for_band(rates: list[_Rate], band: str, epoch: int) -> _Rate | None:
    """The rate the engine would choose for this number in ``band`` (rules of rating.md)."""
    usable = [r for r in rates if r.effective_at(epoch) and r.band in (band, "")]
    usable.sort(key=lambda r: (len(r.prefix), r.band == band), reverse=True)
    return usable[0] if usable else None


def _plain(value: Decimal) -> str:
    """A decimal without trailing zeros; a repeating one is cut at 12 places with '...'."""
    if value != value.quantize(Decimal("1e-12")):
        return f"{value.quantize(Decimal('1e-12')):f}..."
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
