"""The rate sheet: its TOML settings (validated with pydantic) and its typed rate rows."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cdr_rating.choices import RoundingMethod
from cdr_rating.money import MAX_DECIMALS
from cdr_rating.names import NAME_RULE, is_name

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def clock_minutes(text: str) -> int:
    """``"08:30"`` as minutes after midnight; ``"24:00"`` is allowed as an end."""
    match = _CLOCK.match(text)
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"time {text!r} is not HH:MM between 00:00 and 24:00")
    return int(match.group(1)) * 60 + int(match.group(2))


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently change a price."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Rounding(Strict):
    decimals: Annotated[int, Field(ge=0, le=MAX_DECIMALS)] = 4
    method: RoundingMethod = RoundingMethod.HALF_UP


class BandWindow(Strict):
    """One weekly window of a band: the listed days, from ``start`` up to ``end``."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    start: str = Field(default="00:00", alias="from")
    end: str = Field(default="24:00", alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> BandWindow:
        if self.start_minute >= self.end_minute:
            raise ValueError(
                f"from {self.start!r} is not before to {self.end!r}; a band that wraps "
                "midnight is written as two windows ([[bands.NAME]] twice)"
            )
        if not self.days:
            raise ValueError("days is empty; list at least one of " + ", ".join(WEEKDAYS))
        return self

    @property
    def start_minute(self) -> int:
        return clock_minutes(self.start)

    @property
    def end_minute(self) -> int:
        return clock_minutes(self.end)

    def minutes_of_week(self) -> list[tuple[int, int]]:
        """The window as [start, end) minute ranges counted from Monday 00:00."""
        return [
            (
                WEEKDAYS.index(day) * MINUTES_PER_DAY + self.start_minute,
                WEEKDAYS.index(day) * MINUTES_PER_DAY + self.end_minute,
            )
            for day in self.days
        ]


class Allowance(Strict):
    name: str
    seconds: Annotated[int, Field(gt=0)]
    prefixes: list[str] = Field(default_factory=list)

    @field_validator("prefixes")
    @classmethod
    def _digits(cls, prefixes: list[str]) -> list[str]:
        for prefix in prefixes:
            if not prefix.lstrip("+").isdigit():
                raise ValueError(f"allowance prefix {prefix!r} is not digits")
        return [prefix.lstrip("+") for prefix in prefixes]


class SheetSettings(Strict):
    """The TOML part of a rate sheet (ARCHITECTURE.md section 4)."""

    id: str
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    timezone: str = "UTC"
    rates: str
    band_mode: Literal["start", "split"] = "start"
    grace_s: Annotated[int, Field(ge=0)] = 0
    default_band: str = "offpeak"
    holidays: list[dt.date] = Field(default_factory=list)
    holiday_band: str | None = None
    rounding: Rounding = Rounding()
    bands: dict[str, list[BandWindow]] = Field(default_factory=dict)
    allowances: list[Allowance] = Field(default_factory=list)

    @field_validator("bands", mode="before")
    @classmethod
    def _one_window_is_a_list(cls, bands: object) -> object:
        """``[bands.x]`` (one window) and ``[[bands.x]]`` (several) mean the same."""
        if isinstance(bands, dict):
            return {
                name: windows if isinstance(windows, list) else [windows]
                for name, windows in bands.items()
            }
        return bands

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        # The id names files (``sheet import`` writes ID.toml) and appears in paths.
        if not is_name(value):
            raise ValueError(f"{value!r} is not a valid sheet id: {NAME_RULE}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {name!r}; use an IANA name such as 'Europe/Berlin'"
            ) from exc
        return name

    @model_validator(mode="after")
    def _bands_do_not_overlap(self) -> SheetSettings:
        taken: dict[int, str] = {}
        for name, windows in self.band_windows().items():
            for window in windows:
                for start, end in window.minutes_of_week():
                    for minute in range(start, end):
                        other = taken.setdefault(minute, name)
                        if other != name:
                            day = WEEKDAYS[minute // MINUTES_PER_DAY]
                            clock = f"{minute % MINUTES_PER_DAY // 60:02d}:{minute % 60:02d}"
                            raise ValueError(
                                f"bands {other!r} and {name!r} overlap on {day} at {clock}; "
                                "make their windows disjoint"
                            )
        return self

    def band_windows(self) -> dict[str, list[BandWindow]]:
        return self.bands

    @property
    def band_names(self) -> list[str]:
        """Every band a call can be in: the defined ones, the default, the holiday band."""
        names = list(self.bands)
        for extra in (self.default_band, self.holiday_band or self.default_band):
            if extra not in names:
                names.append(extra)
        return names

    @property
    def effective_holiday_band(self) -> str:
        return self.holiday_band or self.default_band


# The typed rate rows of a sheet, one row per tier (``increments`` already expanded).
# Money is in integer nano-units; effective bounds are epoch seconds in UTC (null = open).
RATE_ROWS_SCHEMA = pl.Schema(
    {
        "line": pl.Int64,
        "prefix": pl.String,
        "destination": pl.String,
        "band": pl.String,  # "" = every band
        "rate_nano": pl.Int64,
        "unit_s": pl.Int64,
        "increment_s": pl.Int64,
        "from_s": pl.Int64,
        "connect_fee_nano": pl.Int64,
        "max_cost_nano": pl.Int64,
        "effective_from": pl.Int64,
        "effective_to": pl.Int64,
    }
)


@dataclass(frozen=True)
class RateSheet:
    """A validated rate sheet: settings, typed rate rows and where they came from."""

    settings: SheetSettings
    rows: pl.DataFrame
    path: Path
    rates_path: Path

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def currency(self) -> str:
        return self.settings.currency

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)
