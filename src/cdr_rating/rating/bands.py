"""The band of an instant, decided on the wall clock of each sheet's timezone.

Every sheet's week is laid out as a lookup array of 10,080 minutes, so the band of an
instant is one gather at ``sheet * 10080 + minute_of_week`` after a timezone
conversion; holidays override it by local date. For ``band_mode = "split"`` the same
function, evaluated at every instant where the band can change, gives a timeline of
band changes in UTC that calls are cut against.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from cdr_rating.sheets.model import MINUTES_PER_DAY, RateSheet

MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
SECONDS_PER_DAY = 86_400
_THURSDAY = 3  # 1970-01-01, day 0 of the epoch, was a Thursday (Monday = 0)
_ZONE_SHIFT = 36
_OFFSET_BIAS = 1 << 35  # keeps epoch seconds before 1970 positive in the search key
# Offsets are tabulated over these years; outside them the nearest known offset holds.
_FIRST_YEAR, _LAST_YEAR = 1970, 2100

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
_HOLIDAY_SHEET_STRIDE = 1 << 24  # local dates as days since 1970, offset to stay positive
_DAY_OFFSET = 1 << 22


@dataclass(frozen=True)
class BandCalendar:
    """Every sheet's bands, as arrays the engine gathers from."""

    max_bands: int
    names: pl.Series  # sheet * max_bands + band -> band name
    week: pl.Series  # sheet * MINUTES_PER_WEEK + minute of week -> band
    holiday_keys: pl.Series  # sheet * stride + local day, for every holiday
    holiday_band: pl.Series  # sheet -> band of its holidays
    sheet_zone: pl.Series  # sheet -> index of its timezone
    offset_keys: pl.Series  # zone << _ZONE_SHIFT | epoch seconds of an offset change, sorted
    offset_values: pl.Series  # the UTC offset in seconds from that change on

    @classmethod
    def build(cls, sheets: list[RateSheet]) -> BandCalendar:
        max_bands = max(len(sheet.settings.band_names) for sheet in sheets)
        names: list[str | None] = []
        week: list[int] = []
        holiday_keys: list[int] = []
        holiday_band: list[int] = []
        zones: list[str] = []
        for index, sheet in enumerate(sheets):
            settings = sheet.settings
            band_names = settings.band_names
            names += band_names + [None] * (max_bands - len(band_names))
            minutes = [band_names.index(settings.default_band)] * MINUTES_PER_WEEK
            for name, windows in settings.band_windows().items():
                for window in windows:
                    for start, end in window.minutes_of_week():
                        minutes[start:end] = [band_names.index(name)] * (end - start)
            week += minutes
            holiday_keys += [
                index * _HOLIDAY_SHEET_STRIDE + _DAY_OFFSET + (day - dt.date(1970, 1, 1)).days
                for day in settings.holidays
            ]
            holiday_band.append(band_names.index(settings.effective_holiday_band))
            if settings.timezone not in zones:
                zones.append(settings.timezone)
        return cls(
            max_bands=max_bands,
            names=pl.Series("band_names", names, dtype=pl.String),
            week=pl.Series("week", week, dtype=pl.Int32),
            holiday_keys=pl.Series("holidays", holiday_keys, dtype=pl.Int64),
            holiday_band=pl.Series("holiday_band", holiday_band, dtype=pl.Int32),
            sheet_zone=pl.Series(
                "sheet_zone", [zones.index(s.settings.timezone) for s in sheets], dtype=pl.Int64
            ),
            **_offset_changes(zones),
        )

    def with_band(self, frame: FrameT, instant: str, sheet: str, out: str) -> FrameT:
        """Add ``out``: the band (index within its sheet) of UTC ``instant`` for ``sheet``.

        The wall clock is the UTC instant plus the zone's offset at that instant, found
        by a sorted search among the zone's offset changes; minute of week and local day
        are then integer arithmetic. Steps are separate columns so each runs once.
        """
        epoch = pl.col(instant).dt.epoch("s")
        zone = pl.lit(self.sheet_zone).gather(pl.col(sheet).cast(pl.Int64))
        position = (
            pl.lit(self.offset_keys)
            .search_sorted(zone * (1 << _ZONE_SHIFT) + epoch + _OFFSET_BIAS, side="right")
            .cast(pl.Int64)
            - 1
        ).clip(lower_bound=0)
        local, day = f"_{out}_local_s", f"_{out}_day"
        frame = frame.with_columns(
            (epoch + pl.lit(self.offset_values).gather(position)).alias(local)
        ).with_columns(pl.col(local).floordiv(SECONDS_PER_DAY).alias(day))
        sheet_index = pl.col(sheet).cast(pl.Int64)
        minute_of_week = (pl.col(local).floordiv(60) + _THURSDAY * MINUTES_PER_DAY).mod(
            MINUTES_PER_WEEK
        )
        weekly = pl.lit(self.week).gather(sheet_index * MINUTES_PER_WEEK + minute_of_week)
        if self.holiday_keys.len() == 0:
            band = weekly
        else:
            holiday_key = sheet_index * _HOLIDAY_SHEET_STRIDE + _DAY_OFFSET + pl.col(day)
            band = (
                pl.when(holiday_key.is_in(self.holiday_keys.implode()))
                .then(pl.lit(self.holiday_band).gather(sheet_index))
                .otherwise(weekly)
            )
        return frame.with_columns(band.cast(pl.Int32).alias(out)).drop(local, day)

    def band_name(self, sheet_index: pl.Expr, band: pl.Expr) -> pl.Expr:
        return pl.lit(self.names).gather(
            sheet_index.cast(pl.Int64) * self.max_bands + band.cast(pl.Int64)
        )

    def timeline(
        self,
        sheets: list[RateSheet],
        split_sheets: list[int],
        first: dt.datetime,
        last: dt.datetime,
    ) -> pl.DataFrame:
        """Band changes of the split-mode sheets between two UTC instants.

        Candidates are every instant where a sheet's wall clock reads a window edge or
        midnight (both readings on the night clocks go back) and a 15-minute UTC grid
        that catches daylight-saving jumps. The band is evaluated at each candidate with
        ``band_at``, and only real changes are kept. Returns ``sheet_index``,
        ``change`` (epoch seconds) and ``band``, sorted.
        """
        first_day = (first - dt.timedelta(days=2)).date()
        last_day = (last + dt.timedelta(days=2)).date()
        grid = pl.datetime_range(
            dt.datetime.combine(first_day, dt.time()),
            dt.datetime.combine(last_day, dt.time()),
            "15m",
            time_zone="UTC",
            eager=True,
        )
        frames = []
        for index in split_sheets:
            settings = sheets[index].settings
            edges = sorted(
                {0}
                | {
                    minute
                    for windows in settings.band_windows().values()
                    for window in windows
                    for minute in (window.start_minute, window.end_minute % MINUTES_PER_DAY)
                }
            )
            local = pl.DataFrame({"day": pl.date_range(first_day, last_day, eager=True)}).join(
                pl.DataFrame({"minute": edges}, schema={"minute": pl.Int64}), how="cross"
            )
            wall = pl.col("day").cast(pl.Datetime("us")) + pl.duration(minutes=pl.col("minute"))
            readings = local.select(
                earliest=wall.dt.replace_time_zone(
                    settings.timezone, ambiguous="earliest", non_existent="null"
                ),
                latest=wall.dt.replace_time_zone(
                    settings.timezone, ambiguous="latest", non_existent="null"
                ),
            )
            candidates = (
                pl.concat(
                    [
                        readings.get_column("earliest").dt.convert_time_zone("UTC"),
                        readings.get_column("latest").dt.convert_time_zone("UTC"),
                        grid,
                    ]
                )
                .drop_nulls()
                .unique()
                .sort()
            )
            frames.append(
                self.with_band(
                    pl.DataFrame({"instant": candidates}).with_columns(
                        sheet_index=pl.lit(index, pl.Int32)
                    ),
                    "instant",
                    "sheet_index",
                    "band",
                )
                .filter(pl.col("band").ne_missing(pl.col("band").shift(1)))
                .select(
                    "sheet_index",
                    change=pl.col("instant").dt.epoch("s"),
                    band=pl.col("band").cast(pl.Int32),
                )
            )
        return pl.concat(frames).sort("sheet_index", "change")


def _offset_changes(zones: list[str]) -> dict[str, pl.Series]:
    """Every change of UTC offset of each zone, as search arrays (see ``_zone_changes``)."""
    keys, values = [], []
    for index, zone in enumerate(zones):
        instants, offsets = _zone_changes(zone)
        keys.append(instants.dt.epoch("s") + index * (1 << _ZONE_SHIFT) + _OFFSET_BIAS)
        values.append(offsets)
    return {
        "offset_keys": pl.concat(keys).alias("offset_keys"),
        "offset_values": pl.concat(values).alias("offset_values"),
    }


@functools.cache
def _zone_changes(zone: str) -> tuple[pl.Series, pl.Series]:
    """The instants (to the minute) where ``zone``'s UTC offset changes, and the offsets.

    Offsets are sampled daily; where a day differs from the one before, that day is
    sampled hourly, and where an hour differs, that hour by the minute.
    """
    samples = _with_offset(
        pl.DataFrame(
            {
                "instant": pl.datetime_range(
                    dt.datetime(_FIRST_YEAR, 1, 1),
                    dt.datetime(_LAST_YEAR, 1, 1),
                    "1d",
                    time_zone="UTC",
                    eager=True,
                )
            }
        ),
        zone,
    )
    for step, finer in ((dt.timedelta(days=1), "1h"), (dt.timedelta(hours=1), "1m")):
        changed = samples.filter(pl.col("offset") != pl.col("offset").shift(1))
        inside = changed.select(
            instant=pl.datetime_ranges(
                pl.col("instant") - step, pl.col("instant"), finer, closed="left"
            )
        ).explode("instant")
        samples = pl.concat([samples, _with_offset(inside, zone)]).unique("instant").sort("instant")
    changes = samples.filter(pl.col("offset").ne_missing(pl.col("offset").shift(1)))
    return changes.get_column("instant"), changes.get_column("offset")


def _with_offset(frame: pl.DataFrame, zone: str) -> pl.DataFrame:
    """Add ``offset``: the zone's UTC offset in seconds at each UTC ``instant``."""
    local = pl.col("instant").dt.convert_time_zone(zone).dt.replace_time_zone(None)
    utc = pl.col("instant").dt.replace_time_zone(None)
    return frame.with_columns(offset=(local - utc).dt.total_seconds().cast(pl.Int64))
