"""The band of an instant, decided on the wall clock of each sheet's timezone.

Every sheet's week is laid out as a lookup array of 10,080 minutes, so the band of an
instant is one gather at ``sheet * 10080 + minute_of_week`` after a timezone
conversion; holidays override it by local date. For ``band_mode = "split"`` the same
function, evaluated at every instant where the band can change, gives a timeline of
band changes in UTC that calls are cut against.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from cdr_rating.sheets.model import MINUTES_PER_DAY, RateSheet

MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
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
    zones: tuple[tuple[str, tuple[int, ...]], ...]  # timezone -> sheets that use it

    @classmethod
    def build(cls, sheets: list[RateSheet]) -> BandCalendar:
        max_bands = max(len(sheet.settings.band_names) for sheet in sheets)
        names: list[str | None] = []
        week: list[int] = []
        holiday_keys: list[int] = []
        holiday_band: list[int] = []
        zones: dict[str, list[int]] = {}
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
            zones.setdefault(settings.timezone, []).append(index)
        return cls(
            max_bands=max_bands,
            names=pl.Series("band_names", names, dtype=pl.String),
            week=pl.Series("week", week, dtype=pl.Int32),
            holiday_keys=pl.Series("holidays", holiday_keys, dtype=pl.Int64),
            holiday_band=pl.Series("holiday_band", holiday_band, dtype=pl.Int32),
            zones=tuple((zone, tuple(indices)) for zone, indices in zones.items()),
        )

    def band_at(self, instant: pl.Expr, sheet_index: pl.Expr) -> pl.Expr:
        """The band index (within its sheet) of UTC instants for the given sheets."""
        minute_of_week: pl.Expr | None = None
        local_day: pl.Expr | None = None
        for zone, indices in self.zones:
            local = instant.dt.convert_time_zone(zone)
            zone_minute = (
                (local.dt.weekday().cast(pl.Int64) - 1) * MINUTES_PER_DAY
                + local.dt.hour().cast(pl.Int64) * 60
                + local.dt.minute().cast(pl.Int64)
            )
            zone_day = local.dt.date().cast(pl.Int64)
            if minute_of_week is None or local_day is None:
                minute_of_week, local_day = zone_minute, zone_day
            else:
                in_zone = sheet_index.is_in(list(indices))
                minute_of_week = pl.when(in_zone).then(zone_minute).otherwise(minute_of_week)
                local_day = pl.when(in_zone).then(zone_day).otherwise(local_day)
        assert minute_of_week is not None
        assert local_day is not None
        sheet = sheet_index.cast(pl.Int64)
        weekly = pl.lit(self.week).gather(sheet * MINUTES_PER_WEEK + minute_of_week)
        holiday_key = sheet * _HOLIDAY_SHEET_STRIDE + _DAY_OFFSET + local_day
        if self.holiday_keys.len() == 0:
            return weekly
        return (
            pl.when(holiday_key.is_in(self.holiday_keys.implode()))
            .then(pl.lit(self.holiday_band).gather(sheet))
            .otherwise(weekly)
        )

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
                pl.DataFrame({"instant": candidates})
                .with_columns(sheet_index=pl.lit(index, pl.Int32))
                .with_columns(band=self.band_at(pl.col("instant"), pl.col("sheet_index")))
                .filter(pl.col("band").ne_missing(pl.col("band").shift(1)))
                .select(
                    "sheet_index",
                    change=pl.col("instant").dt.epoch("s"),
                    band=pl.col("band").cast(pl.Int32),
                )
            )
        return pl.concat(frames).sort("sheet_index", "change")
