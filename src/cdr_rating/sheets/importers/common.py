"""What every deck importer shares: options, reading text decks, parsing cells, tiers, rows.

An importer reads a deck into ``DeckRate`` objects (one priced prefix each, with the
file and line it came from), reporting each bad row in a ``Report``; ``finish`` then
checks for duplicate prefixes, decides whether the import can go on and turns the
rates into the contract CSV rows of a rate sheet (ARCHITECTURE.md section 4).

Decks are small (tens of thousands of rows at most), so they are read row by row with
the standard ``csv`` module, which knows the physical line of every row; the rating
itself never sees them, only the sheet written from them.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
from pydantic import ValidationError

from cdr_rating.choices import IncludedSeconds, Preset, RoundingMethod
from cdr_rating.errors import ConfigError, InputError, UsageError
from cdr_rating.money import RATE_DECIMALS
from cdr_rating.sheets.load import MAX_PREFIX_DIGITS
from cdr_rating.sheets.model import Rounding, SheetSettings

# The contract CSV columns an importer fills, in the order they are written.
ROW_COLUMNS = (
    "prefix",
    "destination",
    "rate",
    "unit_s",
    "increment_s",
    "increments",
    "from_s",
    "connect_fee",
    "max_cost",
    "effective_from",
    "effective_to",
)
ROWS_SCHEMA = pl.Schema(dict.fromkeys(ROW_COLUMNS, pl.String))
DEFAULT_ROUNDING = Rounding()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_AMOUNT = re.compile(r"^(\d+(\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class ImportOptions:
    """What the user chose; ``None`` means the preset's default (or the deck's value)."""

    sheet_id: str
    currency: str
    timezone: str = "UTC"
    decimals: int | None = None
    rounding: RoundingMethod | None = None
    skip_bad_rows: bool = False
    encoding: str | None = None
    separator: str | None = None
    decimal_comma: bool = False
    columns: tuple[str, ...] | None = None  # a2billing, prefix-rate
    unit_s: int | None = None  # prefix-rate
    increments: tuple[int, int] | None = None  # prefix-rate
    included_seconds: IncludedSeconds | None = None  # astpp
    destination_rates: tuple[str, ...] | None = None  # cgrates


class CellError(ValueError):
    """One cell (or row) that cannot be imported; the message says which and why."""


@dataclass(frozen=True)
class Tier:
    """From ``from_s`` seconds on: billed in steps of ``increment_s``, ``rate`` per ``unit_s``."""

    from_s: int
    increment_s: int
    rate: Decimal
    unit_s: int = 60


@dataclass(frozen=True)
class DeckRate:
    """One priced prefix of a deck, and where in the deck it came from."""

    where: str  # "file:line", optionally with more context
    order: tuple[int, int]  # sort key: deck order
    prefix: str
    destination: str
    tiers: tuple[Tier, ...]
    connect_fee: Decimal = Decimal(0)
    max_cost: Decimal | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None

    @property
    def price(self) -> tuple[object, ...]:
        """Everything that decides the charge of a call (not the destination name)."""
        return (
            self.tiers,
            self.connect_fee,
            self.max_cost,
            self.effective_from,
            self.effective_to,
        )


@dataclass
class Report:
    """Bad rows (``problems``) and ``warnings`` collected while reading a deck."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def bad(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass(frozen=True)
class ImportedSheet:
    """An imported deck: the sheet settings and its contract CSV rows (all text)."""

    settings: SheetSettings
    rows: pl.DataFrame
    warnings: tuple[str, ...]
    skipped_rows: int
    notes: tuple[str, ...]  # mapping decisions, written as comments into the TOML
    source: Path
    preset: Preset


@dataclass(frozen=True)
class DeckLine:
    """One CSV record of a deck: its first physical line and its stripped cells."""

    line: int
    cells: list[str]


# ---------------------------------------------------------------------------- reading


def read_deck_text(path: Path, encoding: str | None, report: Report) -> str:
    """The deck's text: UTF-8, else cp1252, else latin-1, or exactly ``encoding``.

    Raises:
        InputError: the file is missing or cannot be read (exit 3).
        ConfigError: it is not text in the encoding the user named (exit 2).
    """
    if not path.exists():
        raise InputError(f"{path}: deck not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; this preset reads one deck file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the deck: {exc.strerror or exc}") from exc
    return decode_text(data, path, encoding, report)


def check_encoding(encoding: str | None) -> None:
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise UsageError(
                f"--encoding {encoding!r}: unknown encoding; use e.g. utf-8, cp1252, latin-1"
            ) from exc


def decode_text(data: bytes, path: Path, encoding: str | None, report: Report) -> str:
    """Decode a deck; a fallback from UTF-8 is a warning naming the first line concerned."""
    if encoding is not None:
        name = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
        try:
            return data.decode(name)
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}:{_line_at(data, exc.start)}: is not valid {encoding} (byte "
                f"0x{data[exc.start]:02x}); pass the deck's encoding with --encoding"
            ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_bad = _line_at(data, exc.start)
    try:
        text, used = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, used = data.decode("latin-1"), "latin-1"
    report.warn(
        f"{path}:{first_bad}: is not UTF-8; read the deck as {used} "
        "(pass --encoding to choose another)"
    )
    return text


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def check_separator(separator: str | None) -> str | None:
    if separator is None:
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(separator.lower(), separator)
    if len(value) != 1 or value in "\"'\r\n" or value.isalnum():
        raise UsageError(
            f"--separator {separator!r}: give one character such as ',' ';' '|' or 'tab'"
        )
    return value


def deck_lines(
    text: str, path: Path, separator: str, *, comments: bool = False
) -> Iterator[DeckLine]:
    """Every non-empty CSV record with the line it starts on (comment lines skipped)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, skipinitialspace=True)
    previous = 0
    try:
        for cells in reader:
            start, previous = previous + 1, reader.line_num
            stripped = [cell.strip() for cell in cells]
            if not any(stripped):
                continue
            if comments and stripped[0].startswith("#"):
                continue
            yield DeckLine(start, stripped)
    except csv.Error as exc:
        raise ConfigError(
            f"{path}:{reader.line_num}: cannot be read as CSV ({exc}); check quoting"
        ) from exc


def sniff_separator(text: str, candidates: str = ",;\t|") -> str:
    """The candidate that splits the first non-empty line into the most cells (``,`` on a tie)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    best, cells = ",", 1
    for candidate in candidates:
        count = len(next(csv.reader([first], delimiter=candidate), []))
        if count > cells:
            best, cells = candidate, count
    return best


# ---------------------------------------------------------------------------- cells


def header_key(text: str) -> tuple[str, str | None]:
    """A header cell normalised for matching, and a currency named in brackets (``(USD)``)."""
    currency = None
    match = re.search(r"\(\s*([A-Za-z]{3})\s*\)", text)
    if match:
        currency = match.group(1).upper()
    key = re.sub(r"\([^)]*\)", " ", text.lower())
    key = re.sub(r"[_\s]+", " ", key).strip()
    return key, currency


def clean_text(text: str) -> str:
    """A destination name fit for one CSV cell: control characters become spaces."""
    return _CONTROL.sub(" ", text).strip()


def parse_prefix(text: str, column: str = "prefix") -> str:
    """Digits of a prefix; a leading ``+`` is dropped."""
    prefix = text.strip().strip("'\"").strip()
    prefix = prefix.removeprefix("+")
    if not re.fullmatch(rf"\d{{1,{MAX_PREFIX_DIGITS}}}", prefix):
        raise CellError(
            f"column '{column}': {text!r} is not a prefix of 1 to {MAX_PREFIX_DIGITS} digits"
        )
    return prefix


def parse_amount(text: str, column: str, *, comma: bool, default: Decimal | None = None) -> Decimal:
    """A non-negative decimal with at most 9 decimals; a comma as the mark when allowed."""
    value = text.strip()
    if value == "":
        if default is not None:
            return default
        raise CellError(f"column '{column}': is empty; a price is required")
    number = value.removeprefix("-")
    if comma and number.count(",") == 1 and "." not in number:
        number = number.replace(",", ".")
    if not _AMOUNT.match(number):
        hint = ""
        if "," in value and not comma:
            hint = "; a comma as the decimal mark needs --decimal-comma"
        raise CellError(f"column '{column}': {text!r} is not a decimal number{hint}")
    amount = Decimal(number)
    if value.startswith("-") and amount != 0:
        raise CellError(f"column '{column}': {text!r} is negative; prices must be 0 or more")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > RATE_DECIMALS:
        raise CellError(
            f"column '{column}': {text!r} has more than {RATE_DECIMALS} decimals; "
            "a sheet holds prices to the nano-unit"
        )
    return amount


def parse_seconds(text: str, column: str, *, default: int = 0) -> int:
    """A whole number of seconds (``30``, ``30.0``); empty means ``default``."""
    value = text.strip()
    if value == "":
        return default
    number = value.replace(",", ".")
    if not _AMOUNT.match(number) or Decimal(number) != Decimal(number).to_integral_value():
        raise CellError(f"column '{column}': {text!r} is not a whole number of seconds")
    return int(Decimal(number))


def is_zero(text: str) -> bool:
    """An empty or zero cell (``""``, ``0``, ``0,00``) of an optional numeric column."""
    number = text.strip().replace(",", ".")
    return number == "" or (bool(_AMOUNT.match(number)) and Decimal(number) == 0)


def format_decimal(amount: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros (``0.1175``, ``0``)."""
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "") else text


# ---------------------------------------------------------------------------- tiers


def simplify(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """Drop tiers that only continue the one before (same price, aligned on its increment)."""
    kept: list[Tier] = []
    for tier in sorted(tiers, key=lambda item: item.from_s):
        last = kept[-1] if kept else None
        if (
            last is not None
            and (tier.rate, tier.unit_s, tier.increment_s)
            == (last.rate, last.unit_s, last.increment_s)
            and (tier.from_s - last.from_s) % last.increment_s == 0
        ):
            continue
        kept.append(tier)
    return tuple(kept)


def blocks(first: int, then: int, rate: Decimal, start: int = 0, unit_s: int = 60) -> list[Tier]:
    """A first block of ``first`` seconds from ``start``, then steps of ``then`` (0 = none)."""
    if first <= 0:
        return [Tier(start, then, rate, unit_s)]
    return [Tier(start, first, rate, unit_s), Tier(start + first, then, rate, unit_s)]


def round_up_to(seconds: int, step: int) -> int:
    return math.ceil(seconds / step) * step


# ---------------------------------------------------------------------------- finishing


def settings_for(
    options: ImportOptions,
    *,
    grace_s: int = 0,
    rounding: Rounding | None = None,
) -> SheetSettings:
    """The sheet settings; the user's --decimals/--rounding win over ``rounding``."""
    base = rounding or DEFAULT_ROUNDING
    try:
        return SheetSettings(
            id=options.sheet_id,
            currency=options.currency,
            timezone=options.timezone,
            rates=f"{options.sheet_id}.csv",
            grace_s=grace_s,
            rounding=Rounding(
                decimals=base.decimals if options.decimals is None else options.decimals,
                method=options.rounding or base.method,
            ),
        )
    except ValidationError as exc:
        flags = {"id": "--id", "currency": "--currency", "timezone": "--timezone"}
        problems = []
        for error in exc.errors():
            location = [str(part) for part in error["loc"]]
            flag = "--decimals" if "decimals" in location else flags.get(location[0], location[0])
            problems.append(f"{flag}: {error['msg'].removeprefix('Value error, ')}")
        raise UsageError("; ".join(problems)) from exc


def finish(
    rates: list[DeckRate],
    report: Report,
    options: ImportOptions,
    *,
    source: Path,
    preset: Preset,
    settings: SheetSettings,
    notes: Sequence[str] = (),
    conflict_hint: str = "keep one of the two lines, or give them effective dates that do not "
    "overlap",
) -> ImportedSheet:
    """Check duplicates, apply --skip-bad-rows, and build the contract rows.

    Raises:
        ConfigError: bad rows without --skip-bad-rows, conflicting duplicate prefixes, or
            nothing left to import; every problem is listed.
    """
    kept, conflicts = _without_duplicates(rates, report, conflict_hint)
    problems = list(report.problems)
    warnings = list(report.warnings)
    if problems and not options.skip_bad_rows:
        problems.append(
            f"{len(report.problems)} bad rows in {source}; fix them, or pass --skip-bad-rows "
            "to import the other rows"
        )
        raise ConfigError(conflicts + problems if conflicts else problems)
    if conflicts:
        raise ConfigError(conflicts)
    warnings.extend(f"skipped {problem}" for problem in problems)
    if not kept:
        raise ConfigError(f"{source}: no rate could be imported; the sheet would be empty")
    return ImportedSheet(
        settings=settings,
        rows=contract_rows(kept),
        warnings=tuple(warnings),
        skipped_rows=len(problems),
        notes=tuple(notes),
        source=source,
        preset=preset,
    )


def _overlap(one: DeckRate, other: DeckRate) -> bool:
    """Whether the effective windows of two rates overlap (``None`` = open)."""
    starts_first = (
        one.effective_from is None
        or other.effective_to is None
        or one.effective_from < other.effective_to
    )
    ends_after = (
        other.effective_from is None
        or one.effective_to is None
        or other.effective_from < one.effective_to
    )
    return starts_first and ends_after


def _without_duplicates(
    rates: list[DeckRate], report: Report, hint: str
) -> tuple[list[DeckRate], list[str]]:
    """Drop exact repeats (a warning); conflicting prices for one prefix are errors."""
    seen: dict[str, list[DeckRate]] = {}
    kept: list[DeckRate] = []
    conflicts: list[str] = []
    for rate in sorted(rates, key=lambda item: item.order):
        earlier = seen.setdefault(rate.prefix, [])
        clash = next((other for other in earlier if _overlap(other, rate)), None)
        if clash is None:
            earlier.append(rate)
            kept.append(rate)
        elif clash.price == rate.price:
            names = (
                ""
                if clash.destination == rate.destination
                else f" (destination {rate.destination!r} dropped, {clash.destination!r} kept)"
            )
            report.warn(
                f"{rate.where}: prefix {rate.prefix} repeats {clash.where} with the same "
                f"price; imported once{names}"
            )
        else:
            conflicts.append(
                f"{rate.where}: prefix {rate.prefix} is also priced at {clash.where}, "
                f"differently; {hint}"
            )
    return kept, conflicts


def increments_shorthand(tiers: tuple[Tier, ...]) -> str | None:
    """``a/b`` when the tiers are exactly what the contract's ``increments = a/b`` means."""
    if len(tiers) != 2:
        return None
    first, then = tiers
    if (
        first.from_s == 0
        and then.from_s == first.increment_s
        and (first.rate, first.unit_s) == (then.rate, then.unit_s)
    ):
        return f"{first.increment_s}/{then.increment_s}"
    return None


def _moment(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.time() == datetime.min.time():
        return value.date().isoformat()
    return value.isoformat(timespec="seconds")


def contract_rows(rates: Sequence[DeckRate]) -> pl.DataFrame:
    """One contract CSV row per tier (or one ``increments`` row), all cells as text."""
    records: list[dict[str, str | None]] = []
    for rate in rates:
        common: dict[str, str | None] = {
            "prefix": rate.prefix,
            "destination": rate.destination or None,
            "effective_from": _moment(rate.effective_from),
            "effective_to": _moment(rate.effective_to),
        }
        fees: dict[str, str | None] = {
            "connect_fee": format_decimal(rate.connect_fee) if rate.connect_fee else None,
            "max_cost": None if rate.max_cost is None else format_decimal(rate.max_cost),
        }
        shorthand = increments_shorthand(rate.tiers)
        if shorthand is not None:
            first = rate.tiers[0]
            records.append(
                common
                | fees
                | {
                    "rate": format_decimal(first.rate),
                    "unit_s": str(first.unit_s),
                    "increments": shorthand,
                }
            )
            continue
        tiered = len(rate.tiers) > 1
        for index, tier in enumerate(rate.tiers):
            records.append(
                common
                | (fees if index == 0 else {})
                | {
                    "rate": format_decimal(tier.rate),
                    "unit_s": str(tier.unit_s),
                    "increment_s": str(tier.increment_s),
                    "from_s": str(tier.from_s) if tiered else None,
                }
            )
    return pl.DataFrame(records, schema=ROWS_SCHEMA)
