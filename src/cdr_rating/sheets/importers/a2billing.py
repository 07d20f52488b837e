"""A2Billing ratecard CSVs: no header, ``;`` between fields, decimal commas.

A2Billing's ratecard import reads ``dialprefix;destination;rateinitial`` and then the
optional fields the operator picked, in the order they picked them; the file itself
does not say which. ``--columns`` names that order (A2Billing's field names, ``-`` for
a field to skip). The default is the layout of A2Billing's own complex sample:

    initblock, billingblock, buyrate, buyrateinitblock, buyrateincrement,
    connectcharge, disconnectcharge, stepchargea, chargea, timechargea, billingblocka,
    stepchargeb, chargeb, timechargeb, billingblockb, stepchargec, chargec,
    timechargec, billingblockc, startdate, stopdate, starttime, endtime, tag,
    rounding_calltime, rounding_threshold, additional_block_charge,
    additional_block_charge_time

A row may stop early: missing trailing fields are empty, so ``prefix;name;rate`` and
``prefix;name;rate;initblock;billingblock`` rows work with the default too.

How A2Billing prices a call (its rate engine) and how that becomes a sheet:

- ``rateinitial`` is the price per minute -> ``rate`` with ``unit_s`` 60;
- a call shorter than ``initblock`` is billed as ``initblock`` seconds; a longer call is
  rounded up to a multiple of ``billingblock`` (counted from the start of the call) ->
  tiers: from 0 one block of ``initblock``, then (when ``initblock`` is not a multiple
  of ``billingblock``) a block up to the next multiple, then steps of ``billingblock``;
- ``connectcharge`` and ``disconnectcharge`` are paid by every answered call ->
  ``connect_fee`` (a ``disconnectcharge_after`` threshold cannot be expressed);
- progressive rates (``chargea`` with ``timechargea``, then cycles b and c): each
  cycle is a tier at its own per-minute charge and billing block, the rest of the call
  is billed at ``rateinitial``; ``stepchargea`` is added to the connect fee;
- ``startdate`` / ``stopdate`` -> ``effective_from`` / ``effective_to`` (sheet timezone);
- the buy side (``buyrate*``), ``tag`` and ``announce_time_correction`` do not change
  what the customer pays and are ignored.

Features a rate sheet cannot express exactly make the row a bad row (reported with
its line, skipped with ``--skip-bad-rows``): ``minimal_cost``, ``additional_grace``,
``rounding_calltime`` with ``rounding_threshold``, ``additional_block_charge`` with its
time, step charges of cycles b and c, a ``disconnectcharge_after`` threshold, an
``initblock`` longer than cycle a, and time-of-week windows other than the whole week
(``starttime`` 0, ``endtime`` 10079).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from cdr_rating.choices import Preset
from cdr_rating.errors import UsageError
from cdr_rating.sheets.importers.common import (
    CellError,
    DeckLine,
    DeckRate,
    ImportedSheet,
    ImportOptions,
    Report,
    Tier,
    check_separator,
    clean_text,
    deck_lines,
    finish,
    is_zero,
    parse_amount,
    parse_prefix,
    parse_seconds,
    read_deck_text,
    round_up_to,
    settings_for,
    simplify,
)

MANDATORY = ("dialprefix", "destination", "rateinitial")
OPTIONAL = (
    "buyrate",
    "buyrateinitblock",
    "buyrateincrement",
    "initblock",
    "billingblock",
    "connectcharge",
    "disconnectcharge",
    "disconnectcharge_after",
    "minimal_cost",
    "stepchargea",
    "chargea",
    "timechargea",
    "billingblocka",
    "stepchargeb",
    "chargeb",
    "timechargeb",
    "billingblockb",
    "stepchargec",
    "chargec",
    "timechargec",
    "billingblockc",
    "startdate",
    "stopdate",
    "additional_grace",
    "starttime",
    "endtime",
    "tag",
    "rounding_calltime",
    "rounding_threshold",
    "additional_block_charge",
    "additional_block_charge_time",
    "announce_time_correction",
)
DEFAULT_COLUMNS = (
    "initblock",
    "billingblock",
    "buyrate",
    "buyrateinitblock",
    "buyrateincrement",
    "connectcharge",
    "disconnectcharge",
    "stepchargea",
    "chargea",
    "timechargea",
    "billingblocka",
    "stepchargeb",
    "chargeb",
    "timechargeb",
    "billingblockb",
    "stepchargec",
    "chargec",
    "timechargec",
    "billingblockc",
    "startdate",
    "stopdate",
    "starttime",
    "endtime",
    "tag",
    "rounding_calltime",
    "rounding_threshold",
    "additional_block_charge",
    "additional_block_charge_time",
)
SKIP = "-"
WEEK_END_MINUTE = 10079  # A2Billing's time windows are minutes of the week, 0 to 10079


def optional_columns(columns: tuple[str, ...] | None) -> tuple[str, ...]:
    """The optional field order: ``--columns`` (checked) or ``DEFAULT_COLUMNS``.

    The mandatory three may be named first; they are always the first three fields.
    """
    if columns is None:
        return DEFAULT_COLUMNS
    names = tuple(name.strip().lower() for name in columns)
    if names[:3] == MANDATORY:
        names = names[3:]
    misplaced = [name for name in names if name in MANDATORY]
    if misplaced:
        raise UsageError(
            "--columns: dialprefix, destination and rateinitial are always the first three "
            "fields; name only the optional fields after them"
        )
    unknown = [name for name in names if name not in OPTIONAL and name != SKIP]
    if unknown:
        raise UsageError(
            f"--columns: unknown A2Billing field {', '.join(map(repr, unknown))}; use "
            f"{SKIP!r} to skip a field, or one of: {', '.join(OPTIONAL)}"
        )
    repeated = sorted({name for name in names if name != SKIP and names.count(name) > 1})
    if repeated:
        raise UsageError(f"--columns: {', '.join(repeated)} named more than once")
    return names


def import_a2billing(deck: Path, options: ImportOptions) -> ImportedSheet:
    """Read an A2Billing ratecard into sheet rows; see the module docstring for the mapping."""
    columns = optional_columns(options.columns)
    settings = settings_for(options)
    report = Report()
    text = read_deck_text(deck, options.encoding, report)
    separator = check_separator(options.separator) or ";"
    rates: list[DeckRate] = []
    for line in deck_lines(text, deck, separator, comments=True):
        try:
            rates.append(_rate(line, columns, deck))
        except CellError as exc:
            report.bad(f"{deck}:{line.line}", str(exc))
    return finish(
        rates,
        report,
        options,
        source=deck,
        preset=Preset.A2BILLING,
        settings=settings,
        notes=[
            "Fields: dialprefix;destination;rateinitial;" + ";".join(columns),
            "rateinitial is the rate per 60 s; initblock is the least billed, billingblock "
            "the billing step; connectcharge + disconnectcharge is the connect_fee.",
        ],
    )


def _rate(line: DeckLine, columns: tuple[str, ...], deck: Path) -> DeckRate:
    cells = line.cells
    if len(cells) < len(MANDATORY):
        raise CellError(
            f"has {len(cells)} fields; a ratecard row starts with {';'.join(MANDATORY)}"
        )
    if len(cells) > len(MANDATORY) + len(columns):
        raise CellError(
            f"has {len(cells)} fields but dialprefix;destination;rateinitial and the "
            f"{len(columns)} optional fields make {len(MANDATORY) + len(columns)}; name the "
            "fields with --columns"
        )
    values = dict(zip(columns, cells[len(MANDATORY) :], strict=False))
    values.pop(SKIP, None)

    def text(name: str) -> str:
        return values.get(name, "").strip().strip("'\"").strip()

    def amount(name: str) -> Decimal:
        return parse_amount(text(name), name, comma=True, default=Decimal(0))

    def seconds(name: str) -> int:
        return parse_seconds(text(name), name)

    _refuse_unsupported(text)
    rate = parse_amount(cells[2].strip("'\""), "rateinitial", comma=True)
    initblock, billingblock = seconds("initblock"), seconds("billingblock")
    connect = amount("connectcharge") + amount("disconnectcharge")
    if not is_zero(text("chargea")) and not is_zero(text("timechargea")):
        tiers = _progressive(amount, seconds, rate, initblock, billingblock)
        connect += amount("stepchargea")
    else:
        tiers = _flat(rate, initblock, billingblock)
    start, stop = _moment(text("startdate"), "startdate"), _moment(text("stopdate"), "stopdate")
    if start is not None and stop is not None and stop <= start:
        raise CellError(f"column 'stopdate': {text('stopdate')!r} is not after the startdate")
    return DeckRate(
        where=f"{deck}:{line.line}",
        order=(0, line.line),
        prefix=parse_prefix(cells[0], "dialprefix"),
        destination=clean_text(cells[1].strip("'\"")),
        tiers=simplify(tiers),
        connect_fee=connect,
        effective_from=start,
        effective_to=stop,
    )


def _refuse_unsupported(text: Callable[[str], str]) -> None:
    """A row using a feature that a rate sheet cannot express exactly is a bad row."""

    def refuse(name: str, why: str) -> None:
        raise CellError(f"column '{name}': {text(name)!r}: {why}; the row cannot be imported")

    if not is_zero(text("minimal_cost")):
        refuse("minimal_cost", "a minimum call cost has no rate sheet equivalent")
    if not is_zero(text("additional_grace")):
        refuse("additional_grace", "seconds added to every call have no rate sheet equivalent")
    if not is_zero(text("rounding_calltime")) and not is_zero(text("rounding_threshold")):
        refuse("rounding_calltime", "rounding calls above a threshold is not supported")
    if not is_zero(text("additional_block_charge")) and not is_zero(
        text("additional_block_charge_time")
    ):
        refuse("additional_block_charge", "a charge per time block is not supported")
    if (
        not is_zero(text("disconnectcharge"))
        and parse_seconds(text("disconnectcharge_after"), "disconnectcharge_after") > 1
    ):
        refuse(
            "disconnectcharge_after",
            "a disconnect charge due only after a threshold is not supported",
        )
    if not is_zero(text("starttime")):
        refuse("starttime", "time-of-week windows other than the whole week are not supported")
    if text("endtime") not in ("", str(WEEK_END_MINUTE)):
        refuse("endtime", "time-of-week windows other than the whole week are not supported")


def _flat(rate: Decimal, initblock: int, billingblock: int) -> list[Tier]:
    """At least ``initblock`` seconds; longer calls rounded up to ``billingblock``."""
    if initblock <= 0:
        return [Tier(0, billingblock or 1, rate)]
    if billingblock <= 0:
        return [Tier(0, initblock, rate), Tier(initblock, 1, rate)]
    aligned = round_up_to(initblock, billingblock)
    tiers = [Tier(0, initblock, rate)]
    if aligned > initblock:
        tiers.append(Tier(initblock, aligned - initblock, rate))
    return [*tiers, Tier(aligned, billingblock, rate)]


def _progressive(
    amount: Callable[[str], Decimal],
    seconds: Callable[[str], int],
    rate: Decimal,
    initblock: int,
    billingblock: int,
) -> list[Tier]:
    """Cycles a, b, c at their own charges, then ``rateinitial`` for the rest of the call."""
    tiers: list[Tier] = []
    start = 0
    for letter in "abc":
        charge, width = amount(f"charge{letter}"), seconds(f"timecharge{letter}")
        if charge == 0 or width == 0:
            break
        if letter != "a" and amount(f"stepcharge{letter}") != 0:
            raise CellError(
                f"column 'stepcharge{letter}': a step charge due only when a call reaches "
                f"cycle {letter} is not supported; the row cannot be imported"
            )
        step = seconds(f"billingblock{letter}") or 1
        if letter == "a" and initblock > 0:
            if initblock > width:
                raise CellError(
                    "column 'initblock': longer than timechargea; the row cannot be imported"
                )
            first = round_up_to(initblock, step)
            tiers.append(Tier(0, first, charge))
            if first < width:
                tiers.append(Tier(first, step, charge))
        else:
            tiers.append(Tier(start, step, charge))
        start += width
    return [*tiers, Tier(start, billingblock or 1, rate)]


def _moment(value: str, column: str) -> datetime | None:
    """A2Billing dates: ``2005-02-10 21:23:55`` or ``2005-02-10``; 0 or empty = none."""
    if value in ("", "0") or value.startswith("0000-00-00"):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CellError(
            f"column '{column}': {value!r} is not a date (2005-02-10) or date and time "
            "(2005-02-10 21:23:55)"
        ) from exc
    if moment.tzinfo is not None:
        raise CellError(f"column '{column}': {value!r} has a UTC offset; write local time")
    return moment.replace(microsecond=0)
