"""Prefix/rate decks: one price per prefix, as carriers send them in spreadsheets.

The typical deck is ``"DESTINATION","PREFIX","RATE"`` with a per-minute rate and a
decimal comma (``"0,1175"``). The importer reads:

- a header naming the columns (``destination``/``description``/``name``/``country``,
  ``prefix``/``code``/``dial code``, ``rate``/``price``/``cost``; any order, any case;
  a currency in brackets, ``Rate (EUR)``, must match ``--currency``); or
- no header: ``destination,prefix,rate`` (three columns) or ``prefix,rate`` (two);
  ``--columns`` names another order (``prefix``, ``destination``, ``rate``, ``-`` to skip).

The separator is found from the first line (``,`` ``;`` tab ``|``) unless
``--separator`` is given; a decimal point or a decimal comma are both read (never
thousands separators). Rates are per ``--unit-s`` seconds (default 60); every call is
billed per second unless ``--increments a/b`` gives the deck's billing steps.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from cdr_rating.choices import Preset
from cdr_rating.errors import ConfigError, UsageError
from cdr_rating.sheets.importers.common import (
    CellError,
    DeckLine,
    DeckRate,
    ImportedSheet,
    ImportOptions,
    Report,
    Tier,
    blocks,
    check_separator,
    clean_text,
    deck_lines,
    finish,
    header_key,
    parse_amount,
    parse_prefix,
    read_deck_text,
    settings_for,
    simplify,
    sniff_separator,
)

NAMES = ("prefix", "destination", "rate")
SKIP = "-"
_HEADER = {
    "prefix": "prefix",
    "code": "prefix",
    "dial code": "prefix",
    "dialcode": "prefix",
    "dialprefix": "prefix",
    "destination": "destination",
    "description": "destination",
    "name": "destination",
    "country": "destination",
    "zone": "destination",
    "rate": "rate",
    "price": "rate",
    "cost": "rate",
    "rate per minute": "rate",
    "price per minute": "rate",
    "cost per minute": "rate",
    "per minute": "rate",
}
_HEADERLESS = {2: ("prefix", "rate"), 3: ("destination", "prefix", "rate")}


def layout(columns: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``--columns`` checked: each of prefix, destination, rate at most once, ``-`` to skip."""
    if columns is None:
        return None
    names = tuple(name.strip().lower() for name in columns)
    unknown = [name for name in names if name not in (*NAMES, SKIP)]
    if unknown:
        raise UsageError(
            f"--columns: unknown column {', '.join(map(repr, unknown))}; use prefix, "
            f"destination, rate and {SKIP!r} for a column to skip"
        )
    for name in NAMES:
        if names.count(name) > 1:
            raise UsageError(f"--columns: {name} named more than once")
    for name in ("prefix", "rate"):
        if name not in names:
            raise UsageError(f"--columns: a prefix/rate deck needs a {name} column")
    return names


def import_prefix_rate(deck: Path, options: ImportOptions) -> ImportedSheet:
    """Read a prefix/rate deck into sheet rows; see the module docstring."""
    named = layout(options.columns)
    unit_s = options.unit_s or 60
    if unit_s < 1:
        raise UsageError(f"--unit-s {unit_s}: must be 1 or more seconds")
    settings = settings_for(options)
    report = Report()
    text = read_deck_text(deck, options.encoding, report)
    separator = check_separator(options.separator) or sniff_separator(text)
    lines = list(deck_lines(text, deck, separator))
    if not lines:
        raise ConfigError(f"{deck}: is empty; a prefix/rate deck has a row per prefix")
    header = _header(lines[0], deck, options.currency, report)
    if header is not None:
        lines = lines[1:]
    columns = named or header or _HEADERLESS.get(len(lines[0].cells) if lines else 0)
    if columns is None:
        raise UsageError(
            f"{deck}: {len(lines[0].cells)} columns and no header naming prefix and rate; "
            "name them with --columns, e.g. --columns prefix,destination,rate"
        )
    increments = options.increments or (0, 1)
    rates: list[DeckRate] = []
    for line in lines:
        try:
            rates.append(_rate(line, columns, deck, unit_s, increments))
        except CellError as exc:
            report.bad(f"{deck}:{line.line}", str(exc))
    steps = (
        f"billed in steps of increments {increments[0]}/{increments[1]}"
        if options.increments
        else "billed per second"
    )
    return finish(
        rates,
        report,
        options,
        source=deck,
        preset=Preset.PREFIX_RATE,
        settings=settings,
        notes=[f"Columns: {', '.join(columns)}; rates per {unit_s} s, {steps}."],
    )


def _header(line: DeckLine, deck: Path, currency: str, report: Report) -> tuple[str, ...] | None:
    """The column names when ``line`` is a header (it names a prefix and a rate column)."""
    keys = [header_key(cell) for cell in line.cells]
    names = [_HEADER.get(key) for key, _ in keys]
    if "prefix" not in names or "rate" not in names:
        return None
    for cell, name, (_, named_currency) in zip(line.cells, names, keys, strict=True):
        if name == "rate" and named_currency is not None and named_currency != currency:
            raise ConfigError(
                f"{deck}:{line.line}: column {cell!r} is in {named_currency} but --currency "
                f"is {currency}; import it with --currency {named_currency}"
            )
    columns: list[str] = []
    for cell, name in zip(line.cells, names, strict=True):
        if name is None or name in columns:
            report.warn(f"{deck}:{line.line}: column {cell!r} ignored")
            columns.append(SKIP)
        else:
            columns.append(name)
    return tuple(columns)


def _rate(
    line: DeckLine,
    columns: tuple[str, ...],
    deck: Path,
    unit_s: int,
    increments: tuple[int, int],
) -> DeckRate:
    cells = line.cells
    if len(cells) < len(columns) or any(cells[len(columns) :]):
        raise CellError(f"has {len(cells)} cells but the deck has {len(columns)} columns")
    values = dict(zip(columns, cells, strict=False))
    rate = parse_amount(values["rate"], "rate", comma=True)
    tiers: list[Tier] = blocks(increments[0], increments[1], rate, unit_s=unit_s)
    return DeckRate(
        where=f"{deck}:{line.line}",
        order=(0, line.line),
        prefix=parse_prefix(values["prefix"]),
        destination=clean_text(values.get("destination", "")),
        tiers=simplify(tiers),
        connect_fee=Decimal(0),
    )
