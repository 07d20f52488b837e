"""ASTPP rate exports and import templates (origination and termination rates).

The header names the columns; ASTPP has written them differently over the years
(``Connect Cost`` / ``Connection Cost (USD)``, ``Included Seconds`` / ``Grace Time``,
``Per Minute Cost`` / ``Cost / Min (USD)``), so they are matched by name, any order.

How ASTPP prices a call (its CDR rating, ``calc_cost``), and how that becomes a sheet:

- a call of at least 1 s pays the connection cost -> ``connect_fee``;
- the included seconds are taken off the duration for free, *the connection cost is
  still due* -> by default a first tier at rate 0 covering them (``--included-seconds
  free``); ``--included-seconds grace`` imports them as the sheet's ``grace_s`` instead
  (calls up to that long are wholly free, longer ones pay from the first second), which
  needs one value for every row;
- what is left is billed as one initial increment, then in steps of the increment, at
  the per-minute cost -> tiers (``increments = a/b`` when there are no free seconds);
  an increment of 0 or empty is 1 s, an initial increment of 0 or empty means none.

Codes are prefixes; ASTPP stores them as patterns ``^CODE.*``, and exports may show
that form: the anchor and the ``.*`` are stripped, anything else that is not digits is a
bad row. ``Prepend``, ``Strip``, ``Trunk``, ``Priority`` / ``Precedence`` route calls and
do not change prices: they are ignored. Rows with ``Status`` Inactive are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from cdr_rating.choices import IncludedSeconds, Preset
from cdr_rating.errors import ConfigError
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
    parse_seconds,
    read_deck_text,
    settings_for,
    simplify,
)

_COLUMNS = {
    "code": "code",
    "prefix": "code",
    "pattern": "code",
    "dial code": "code",
    "destination": "destination",
    "comment": "destination",
    "description": "destination",
    "connect cost": "connect",
    "connection cost": "connect",
    "connectcost": "connect",
    "connect fee": "connect",
    "included seconds": "included",
    "includedseconds": "included",
    "grace time": "included",
    "grace": "included",
    "per minute cost": "cost",
    "cost / min": "cost",
    "cost/min": "cost",
    "cost per minute": "cost",
    "cost": "cost",
    "initial increment": "initial",
    "init inc": "initial",
    "initial block": "initial",
    "increment": "increment",
    "inc": "increment",
    "status": "status",
}
_IGNORED = {
    "prepend",
    "strip",
    "precedence",
    "priority",
    "trunk",
    "created date",
    "modified date",
    "last modified date",
    "rate group",
    "reseller",
    "country",
    "call type",
    "id",
}
_LABELS = {
    "code": "Code",
    "destination": "Destination",
    "connect": "Connect Cost",
    "included": "Included Seconds",
    "cost": "Per Minute Cost",
    "initial": "Initial Increment",
    "increment": "Increment",
    "status": "Status",
}


def import_astpp(deck: Path, options: ImportOptions) -> ImportedSheet:
    """Read an ASTPP rates CSV into sheet rows; see the module docstring for the mapping."""
    report = Report()
    settings_for(options)  # bad --id, --currency, --timezone fail before reading
    text = read_deck_text(deck, options.encoding, report)
    separator = check_separator(options.separator) or ","
    lines = iter(deck_lines(text, deck, separator))
    header = next(lines, None)
    if header is None:
        raise ConfigError(f"{deck}: is empty; an ASTPP deck starts with a header line")
    positions = _columns(header, deck, options.currency, report)
    mode = options.included_seconds or IncludedSeconds.FREE
    parsed: list[tuple[DeckLine, _AstppRow]] = []
    inactive: list[int] = []
    defaulted: list[int] = []
    for line in lines:
        try:
            row = _parse_row(line, positions, len(header.cells), options.decimal_comma)
        except CellError as exc:
            report.bad(f"{deck}:{line.line}", str(exc))
            continue
        if not row.active:
            inactive.append(line.line)
            continue
        if row.increment_defaulted:
            defaulted.append(line.line)
        parsed.append((line, row))
    if inactive:
        report.warn(
            f"{deck}: skipped {len(inactive)} rows with Status Inactive (lines "
            f"{_some(inactive)}); ASTPP does not use them"
        )
    if defaulted:
        report.warn(
            f"{deck}: {len(defaulted)} rows have Increment 0 or empty (lines "
            f"{_some(defaulted)}): imported as 1 s steps, as ASTPP's CDR rating does; ASTPP's "
            "dialplan may use the rate group's increment for them instead"
        )
    grace_s = 0
    notes = [
        "Connect Cost is the connect_fee of every call of 1 s or more.",
        "Per Minute Cost is the rate per 60 s; Initial Increment and Increment are the "
        "billing steps.",
    ]
    if mode is IncludedSeconds.GRACE:
        grace_s = _uniform_grace(parsed, deck)
        notes.append(
            f"Included Seconds imported as grace_s = {grace_s} (--included-seconds grace)."
        )
    else:
        notes.append(
            "Included Seconds are free seconds at the start of every call (the connect fee "
            "is still due), as ASTPP bills them: a first tier at rate 0."
        )
    rates = [
        DeckRate(
            where=f"{deck}:{line.line}",
            order=(0, line.line),
            prefix=row.prefix,
            destination=row.destination,
            tiers=_tiers(row, 0 if mode is IncludedSeconds.GRACE else row.included),
            connect_fee=row.connect,
        )
        for line, row in parsed
    ]
    return finish(
        rates,
        report,
        options,
        source=deck,
        preset=Preset.ASTPP,
        settings=settings_for(options, grace_s=grace_s),
        notes=notes,
    )


@dataclass(frozen=True)
class _AstppRow:
    """The cells of one ASTPP row that decide a price."""

    prefix: str
    destination: str
    connect: Decimal
    included: int
    cost: Decimal
    initial: int
    increment: int
    increment_defaulted: bool
    active: bool


def _columns(header: DeckLine, deck: Path, currency: str, report: Report) -> dict[str, int]:
    positions: dict[str, int] = {}
    currencies: dict[str, str] = {}
    for index, cell in enumerate(header.cells):
        key, named_currency = header_key(cell)
        name = _COLUMNS.get(key)
        if named_currency is not None and name in ("connect", "cost"):
            currencies[cell] = named_currency
        if name is None:
            if key not in _IGNORED and key:
                report.warn(
                    f"{deck}:{header.line}: column {cell!r} is not an ASTPP price column; ignored"
                )
            continue
        if name in positions:
            raise ConfigError(
                f"{deck}:{header.line}: columns {header.cells[positions[name]]!r} and {cell!r} "
                f"both mean {_LABELS[name]!r}; remove one"
            )
        positions[name] = index
    missing = [_LABELS[name] for name in ("code", "cost") if name not in positions]
    if missing:
        raise ConfigError(
            f"{deck}:{header.line}: no {' or '.join(repr(name) for name in missing)} column; "
            f"an ASTPP deck has a header with Code and Per Minute Cost (found: "
            f"{', '.join(header.cells)})"
        )
    for cell, named in currencies.items():
        if named != currency:
            raise ConfigError(
                f"{deck}:{header.line}: column {cell!r} is in {named} but --currency is "
                f"{currency}; import it with --currency {named}"
            )
    return positions


def _parse_row(line: DeckLine, positions: dict[str, int], width: int, comma: bool) -> _AstppRow:
    cells = line.cells
    if len(cells) > width and any(cells[width:]):
        raise CellError(f"has {len(cells)} cells but the header has {width}; check separators")
    if len(cells) < width:
        raise CellError(f"has {len(cells)} cells but the header has {width}; is the line cut?")

    def cell(name: str) -> str:
        return cells[positions[name]] if name in positions else ""

    code = cell("code").strip()
    code = re.sub(r"^\^", "", code)
    code = re.sub(r"\.[*+]$", "", code)
    status = cell("status").strip().lower()
    if status not in ("", "active", "inactive", "0", "1"):
        raise CellError(f"column 'Status': {cell('status')!r} is neither Active nor Inactive")
    increment = parse_seconds(cell("increment"), _LABELS["increment"])
    return _AstppRow(
        prefix=parse_prefix(code, _LABELS["code"]),
        destination=clean_text(cell("destination")),
        connect=parse_amount(cell("connect"), _LABELS["connect"], comma=comma, default=Decimal(0)),
        included=parse_seconds(cell("included"), _LABELS["included"]),
        cost=parse_amount(cell("cost"), _LABELS["cost"], comma=comma),
        initial=parse_seconds(cell("initial"), _LABELS["initial"]),
        increment=max(increment, 1),
        increment_defaulted=increment == 0,
        active=status not in ("inactive", "1"),
    )


def _tiers(row: _AstppRow, free: int) -> tuple[Tier, ...]:
    """Free seconds at rate 0, then one initial increment, then steps of the increment."""
    tiers: list[Tier] = [Tier(0, 1, Decimal(0))] if free > 0 else []
    tiers += blocks(row.initial, row.increment, row.cost, start=free)
    return simplify(tiers)


def _uniform_grace(parsed: list[tuple[DeckLine, _AstppRow]], deck: Path) -> int:
    first_line: dict[int, int] = {}
    for line, row in parsed:
        first_line.setdefault(row.included, line.line)
    if len(first_line) > 1:
        values = ", ".join(f"{value} (line {line})" for value, line in first_line.items())
        raise ConfigError(
            f"{deck}: Included Seconds differ between rows: {values}; a sheet has one "
            "grace_s, so --included-seconds grace needs one value (the default, "
            "--included-seconds free, imports them per row as free first seconds)"
        )
    return next(iter(first_line), 0)


def _some(lines: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(line) for line in lines[:limit])
    return shown + (f" and {len(lines) - limit} more" if len(lines) > limit else "")
