"""Deck importers: carrier and billing-system rate decks in, contract rate sheets out.

``import_deck(preset, deck, options)`` reads a deck into an ``ImportedSheet`` (sheet
settings plus contract CSV rows, as a Polars frame of text) and ``write_sheet`` writes
it as ``ID.toml`` + ``ID.csv`` and loads it back. One module per preset says how that
system prices a call and how its columns map to the sheet.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cdr_rating.choices import IncludedSeconds, Preset
from cdr_rating.errors import UsageError
from cdr_rating.sheets.importers.a2billing import import_a2billing
from cdr_rating.sheets.importers.astpp import import_astpp
from cdr_rating.sheets.importers.cgrates import import_cgrates
from cdr_rating.sheets.importers.common import (
    ROW_COLUMNS,
    ImportedSheet,
    ImportOptions,
    check_encoding,
    check_separator,
)
from cdr_rating.sheets.importers.prefix_rate import import_prefix_rate
from cdr_rating.sheets.importers.writer import sheet_csv, sheet_toml, write_sheet

IMPORTERS: dict[Preset, Callable[[Path, ImportOptions], ImportedSheet]] = {
    Preset.ASTPP: import_astpp,
    Preset.A2BILLING: import_a2billing,
    Preset.CGRATES: import_cgrates,
    Preset.PREFIX_RATE: import_prefix_rate,
}

# Options that only some presets understand: (option, its flag, the presets).
_PRESET_OPTIONS = (
    ("columns", "--columns", (Preset.A2BILLING, Preset.PREFIX_RATE)),
    ("unit_s", "--unit-s", (Preset.PREFIX_RATE,)),
    ("increments", "--increments", (Preset.PREFIX_RATE,)),
    ("included_seconds", "--included-seconds", (Preset.ASTPP,)),
    ("destination_rates", "--destination-rates", (Preset.CGRATES,)),
    ("decimal_comma", "--decimal-comma", (Preset.ASTPP, Preset.CGRATES)),
)


def import_deck(preset: Preset | str, deck: Path, options: ImportOptions) -> ImportedSheet:
    """Read ``deck`` with the importer of ``preset``.

    Raises:
        UsageError: an unknown preset or an option the preset does not take (exit 2).
        InputError: the deck is missing or unreadable (exit 3).
        ConfigError: bad rows, conflicting prefixes, or nothing to import (exit 2).
    """
    try:
        chosen = Preset(preset)
    except ValueError as exc:
        raise UsageError(
            f"--preset {preset!r}: unknown; use one of {', '.join(item.value for item in Preset)}"
        ) from exc
    for name, flag, presets in _PRESET_OPTIONS:
        if getattr(options, name) not in (None, False) and chosen not in presets:
            raise UsageError(
                f"{flag} applies to --preset {' and '.join(item.value for item in presets)}, "
                f"not {chosen.value}"
            )
    check_encoding(options.encoding)
    check_separator(options.separator)
    return IMPORTERS[chosen](deck, options)


__all__ = [
    "IMPORTERS",
    "ROW_COLUMNS",
    "ImportOptions",
    "ImportedSheet",
    "IncludedSeconds",
    "Preset",
    "import_deck",
    "sheet_csv",
    "sheet_toml",
    "write_sheet",
]
