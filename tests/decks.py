"""Helpers for the deck importer tests: write a deck, import it, price a call on the result.

The decks are written by the tests themselves (project-owned fixtures in each format);
``REAL_DECKS`` is the shared folder of real samples, used only when it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from cdr_rating.pipeline import rate_files
from cdr_rating.rating import RatingPlan
from cdr_rating.sheets import load_sheet
from cdr_rating.sheets.importers import (
    ImportedSheet,
    ImportOptions,
    import_deck,
    sheet_csv,
    sheet_toml,
    write_sheet,
)
from reference import ReferenceSheet, reference_rate

ROOT = Path(__file__).resolve().parents[1]
REAL_DECKS = ROOT.parent / "shared" / "real_formats" / "rate_decks"
START = "2026-10-01T10:00:00Z"  # a Thursday; the sheets have no bands


def options(**changes: Any) -> ImportOptions:
    """Import options for a sheet ``deck`` in EUR, with ``changes``."""
    return replace(ImportOptions(sheet_id="deck", currency="EUR"), **changes)


def write_deck(directory: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = directory / name
    path.write_bytes(text.encode(encoding))
    return path


def imported_rows(imported: ImportedSheet) -> list[dict[str, str]]:
    """The contract rows with empty cells left out, for exact comparison."""
    return [
        {name: value for name, value in row.items() if value is not None}
        for row in imported.rows.to_dicts()
    ]


def import_and_write(
    preset: str, deck: Path, out: Path, **changes: Any
) -> tuple[ImportedSheet, Path]:
    """Import ``deck``, write the sheet into ``out`` and return it with its TOML path."""
    imported = import_deck(preset, deck, options(**changes))
    sheet = write_sheet(imported, out)
    return imported, sheet.path


def charges(sheet_toml_path: Path, calls: Sequence[tuple[str, str]]) -> list[Decimal]:
    """Charges of calls ``(number, duration)`` at ``START``, through ``rate_files``."""
    cdrs = sheet_toml_path.parent / "calls.csv"
    lines = ["call_id,caller,callee,start,duration"]
    lines += [
        f"c{index},100,{number},{START},{duration}"
        for index, (number, duration) in enumerate(calls)
    ]
    cdrs.write_text("\n".join(lines) + "\n")
    plan = RatingPlan.from_sheets([load_sheet(sheet_toml_path)])
    result = rate_files([cdrs], plan, "canonical")
    assert result.rejects.height == 0, result.rejects.to_dicts()
    by_id = dict(zip(result.rated["call_id"], result.rated["charge"], strict=True))
    return [by_id[f"c{index}"] for index in range(len(calls))]


def reference_charges(
    imported: ImportedSheet, directory: Path, number: str, durations: Sequence[int]
) -> list[Fraction]:
    """Exact (unrounded) charges by the scalar reference rater of the written sheet."""
    settings = imported.settings
    (directory / settings.rates).write_text(sheet_csv(imported), encoding="utf-8")
    toml_path = directory / f"{settings.id}.toml"
    toml_path.write_text(sheet_toml(imported), encoding="utf-8")
    sheet = ReferenceSheet.load(toml_path)
    start = datetime.fromisoformat(START)
    exact: list[Fraction] = []
    for duration in durations:
        result = reference_rate(sheet, number, start, Decimal(duration))
        assert result is not None, f"no rate for {number}"
        exact.append(result.exact)
    return exact
