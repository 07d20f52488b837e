"""Write rate sheets (TOML + CSV, ARCHITECTURE.md section 4) from Python data.

Tests describe a sheet as a ``SheetSpec`` and get real files on disk, so the engine's
loader and the reference's parser both read exactly what a user would write.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

CSV_COLUMNS = (
    "prefix",
    "destination",
    "band",
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
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
WEEKEND = ("sat", "sun")
ALL_DAYS = WEEKDAYS + WEEKEND

Cell = str | int | Decimal | None


@dataclass(frozen=True)
class BandWindow:
    """One window of a band; ``start``/``end`` ``None`` leave ``from``/``to`` out."""

    days: Sequence[str]
    start: str | None = None
    end: str | None = None


@dataclass
class SheetSpec:
    """Everything a sheet file can say; ``None`` leaves the key out (its default)."""

    rows: Sequence[Mapping[str, Cell]]
    sheet_id: str = "test-sheet"
    currency: str = "EUR"
    timezone: str = "Europe/Berlin"
    band_mode: str | None = None
    grace_s: int | None = None
    default_band: str | None = None
    holidays: Sequence[str] = ()
    holiday_band: str | None = None
    decimals: int = 4
    method: str = "half_up"
    bands: Mapping[str, Sequence[BandWindow]] = field(default_factory=dict)
    array_bands: frozenset[str] = frozenset()
    """Bands written as ``[[bands.x]]`` even with one window (more windows always are)."""
    columns: Sequence[str] | None = None
    """CSV header order; default: every column of ``CSV_COLUMNS`` that a row uses."""
    allowances: Sequence[tuple[str, int, Sequence[str]]] = ()
    """``[[allowances]]``: (name, seconds, prefixes)."""


def row(prefix: str, rate: str | Decimal, **cells: Cell) -> dict[str, Cell]:
    """One CSV row; keyword names are CSV columns, omitted ones are empty cells."""
    unknown = set(cells) - set(CSV_COLUMNS)
    if unknown:
        raise ValueError(f"unknown CSV columns {sorted(unknown)}")
    return {"prefix": prefix, "rate": rate, **cells}


def _toml_value(value: str | int | Sequence[str]) -> str:
    """A TOML literal; JSON string escaping is valid TOML for basic strings."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    return "[" + ", ".join(json.dumps(item) for item in value) + "]"


def _window_lines(window: BandWindow) -> list[str]:
    """The key lines of one band window."""
    lines = [f"days = {_toml_value(list(window.days))}"]
    if window.start is not None:
        lines.append(f"from = {_toml_value(window.start)}")
    if window.end is not None:
        lines.append(f"to = {_toml_value(window.end)}")
    return lines


def render_toml(spec: SheetSpec, csv_name: str) -> str:
    """The sheet's TOML text: top-level keys first, then rounding and bands."""
    top: dict[str, str | int | Sequence[str] | None] = {
        "id": spec.sheet_id,
        "currency": spec.currency,
        "timezone": spec.timezone,
        "rates": csv_name,
        "band_mode": spec.band_mode,
        "grace_s": spec.grace_s,
        "default_band": spec.default_band,
        "holidays": list(spec.holidays) if spec.holidays else None,
        "holiday_band": spec.holiday_band,
    }
    lines = [f"{key} = {_toml_value(value)}" for key, value in top.items() if value is not None]
    lines += [
        "",
        "[rounding]",
        f"decimals = {spec.decimals}",
        f"method = {_toml_value(spec.method)}",
    ]
    for name, windows in spec.bands.items():
        as_array = len(windows) > 1 or name in spec.array_bands
        for window in windows:
            lines += ["", f"[[bands.{name}]]" if as_array else f"[bands.{name}]"]
            lines += _window_lines(window)
    for name, seconds, prefixes in spec.allowances:
        lines += [
            "",
            "[[allowances]]",
            f"name = {_toml_value(name)}",
            f"seconds = {seconds}",
            f"prefixes = {_toml_value(list(prefixes))}",
        ]
    return "\n".join(lines) + "\n"


def _csv_text(value: Cell) -> str:
    """A CSV cell: ``None`` is empty, decimals in plain (non-exponent) notation."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def write_sheet(directory: Path, spec: SheetSpec) -> Path:
    """Write ``<id>.toml`` and ``<id>.csv`` into ``directory``; return the TOML path."""
    directory.mkdir(parents=True, exist_ok=True)
    csv_name = f"{spec.sheet_id}.csv"
    columns = spec.columns or [
        column for column in CSV_COLUMNS if any(column in cells for cells in spec.rows)
    ]
    with (directory / csv_name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for cells in spec.rows:
            writer.writerow([_csv_text(cells.get(column)) for column in columns])
    toml_path = directory / f"{spec.sheet_id}.toml"
    toml_path.write_text(render_toml(spec, csv_name), encoding="utf-8")
    return toml_path
