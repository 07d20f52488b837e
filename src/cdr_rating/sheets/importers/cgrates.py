"""CGRateS tariff plans: ``Rates.csv``, ``Destinations.csv`` and ``DestinationRates.csv``.

DECK is the tariff plan folder (or any file in it). The files are read by position,
as CGRateS reads them; ``#`` lines are comments.

- ``Destinations.csv`` ``Id,Prefix``: the prefixes of each destination (a leading ``+``
  is dropped). The destination ``*any`` matches every number: it becomes the ten
  one-digit prefixes ``0`` to ``9``, so that every longer prefix still wins.
- ``Rates.csv`` ``Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart``: the
  rows of one Id are the tiers of a rate: ``from_s`` = GroupIntervalStart, ``rate`` per
  ``unit_s`` = RateUnit, ``increment_s`` = RateIncrement. Durations are Go durations
  (``60s``, ``1m``, ``1m30s``, ``500ms``; a bare number is nanoseconds, as in CGRateS)
  and must come to whole seconds. The connect fee is that of the tier starting at 0.
- ``DestinationRates.csv`` ``Id,DestinationId,RatesTag,RoundingMethod,
  RoundingDecimals,MaxCost,MaxCostStrategy``: each row prices a destination with a rate.
  MaxCost above 0 caps the call's charge (``max_cost``) with either strategy (``*free``
  stops charging at the cap, ``*disconnect`` ends the call there: the charge is the same).
  RoundingMethod ``*up``, ``*down``, ``*middle`` -> ``up``, ``down``, ``half_up``, and
  RoundingDecimals become the sheet's ``[rounding]``; a sheet rounds every call the same
  way, so rows that disagree need ``--rounding`` and ``--decimals``.

A tariff plan often prices one destination several ways (per rating plan, per time of
day); ``--destination-rates ID,...`` picks the DestinationRates to import. The same
prefix priced differently by two imported rows is an error naming both lines.

CGRateS rounds the cost of every increment; a rate sheet computes the exact charge
and rounds once per call, so charges can differ in the last decimal (docs/rating.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from cdr_rating.choices import Preset, RoundingMethod
from cdr_rating.errors import ConfigError, InputError, UsageError
from cdr_rating.money import MAX_DECIMALS
from cdr_rating.sheets.importers.common import (
    CellError,
    DeckLine,
    DeckRate,
    ImportedSheet,
    ImportOptions,
    Report,
    Tier,
    check_separator,
    deck_lines,
    finish,
    parse_amount,
    parse_prefix,
    read_deck_text,
    settings_for,
    simplify,
)
from cdr_rating.sheets.model import Rounding

FILES = ("Rates.csv", "Destinations.csv", "DestinationRates.csv")
ANY = "*any"
ROUNDING = {
    "*up": RoundingMethod.UP,
    "*down": RoundingMethod.DOWN,
    "*middle": RoundingMethod.HALF_UP,
}
_UNITS = {
    "ns": Fraction(1, 10**9),
    "us": Fraction(1, 10**6),
    "µs": Fraction(1, 10**6),  # Go accepts both micro signs
    "μs": Fraction(1, 10**6),
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration_seconds(text: str, column: str) -> Fraction:
    """Seconds in a Go duration (``1m30s``, ``1.5s``, ``500ms``); bare numbers are ns."""
    value = text.strip()
    if re.fullmatch(r"\d+", value):
        return Fraction(int(value), 10**9)
    total, position = Fraction(0), 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        total += Fraction(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if value == "" or position != len(value):
        raise CellError(f"column '{column}': {text!r} is not a duration such as 60s, 1m or 1m30s")
    return total


def whole_seconds(text: str, column: str, minimum: int) -> int:
    seconds = go_duration_seconds(text, column)
    if seconds.denominator != 1 or seconds < minimum:
        raise CellError(
            f"column '{column}': {text!r} is not a whole number of seconds >= {minimum}"
        )
    return int(seconds)


@dataclass(frozen=True)
class _Rate:
    """The tiers of one rate Id, its connect fee and the first line it was found on."""

    tiers: tuple[Tier, ...]
    connect_fee: Decimal
    line: int


def import_cgrates(deck: Path, options: ImportOptions) -> ImportedSheet:
    """Read a CGRateS tariff plan into sheet rows; see the module docstring."""
    settings_for(options)  # bad --id, --currency, --timezone fail before reading
    folder = deck if deck.is_dir() else deck.parent
    if not deck.exists():
        raise InputError(f"{deck}: tariff plan folder not found")
    paths = {name: _find(folder, name) for name in FILES}
    report = Report()
    separator = check_separator(options.separator) or ","

    def lines(name: str) -> Iterator[DeckLine]:
        text = read_deck_text(paths[name], options.encoding, report)
        for line in deck_lines(text, paths[name], separator, comments=True):
            if line.line == 1 and line.cells[0].lower() in ("id", "tag", "tpid"):
                continue  # a header without the leading '#'
            yield line

    destinations = _destinations(lines("Destinations.csv"), paths["Destinations.csv"], report)
    rate_lines = _rate_lines(lines("Rates.csv"))
    chosen = _chosen(list(lines("DestinationRates.csv")), options.destination_rates)
    rates: list[DeckRate] = []
    roundings: dict[tuple[RoundingMethod, int], list[str]] = {}
    parsed_rates: dict[str, _Rate | str] = {}
    dr_path = paths["DestinationRates.csv"]
    for line in chosen:
        where = f"{dr_path}:{line.line}"
        try:
            row = _destination_rate(line, options.decimal_comma)
            if row.rates_tag not in parsed_rates:
                parsed_rates[row.rates_tag] = _rate(
                    row.rates_tag, rate_lines, paths["Rates.csv"], options.decimal_comma
                )
            rate = parsed_rates[row.rates_tag]
            if isinstance(rate, str):
                raise CellError(rate)
            if row.destination != ANY and row.destination not in destinations:
                raise CellError(
                    f"column 'DestinationId': {row.destination!r} is not in Destinations.csv"
                )
        except CellError as exc:
            report.bad(where, str(exc))
            continue
        roundings.setdefault((row.method, row.decimals), []).append(where)
        prefixes = (
            [(str(digit), 0) for digit in range(10)]
            if row.destination == ANY
            else destinations[row.destination]
        )
        for prefix, destination_line in prefixes:
            rates.append(
                DeckRate(
                    where=f"{where} ({row.id}, {row.destination})",
                    order=(line.line, destination_line),
                    prefix=prefix,
                    destination=row.destination,
                    tiers=rate.tiers,
                    connect_fee=rate.connect_fee,
                    max_cost=row.max_cost,
                )
            )
    unused = sorted(set(rate_lines) - set(parsed_rates))
    if unused:
        report.warn(
            f"{paths['Rates.csv']}: rates not used by the imported DestinationRates, not "
            f"imported: {', '.join(unused)}"
        )
    rounding = _rounding(roundings, options, report)
    return finish(
        rates,
        report,
        options,
        source=folder,
        preset=Preset.CGRATES,
        settings=settings_for(options, rounding=rounding),
        notes=[
            "DestinationRates imported: " + ", ".join(sorted({line.cells[0] for line in chosen})),
            "Rates.csv tiers: from_s = GroupIntervalStart, unit_s = RateUnit, "
            "increment_s = RateIncrement; MaxCost > 0 is max_cost.",
        ],
        conflict_hint="pick the DestinationRates to import with --destination-rates",
    )


def _find(folder: Path, name: str) -> Path:
    exact = folder / name
    if exact.is_file():
        return exact
    if folder.is_dir():
        for candidate in folder.iterdir():
            if candidate.name.lower() == name.lower() and candidate.is_file():
                return candidate
    raise InputError(f"{exact}: not found; a CGRateS tariff plan folder has {', '.join(FILES)}")


def _destinations(
    lines: Iterator[DeckLine], path: Path, report: Report
) -> dict[str, list[tuple[str, int]]]:
    destinations: dict[str, list[tuple[str, int]]] = {}
    for line in lines:
        try:
            if len(line.cells) < 2:
                raise CellError("needs Id,Prefix")
            prefix = parse_prefix(line.cells[1], "Prefix")
        except CellError as exc:
            report.bad(f"{path}:{line.line}", str(exc))
            continue
        destinations.setdefault(line.cells[0], []).append((prefix, line.line))
    return destinations


def _rate_lines(lines: Iterator[DeckLine]) -> dict[str, list[DeckLine]]:
    by_id: dict[str, list[DeckLine]] = {}
    for line in lines:
        by_id.setdefault(line.cells[0], []).append(line)
    return by_id


def _rate(tag: str, rate_lines: dict[str, list[DeckLine]], path: Path, comma: bool) -> _Rate | str:
    """The tiers of rate ``tag``, or the reason it cannot be imported."""
    if tag not in rate_lines:
        return f"column 'RatesTag': {tag!r} is not in Rates.csv"
    tiers: list[Tier] = []
    fees: dict[int, Decimal] = {}
    for line in rate_lines[tag]:
        cells = line.cells
        try:
            if len(cells) < 6:
                raise CellError(
                    "needs Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart"
                )
            start = whole_seconds(cells[5], "GroupIntervalStart", 0)
            if start in fees:
                raise CellError(f"column 'GroupIntervalStart': {cells[5]!r} appears twice")
            fees[start] = parse_amount(cells[1], "ConnectFee", comma=comma, default=Decimal(0))
            tiers.append(
                Tier(
                    from_s=start,
                    increment_s=whole_seconds(cells[4], "RateIncrement", 1),
                    rate=parse_amount(cells[2], "Rate", comma=comma),
                    unit_s=whole_seconds(cells[3], "RateUnit", 1),
                )
            )
        except CellError as exc:
            return f"rate {tag} at {path}:{line.line}: {exc}"
    if 0 not in fees:
        return f"rate {tag} at {path}:{rate_lines[tag][0].line}: has no GroupIntervalStart 0"
    return _Rate(simplify(tiers), fees[0], rate_lines[tag][0].line)


@dataclass(frozen=True)
class _DestinationRate:
    id: str
    destination: str
    rates_tag: str
    method: RoundingMethod
    decimals: int
    max_cost: Decimal | None


def _destination_rate(line: DeckLine, comma: bool) -> _DestinationRate:
    cells = [*line.cells, "", "", "", "", "", "", ""][:7]
    if not all(cells[:3]):
        raise CellError("needs Id,DestinationId,RatesTag")
    method = ROUNDING.get(cells[3].lower())
    if method is None:
        raise CellError(
            f"column 'RoundingMethod': {cells[3]!r} is not one of {', '.join(ROUNDING)}"
        )
    if not re.fullmatch(r"\d+", cells[4]) or int(cells[4]) > MAX_DECIMALS:
        raise CellError(
            f"column 'RoundingDecimals': {cells[4]!r} is not a whole number from 0 to "
            f"{MAX_DECIMALS}"
        )
    if cells[6] not in ("", "*free", "*disconnect"):
        raise CellError(f"column 'MaxCostStrategy': {cells[6]!r} is not *free or *disconnect")
    max_cost = parse_amount(cells[5], "MaxCost", comma=comma, default=Decimal(0))
    return _DestinationRate(
        id=cells[0],
        destination=cells[1],
        rates_tag=cells[2],
        method=method,
        decimals=int(cells[4]),
        max_cost=max_cost if max_cost > 0 else None,
    )


def _chosen(lines: list[DeckLine], wanted: tuple[str, ...] | None) -> list[DeckLine]:
    if wanted is None:
        return lines
    known = {line.cells[0] for line in lines}
    missing = [name for name in wanted if name not in known]
    if missing:
        raise UsageError(
            f"--destination-rates: {', '.join(missing)} not in DestinationRates.csv; it has "
            f"{', '.join(sorted(known))}"
        )
    return [line for line in lines if line.cells[0] in wanted]


def _rounding(
    roundings: dict[tuple[RoundingMethod, int], list[str]],
    options: ImportOptions,
    report: Report,
) -> Rounding | None:
    """One rounding for the sheet: the deck's, unless the user chose (or must choose)."""
    methods = {method for method, _ in roundings}
    decimals = {count for _, count in roundings}
    if options.rounding is not None and methods - {options.rounding}:
        report.warn(
            f"--rounding {options.rounding.value} replaces the deck's RoundingMethod "
            f"({', '.join(sorted(method.value for method in methods))})"
        )
    if options.decimals is not None and decimals - {options.decimals}:
        report.warn(
            f"--decimals {options.decimals} replaces the deck's RoundingDecimals "
            f"({', '.join(str(count) for count in sorted(decimals))})"
        )
    if (options.rounding or len(methods) <= 1) and (
        options.decimals is not None or len(decimals) <= 1
    ):
        if not roundings:
            return None
        method, count = next(iter(roundings))
        return Rounding(
            decimals=count if options.decimals is None else options.decimals,
            method=options.rounding or method,
        )
    listed = "; ".join(
        f"{method.value} to {count} decimals at {', '.join(wheres[:3])}"
        + (f" and {len(wheres) - 3} more" if len(wheres) > 3 else "")
        for (method, count), wheres in roundings.items()
    )
    raise ConfigError(
        f"the DestinationRates round differently ({listed}); a sheet rounds every call the "
        "same way: choose with --rounding and --decimals, or import them into separate "
        "sheets with --destination-rates"
    )
