"""Scalar reference rater: docs/rating.md implemented one call at a time in plain Python.

It is deliberately independent of ``cdr_rating``: it parses the sheet itself with the
standard library and computes every charge as an exact ``Fraction``, rounding once at
the end. It is written for obviousness, not speed, so the vectorised engine can be
checked against something short enough to verify line by line against the spec.
"""

from __future__ import annotations

import csv
import math
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_PREFIX_DIGITS = 15
ROUNDING_METHODS = ("half_up", "half_even", "up", "down")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Window:
    """One band window: weekdays (0 = Monday) and ``[start_min, end_min)`` minutes."""

    weekdays: frozenset[int]
    start_min: int
    end_min: int


@dataclass(frozen=True)
class Tier:
    """One CSV row of a rate: where it starts, how it is billed and what it costs."""

    from_s: int
    increment_s: int
    unit_s: int
    rate: Fraction


@dataclass(frozen=True)
class Rate:
    """Rows sharing prefix, band and effective window; tiers sorted by ``from_s``."""

    prefix: str
    band: str
    effective_from: datetime | None
    effective_to: datetime | None
    tiers: tuple[Tier, ...]
    connect_fee: Fraction
    max_cost: Fraction | None

    def effective_at(self, instant: datetime) -> bool:
        """``effective_from <= instant < effective_to``, a missing bound being open."""
        if self.effective_from is not None and instant < self.effective_from:
            return False
        return self.effective_to is None or instant < self.effective_to


@dataclass(frozen=True)
class ReferenceResult:
    """What the reference says about one rated call."""

    prefix: str
    band: str
    billable_s: int
    charge: Decimal
    exact: Fraction


def parse_hhmm(text: str) -> int:
    """``"HH:MM"`` as minutes since midnight; ``"24:00"`` is 1440."""
    hours, minutes = text.split(":")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value <= 1440 or not 0 <= int(minutes) < 60:
        raise ValueError(f"bad band time {text!r}")
    return value


def parse_bound(text: str, tz: ZoneInfo) -> datetime:
    """An effective bound as a UTC instant: dates are local midnight, naive times local."""
    if _DATE_ONLY.match(text):
        local = datetime.combine(date.fromisoformat(text), time(0, 0), tzinfo=tz)
    else:
        parsed = datetime.fromisoformat(text)
        local = parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed
    return local.astimezone(UTC)


def round_fraction(value: Fraction, decimals: int, method: str) -> Decimal:
    """Round a non-negative exact value once, to ``decimals`` places, with ``method``."""
    if value < 0:
        raise ValueError("charges are never negative")
    scaled = value * 10**decimals
    quotient, remainder = divmod(scaled.numerator, scaled.denominator)
    twice, whole = 2 * remainder, scaled.denominator  # compare remainder with a half
    if method == "down":
        bump = False
    elif method == "up":
        bump = remainder > 0
    elif method == "half_up":
        bump = twice >= whole
    elif method == "half_even":
        bump = twice > whole or (twice == whole and quotient % 2 == 1)
    else:
        raise ValueError(f"unknown rounding method {method!r}")
    return Decimal(f"{quotient + int(bump)}e-{decimals}")


def _cell(row: dict[str, str | None], column: str) -> str:
    """A CSV cell stripped of blanks; a missing column or empty cell is ``""``."""
    return (row.get(column) or "").strip()


def parse_band_windows(spec: Any) -> list[Window]:
    """A ``[bands.x]`` table or ``[[bands.x]]`` array of tables as windows."""
    tables = spec if isinstance(spec, list) else [spec]
    windows = []
    for table in tables:
        days = table.get("days", list(DAYS))
        windows.append(
            Window(
                weekdays=frozenset(DAYS.index(day.lower()) for day in days),
                start_min=parse_hhmm(table.get("from", "00:00")),
                end_min=parse_hhmm(table.get("to", "24:00")),
            )
        )
    return windows


@dataclass
class ReferenceSheet:
    """A rate sheet read with the standard library only."""

    sheet_id: str
    tz: ZoneInfo
    band_mode: str
    grace_s: int
    default_band: str
    holidays: frozenset[date]
    holiday_band: str
    decimals: int
    method: str
    bands: dict[str, list[Window]]
    rates: list[Rate]

    @classmethod
    def load(cls, toml_path: Path) -> ReferenceSheet:
        """Read the TOML and its CSV as the contract (ARCHITECTURE.md section 4) says."""
        with toml_path.open("rb") as handle:
            doc = tomllib.load(handle)
        tz = ZoneInfo(doc["timezone"])
        default_band = doc.get("default_band", "offpeak")
        rounding = doc.get("rounding", {})
        holidays = frozenset(
            day if isinstance(day, date) else date.fromisoformat(day)
            for day in doc.get("holidays", [])
        )
        return cls(
            sheet_id=doc["id"],
            tz=tz,
            band_mode=doc.get("band_mode", "start"),
            grace_s=int(doc.get("grace_s", 0)),
            default_band=default_band,
            holidays=holidays,
            holiday_band=doc.get("holiday_band", default_band),
            decimals=int(rounding.get("decimals", 4)),
            method=rounding.get("method", "half_up"),
            bands={name: parse_band_windows(spec) for name, spec in doc.get("bands", {}).items()},
            rates=_load_rates(toml_path.parent / doc["rates"], tz),
        )

    def band_at(self, instant: datetime) -> str:
        """The band in force at an instant, decided on the sheet's wall clock."""
        local = instant.astimezone(self.tz)
        if local.date() in self.holidays:
            return self.holiday_band
        clock = (
            Fraction(local.hour * 3600 + local.minute * 60 + local.second)
            + Fraction(local.microsecond, 1_000_000)
        ) / 60
        for name, windows in self.bands.items():
            for window in windows:
                if (
                    local.weekday() in window.weekdays
                    and window.start_min <= clock < window.end_min
                ):
                    return name
        return self.default_band

    def select(self, number: str, instant: datetime, band: str) -> Rate | None:
        """Rules 1-4 of "Which rate": effective, band or all-bands, longest prefix."""
        matched = number[:MAX_PREFIX_DIGITS]
        best: Rate | None = None
        best_key = (-1, False)
        for rate in self.rates:
            if not rate.effective_at(instant) or rate.band not in (band, ""):
                continue
            if not matched.startswith(rate.prefix):
                continue
            key = (len(rate.prefix), rate.band == band)
            if key == best_key:
                raise ValueError(f"ambiguous rates for {number} in band {band!r}: invalid sheet")
            if key > best_key:
                best, best_key = rate, key
        return best


def _load_rates(csv_path: Path, tz: ZoneInfo) -> list[Rate]:
    """Group CSV rows into rates (same prefix, band, window), expanding ``a/b``."""
    groups: dict[tuple[str, str, str, str], list[tuple[Tier, dict[str, str | None]]]] = {}
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            prefix = _cell(row, "prefix").removeprefix("+")
            key = (
                prefix,
                _cell(row, "band"),
                _cell(row, "effective_from"),
                _cell(row, "effective_to"),
            )
            rate = Fraction(Decimal(_cell(row, "rate")))
            unit_s = int(_cell(row, "unit_s") or 60)
            increments = _cell(row, "increments")
            if increments:
                if _cell(row, "from_s") or _cell(row, "increment_s"):
                    raise ValueError("increments together with from_s/increment_s")
                first, rest = (int(part) for part in increments.split("/"))
                tiers = [Tier(0, first, unit_s, rate), Tier(first, rest, unit_s, rate)]
            else:
                from_s = int(_cell(row, "from_s") or 0)
                tiers = [Tier(from_s, int(_cell(row, "increment_s") or 1), unit_s, rate)]
            groups.setdefault(key, []).extend((tier, row) for tier in tiers)
    rates = []
    for (prefix, band, eff_from, eff_to), members in groups.items():
        members.sort(key=lambda member: member[0].from_s)
        starts = [tier.from_s for tier, _ in members]
        if starts[0] != 0 or len(set(starts)) != len(starts):
            raise ValueError(f"rate {prefix}/{band}: tiers {starts} invalid")
        first_row = members[0][1]
        max_cost = _cell(first_row, "max_cost")
        rates.append(
            Rate(
                prefix=prefix,
                band=band,
                effective_from=parse_bound(eff_from, tz) if eff_from else None,
                effective_to=parse_bound(eff_to, tz) if eff_to else None,
                tiers=tuple(tier for tier, _ in members),
                connect_fee=Fraction(Decimal(_cell(first_row, "connect_fee") or "0")),
                max_cost=Fraction(Decimal(max_cost)) if max_cost else None,
            )
        )
    return rates


def billed_seconds(rate: Rate, duration: Fraction) -> list[int]:
    """``b_k = ceil(u_k / increment_k) * increment_k`` for every tier ``k``."""
    billed = []
    for k, tier in enumerate(rate.tiers):
        is_last = k + 1 == len(rate.tiers)
        end = duration if is_last else min(duration, Fraction(rate.tiers[k + 1].from_s))
        used = max(Fraction(0), end - tier.from_s)
        billed.append(math.ceil(used / tier.increment_s) * tier.increment_s)
    return billed


def _seconds_between(earlier: datetime, later: datetime) -> Fraction:
    """An exact number of seconds between two instants (microsecond resolution)."""
    delta = later - earlier
    return Fraction(delta.days * 86400 + delta.seconds) + Fraction(delta.microseconds, 10**6)


def split_pieces(
    sheet: ReferenceSheet, start: datetime, billed: list[int]
) -> list[tuple[int, str, Fraction]]:
    """Lay billed tiers out from ``start`` and cut them where the band changes.

    Band times are whole minutes, so the band is constant on every whole UTC minute;
    cutting at every UTC minute and asking the band of each piece is therefore exact.
    Returns ``(tier index, band, seconds)`` per piece.
    """
    pieces = []
    offset = 0
    for k, seconds in enumerate(billed):
        position = start + timedelta(seconds=offset)
        end = position + timedelta(seconds=seconds)
        while position < end:
            next_minute = position.replace(second=0, microsecond=0) + timedelta(minutes=1)
            piece_end = min(next_minute, end)
            pieces.append((k, sheet.band_at(position), _seconds_between(position, piece_end)))
            position = piece_end
        offset += seconds
    return pieces


def _uncovered(offset: Fraction, seconds: Fraction, covered_s: int) -> Fraction:
    """The part of ``[offset, offset + seconds)`` of the billed timeline after the first
    ``covered_s`` seconds (which an allowance pays for)."""
    return seconds - min(seconds, max(Fraction(0), covered_s - offset))


def reference_rate(
    sheet: ReferenceSheet, number: str, start: datetime, duration: Decimal, covered_s: int = 0
) -> ReferenceResult | None:
    """Rate one call as docs/rating.md says; ``None`` means rejected with ``no_rate``.

    ``start`` must be timezone-aware; ``duration`` is in seconds and is first rounded
    up to whole milliseconds, as the engine reads it. ``covered_s``: the first billed
    seconds an allowance covers (docs/rating.md, "Allowances"); they cost nothing.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    start = start.astimezone(UTC)
    d = Fraction(math.ceil(Fraction(duration) * 1000), 1000)
    band = sheet.band_at(start)
    rate = sheet.select(number, start, band)
    if rate is None:
        return None
    if d <= sheet.grace_s:
        zero = round_fraction(Fraction(0), sheet.decimals, sheet.method)
        return ReferenceResult(rate.prefix, band, 0, zero, Fraction(0))
    billed = billed_seconds(rate, d)
    exact = rate.connect_fee
    if sheet.band_mode == "split":
        rate_of_band: dict[str, Rate] = {}
        offset = Fraction(0)
        for k, piece_band, seconds in split_pieces(sheet, start, billed):
            if piece_band not in rate_of_band:
                rate_of_band[piece_band] = sheet.select(number, start, piece_band) or rate
            tiers = rate_of_band[piece_band].tiers
            tier = tiers[min(k, len(tiers) - 1)]
            exact += _uncovered(offset, seconds, covered_s) * tier.rate / tier.unit_s
            offset += seconds
    else:
        offset = Fraction(0)
        for tier, tier_billed in zip(rate.tiers, billed, strict=True):
            exact += _uncovered(offset, Fraction(tier_billed), covered_s) * tier.rate / tier.unit_s
            offset += tier_billed
    if rate.max_cost is not None:
        exact = min(exact, rate.max_cost)
    charge = round_fraction(exact, sheet.decimals, sheet.method)
    return ReferenceResult(rate.prefix, band, sum(billed), charge, exact)
