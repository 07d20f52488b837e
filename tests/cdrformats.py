"""Shared by the CDR format tests: the fixture files, a small sheet, and rating helpers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from cdr_rating.cdrs import InputOptions
from cdr_rating.pipeline import RatingResult, rate_files
from cdr_rating.rating import RatingPlan
from cdr_rating.sheets import load_sheet
from sheetfactory import SheetSpec, row, write_sheet

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cdrs"
# ``../shared/real_formats/`` seen from the repository root.
REAL_FORMATS = Path(__file__).resolve().parents[2] / "shared" / "real_formats" / "cdrs"

# Per-minute rates billed per second, so a charge is seconds * rate / 60.
FLAT_SHEET = SheetSpec(
    sheet_id="flat",
    currency="EUR",
    timezone="UTC",
    rows=[
        row("1", "0.012", destination="NANP", unit_s=60),
        row("34", "0.03", destination="Spain", unit_s=60),
        row("49", "0.06", destination="Germany", unit_s=60),
        row("4930", "0.02", destination="Berlin", unit_s=60),
    ],
)


def flat_plan(directory: Path) -> RatingPlan:
    """The plan of ``FLAT_SHEET``, written into ``directory``."""
    return RatingPlan.from_sheets([load_sheet(write_sheet(directory, FLAT_SHEET))])


def rate(
    paths: Sequence[Path],
    plan: RatingPlan,
    fmt: str = "auto",
    options: InputOptions | None = None,
) -> RatingResult:
    """Rate ``paths`` and check the contract every run keeps: read = rated + rejected."""
    result = rate_files(list(paths), plan, fmt, options)
    assert result.reconciles()
    assert result.rejects.get_column("reason").is_not_null().all()
    assert result.rejects.get_column("message").is_not_null().all()
    return result


def charges(result: RatingResult) -> dict[str, Decimal]:
    """Rated calls by call_id (each call_id must be rated once)."""
    pairs = result.rated.select("call_id", "charge").rows()
    assert len({call_id for call_id, _ in pairs}) == len(pairs)
    return dict(pairs)


def rejected(result: RatingResult) -> list[tuple[int, str]]:
    """(line, reason) of every reject, in file and line order."""
    return [(line, reason) for line, reason in result.rejects.select("line", "reason").rows()]


def write(directory: Path, name: str, text: str | bytes) -> Path:
    """Write a test input file (bytes as they are; text as UTF-8)."""
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def column(result: RatingResult, name: str) -> list[object]:
    """One column of the rated calls, in input order."""
    return result.rated.get_column(name).to_list()
