"""The vectorised engine agrees with the scalar reference on random sheets and calls.

Sheets are random but valid (ARCHITECTURE.md section 4): disjoint band windows, no
duplicate (prefix, band, from_s) in overlapping effective windows, every tiered rate
has a from_s = 0 row. Calls cluster where rating is delicate: DST transitions, band
boundaries, effective dates, holidays, sub-second starts and exact-half charges.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import Call, rate_with_engine, rate_with_reference
from reference import ReferenceSheet, parse_band_windows, parse_bound, parse_hhmm
from sheetfactory import (
    ALL_DAYS,
    CSV_COLUMNS,
    WEEKDAYS,
    WEEKEND,
    BandWindow,
    Cell,
    SheetSpec,
    write_sheet,
)

# Days where the wall clock jumps in each zone (2026); UTC never jumps: two ordinary days.
FOCUS_DATES = {
    "UTC": [date(2026, 3, 29), date(2026, 10, 23)],
    "Europe/Berlin": [date(2026, 3, 29), date(2026, 10, 25)],
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1)],
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4)],
}
TIMEZONES = sorted(FOCUS_DATES)
BAND_NAMES = ("peak", "evening", "weekend")
CLOCK_TIMES = (
    *("00:00", "01:00", "01:30", "02:00", "02:30", "03:00", "07:00", "08:00"),
    *("12:00", "17:30", "18:00", "20:00", "23:30", "24:00"),
)
DAY_SETS = (ALL_DAYS, WEEKDAYS, WEEKEND, ("sat",), ("sun",), ("fri",), ("mon", "thu"))
METHODS = ("half_up", "half_even", "up", "down")
SPLIT_MAX_S = 3 * 3600


@dataclass
class GeneratedSheet:
    """A sheet spec plus the instants worth calling at."""

    spec: SheetSpec
    prefixes: list[str]
    band_changes: list[datetime]
    """Where the wall-clock band changes on the focus days."""
    effective_bounds: list[datetime]
    """Where rates start or stop being effective."""
    anchors: list[datetime]
    """Local midnights and the usual DST switch times on the focus days."""


def focus_days(tz: str) -> list[date]:
    """The focus dates of a zone and their neighbours."""
    return [day + timedelta(days=delta) for day in FOCUS_DATES[tz] for delta in (-1, 0, 1)]


def money(max_value: int) -> st.SearchStrategy[Decimal]:
    """Decimals in ``[0, max_value]`` with 0-6 places, half of them ending in 5 (halves)."""

    def make(places: int, units: int, ends_in_five: bool) -> Decimal:
        if ends_in_five:
            units = units - units % 10 + 5
        return Decimal(f"{units}e-{places}")

    return st.one_of(
        [
            st.builds(make, st.just(places), st.integers(0, max_value * 10**places), st.booleans())
            for places in range(7)
        ]
    )


# Built once: building strategies inside every draw dominates the run time otherwise.
RATES = money(1) | money(12)
FEES = st.none() | money(2)
CAPS = money(100)
UNITS = st.none() | st.sampled_from([1, 60, 3600])
INCREMENT_S = st.none() | st.integers(1, 60)
TIER_STARTS = st.sets(st.integers(1, 600), max_size=2)
SMALL_UNITS = st.integers(0, 200)


def overlaps(a: BandWindow, b: BandWindow) -> bool:
    """Whether two windows share a weekday and a minute."""
    if not set(a.days) & set(b.days):
        return False
    a_from, a_to = parse_hhmm(a.start or "00:00"), parse_hhmm(a.end or "24:00")
    b_from, b_to = parse_hhmm(b.start or "00:00"), parse_hhmm(b.end or "24:00")
    return a_from < b_to and b_from < a_to


@st.composite
def band_window(draw: st.DrawFn) -> BandWindow:
    """A window on a few days: the whole day, or a from < to pair of clock times."""
    days = draw(st.sampled_from(DAY_SETS))
    if draw(st.integers(0, 4)) == 0:
        whole = draw(st.booleans())
        return BandWindow(days, None if whole else "00:00", None if whole else "24:00")
    quarter = st.integers(0, 96).map(lambda q: f"{q * 15 // 60:02d}:{q * 15 % 60:02d}")
    start, end = draw(
        st.lists(st.sampled_from(CLOCK_TIMES) | quarter, min_size=2, max_size=2, unique=True)
    )
    start, end = sorted((start, end), key=parse_hhmm)
    return BandWindow(days, start, end)


@st.composite
def bands(draw: st.DrawFn) -> dict[str, list[BandWindow]]:
    """0-3 bands of disjoint windows; a window overlapping earlier ones is dropped."""
    names = draw(st.lists(st.sampled_from(BAND_NAMES), max_size=3, unique=True))
    if draw(st.integers(0, 3)) > 0 and not names:
        names = ["peak"]  # no bands at all only now and then
    result: dict[str, list[BandWindow]] = {}
    accepted: list[BandWindow] = []
    for name in names:
        for window in draw(st.lists(band_window(), min_size=1, max_size=2)):
            if not any(overlaps(window, other) for other in accepted):
                accepted.append(window)
                result.setdefault(name, []).append(window)
    return result


@st.composite
def prefixes(draw: st.DrawFn) -> list[str]:
    """1-12 distinct prefixes, many nested in each other ("4", "49", "491", ...)."""
    found: list[str] = []
    for _ in range(draw(st.integers(1, 12))):
        if found and draw(st.integers(0, 2)) > 0:
            base = draw(st.sampled_from(found))
            candidate = base + draw(st.sampled_from("0123456789"))
        else:
            candidate = draw(st.sampled_from(["1", "3", "4", "44", "49", "61", "7"]))
        if candidate not in found and len(candidate) <= 7:
            found.append(candidate)
    return found


@st.composite
def bound(draw: st.DrawFn, tz: str) -> str:
    """An effective bound: a date, a local datetime, or one with an explicit offset."""
    day = draw(st.sampled_from(focus_days(tz)))
    kind = draw(st.integers(0, 5))
    if kind <= 2:
        return day.isoformat()
    # 04:00 and later: never a skipped or repeated local time in the zones used.
    clock = f"{draw(st.integers(4, 23)):02d}:{draw(st.sampled_from([0, 30, 59])):02d}:00"
    if kind <= 4:
        return f"{day.isoformat()}T{clock}"
    return f"{day.isoformat()}T{clock}+00:00"


@st.composite
def versions(draw: st.DrawFn, tz: str) -> list[tuple[str | None, str | None]]:
    """Effective windows of one (prefix, band): one, or two disjoint ones."""
    kind = draw(st.integers(0, 7))
    if kind <= 3:
        return [(None, None)]
    zone = ZoneInfo(tz)
    first, second = sorted(
        draw(st.lists(bound(tz), min_size=2, max_size=2)), key=lambda b: parse_bound(b, zone)
    )
    if kind == 4:
        return [(first, None)]  # not effective before `first`
    if kind == 5:
        return [(None, first)]  # withdrawn at `first`
    if kind == 6 or parse_bound(first, zone) == parse_bound(second, zone):
        return [(None, first), (first, None)]  # price change at `first`
    return [(None, first), (second, None)]  # a gap in between


def half_step(decimals: int, units: int) -> Decimal:
    """``units`` and a half of the sheet's last decimal place: ``(10 * units + 5) / 10**(d+1)``.

    Per-second prices like this make exact halves at the rounding position common.
    """
    return Decimal(f"{10 * units + 5}e-{decimals + 1}")


@st.composite
def tier_rows(draw: st.DrawFn, decimals: int) -> list[dict[str, Cell]]:
    """The CSV cells of one rate: the a/b shorthand or 1-3 explicit tiers.

    Half of the rates are a per-second half step times the unit, so that charges land
    exactly on a half of the sheet's last decimal place and the rounding method matters.
    """

    def rate_and_unit() -> tuple[Decimal, int | None]:
        unit = draw(UNITS)
        if draw(st.booleans()):
            return draw(RATES), unit
        return half_step(decimals, draw(SMALL_UNITS)) * (unit or 60), unit

    def fee_or_half(plain: st.SearchStrategy[Decimal | None]) -> Decimal | None:
        return draw(plain) if draw(st.booleans()) else half_step(decimals, draw(SMALL_UNITS))

    connect_fee = fee_or_half(FEES)
    max_cost = fee_or_half(CAPS) if draw(st.integers(0, 4)) == 0 else None
    if draw(st.integers(0, 3)) == 0:
        rate, unit = rate_and_unit()
        shorthand = f"{draw(st.integers(1, 60))}/{draw(st.integers(1, 60))}"
        return [
            {
                "rate": rate,
                "unit_s": unit,
                "increments": shorthand,
                "connect_fee": connect_fee,
                "max_cost": max_cost,
            }
        ]
    starts = [0, *sorted(draw(TIER_STARTS))]
    rows: list[dict[str, Cell]] = []
    for from_s in starts:
        rate, unit = rate_and_unit()
        cells: dict[str, Cell] = {
            "rate": rate,
            "unit_s": unit,
            "increment_s": draw(INCREMENT_S),
            "from_s": from_s if from_s or draw(st.booleans()) else None,
        }
        if from_s == 0:
            cells |= {"connect_fee": connect_fee, "max_cost": max_cost}
        rows.append(cells)
    return rows


def band_changes(spec: SheetSpec) -> list[datetime]:
    """Instants on the focus days where the band changes, found by a 15-minute scan.

    Every band edge is a multiple of 15 minutes in local time and every zone used has
    offsets in whole half hours, so a 15-minute scan in UTC finds every change.
    """
    default_band = spec.default_band or "offpeak"
    clock = ReferenceSheet(
        sheet_id=spec.sheet_id,
        tz=ZoneInfo(spec.timezone),
        band_mode="start",
        grace_s=0,
        default_band=default_band,
        holidays=frozenset(date.fromisoformat(day) for day in spec.holidays),
        holiday_band=spec.holiday_band or default_band,
        decimals=0,
        method="down",
        bands={
            name: parse_band_windows(
                [{"days": w.days, "from": w.start or "00:00", "to": w.end or "24:00"} for w in ws]
            )
            for name, ws in spec.bands.items()
        },
        rates=[],
    )
    step = timedelta(minutes=15)
    changes = []
    for day in focus_days(spec.timezone):
        instant = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=15)
        previous = clock.band_at(instant - step)
        for _ in range(4 * 30):
            band = clock.band_at(instant)
            if band != previous:
                changes.append(instant)
            previous, instant = band, instant + step
    return sorted(set(changes))


@st.composite
def sheets(draw: st.DrawFn) -> GeneratedSheet:
    """A random valid sheet and the instants where its rating changes."""
    tz = draw(st.sampled_from(TIMEZONES))
    zone = ZoneInfo(tz)
    band_spec = draw(bands())
    default_band = draw(st.sampled_from([None, "standard"]))
    holidays = draw(st.lists(st.sampled_from(focus_days(tz)), max_size=2, unique=True))
    row_bands = ["", *band_spec, default_band or "offpeak"]
    holiday_band = draw(st.none() | st.sampled_from(row_bands[1:])) if holidays else None
    prefix_list = draw(prefixes())
    decimals = draw(st.integers(0, 6))
    bands_of_prefix = st.lists(st.sampled_from(row_bands), min_size=1, max_size=3, unique=True)
    versions_in_tz, rates_of_sheet = versions(tz), tier_rows(decimals)
    rows: list[dict[str, Cell]] = []
    for prefix in prefix_list:
        destination = f"Destination {prefix}"
        for band in draw(bands_of_prefix):
            for effective_from, effective_to in draw(versions_in_tz):
                for cells in draw(rates_of_sheet):
                    rows.append(
                        {
                            "prefix": prefix,
                            "destination": destination,
                            "band": band or None,
                            "effective_from": effective_from,
                            "effective_to": effective_to,
                            **cells,
                        }
                    )
    rows = draw(st.permutations(rows))
    filled = [c for c in CSV_COLUMNS if any(cells.get(c) is not None for cells in rows)]
    blank = [c for c in CSV_COLUMNS if c not in filled] if draw(st.booleans()) else []
    spec = SheetSpec(
        rows=rows,
        columns=draw(st.permutations(filled + blank)),  # header order is free
        timezone=tz,
        band_mode=draw(st.sampled_from([None, "start", "split", "split"])),
        grace_s=draw(st.none() | st.integers(0, 10)),
        default_band=default_band,
        holidays=[day.isoformat() for day in holidays],
        holiday_band=holiday_band,
        decimals=decimals,
        method=draw(st.sampled_from(METHODS)),
        bands=band_spec,
        array_bands=frozenset(draw(st.sets(st.sampled_from(BAND_NAMES)))),
    )
    anchors = []
    for day in focus_days(tz):
        local_midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        for minutes in (0, 120, 150, 180):  # midnight and the usual DST switch times
            for fold in (0, 1):
                local = (local_midnight + timedelta(minutes=minutes)).replace(fold=fold)
                anchors.append(local.astimezone(UTC))
    bounds = {
        parse_bound(text, zone)
        for cells in rows
        for text in (cells["effective_from"], cells["effective_to"])
        if isinstance(text, str)
    }
    return GeneratedSheet(
        spec, prefix_list, band_changes(spec), sorted(bounds), sorted(set(anchors))
    )


@st.composite
def calls_for(draw: st.DrawFn, sheet: GeneratedSheet) -> list[Call]:
    """1-12 calls near the sheet's anchors, to its prefixes and to unmatched numbers."""
    split = sheet.spec.band_mode == "split"
    prefix = st.sampled_from(sheet.prefixes)
    durations = (
        st.sampled_from([0, 1, 5, 10, 30, 59, 60, 61, 119, 120, 3599, 3600])
        | st.integers(0, 900)
        | st.integers(0, SPLIT_MAX_S if split else 4 * 3600)
    )
    kinds = [sheet.band_changes, sheet.band_changes, sheet.effective_bounds, sheet.anchors]
    anchors = st.sampled_from([kind for kind in kinds if kind]).flatmap(st.sampled_from)
    calls = []
    for index in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 5)) == 0:
            number = draw(st.text("0123456789", min_size=1, max_size=12))
        else:
            number = draw(prefix) + draw(st.text("0123456789", max_size=9))
        seconds = draw(durations)
        millis = draw(st.sampled_from([0, 1, 500, 999]) | st.integers(0, 999))
        millis -= millis % draw(st.sampled_from([1, 10, 100, 1000]))  # 0-3 decimals
        anchor = draw(anchors)
        offset_s = draw(st.just(0) | st.integers(-90, 90) | st.integers(-4 * 3600, 4 * 3600))
        if draw(st.integers(0, 2)) > 0:  # start before the anchor so that the call spans it
            offset_s = -(seconds + 1) * draw(st.integers(0, 1000)) // 1000
        micros = draw(st.sampled_from([0, 500_000, 999_999]) | st.integers(0, 999_999))
        micros *= draw(st.booleans())  # half of the calls start on a whole second
        start = anchor + timedelta(seconds=offset_s, microseconds=micros)
        calls.append(Call(f"c{index}", number, start, seconds + Decimal(millis) / 1000))
    return calls


@st.composite
def cases(draw: st.DrawFn) -> tuple[GeneratedSheet, list[Call]]:
    """A sheet and a batch of calls against it."""
    sheet = draw(sheets())
    return sheet, draw(calls_for(sheet))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_engine_matches_reference(case: tuple[GeneratedSheet, list[Call]]) -> None:
    """Same rejects, and the same prefix, band, billable seconds and exact charge."""
    sheet, calls = case
    with tempfile.TemporaryDirectory() as tmp:
        path = write_sheet(Path(tmp), sheet.spec)
        expected = rate_with_reference(path, calls)
        try:
            actual = rate_with_engine(path, calls)
        # A Polars panic is a BaseException; as an AssertionError Hypothesis shrinks it.
        except BaseException as crash:
            if isinstance(crash, KeyboardInterrupt | SystemExit):
                raise
            raise AssertionError(f"the engine crashed: {crash!r}") from crash
    for call in calls:
        assert actual[call.call_id] == expected[call.call_id], (
            f"{call}\n  engine:    {actual[call.call_id]}\n  reference: {expected[call.call_id]}"
        )


@st.composite
def covered_cases(draw: st.DrawFn) -> tuple[GeneratedSheet, list[Call], dict[str, int]]:
    """A sheet, calls, and the seconds an allowance covers of each call."""
    sheet, calls = draw(cases())
    seconds = st.sampled_from([0, 1, 30, 59, 60, 61, 120]) | st.integers(0, 4 * 3600)
    return sheet, calls, {call.call_id: draw(seconds) for call in calls}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=covered_cases())
def test_covered_seconds_match_reference(
    case: tuple[GeneratedSheet, list[Call], dict[str, int]],
) -> None:
    """With allowance-covered seconds (period close) the engine still agrees, call by
    call: covered seconds come off the start of the billed timeline, whatever its tiers
    and band pieces, and the connect fee and cap still apply."""
    sheet, calls, covered = case
    with tempfile.TemporaryDirectory() as tmp:
        path = write_sheet(Path(tmp), sheet.spec)
        expected = rate_with_reference(path, calls, covered)
        actual = rate_with_engine(path, calls, covered)
    for call in calls:
        assert actual[call.call_id] == expected[call.call_id], (
            f"{call} covered {covered[call.call_id]} s\n  engine:    {actual[call.call_id]}\n"
            f"  reference: {expected[call.call_id]}"
        )
