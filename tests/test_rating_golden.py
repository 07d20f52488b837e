"""Hand-computed charges: the worked examples of ARCHITECTURE.md section 5 and edge cases.

Every expectation is checked against the scalar reference first and then against the
engine, so a failure says which of the two departs from docs/rating.md. Sheets are in
Europe/Berlin unless a test says otherwise (CET = UTC+1, CEST = UTC+2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from harness import Call, Rated, Rejected, expect
from sheetfactory import ALL_DAYS, WEEKDAYS, WEEKEND, BandWindow, Cell, SheetSpec, row, write_sheet

NUMBER = "4930123456"


def utc(text: str) -> datetime:
    """An ISO instant in UTC (the tests write UTC, the sheets think in local time)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def call(call_id: str, start: str, duration: str, number: str = NUMBER) -> Call:
    """A call to ``number`` at a UTC ``start`` lasting ``duration`` seconds."""
    return Call(call_id, number, utc(start), Decimal(duration))


def sheet(tmp_path: Path, rows: list[dict[str, Cell]], **settings: Any) -> Path:
    """Write a sheet with these rows and ``SheetSpec`` settings into ``tmp_path``."""
    return write_sheet(tmp_path, SheetSpec(rows=rows, **settings))


def rated(prefix: str, band: str, billable_s: int, charge: str) -> Rated:
    """A rated outcome with the charge written as text."""
    return Rated(prefix, band, billable_s, Decimal(charge))


# An ordinary Thursday afternoon in October (CEST), outside every band used below.
THURSDAY = "2026-10-22T12:00:00"


def test_increments_30_6_bill_30_seconds_then_6_second_steps(tmp_path: Path) -> None:
    """``30/6``: the first 30 s are billed whole, then 6 s steps (d=10 -> 30, d=31 -> 36)."""
    path = sheet(tmp_path, [row("49", "0.6", increments="30/6")])
    calls = [call("short", THURSDAY, "10"), call("long", THURSDAY, "31")]
    expect(
        path,
        calls,
        {"short": rated("49", "offpeak", 30, "0.3"), "long": rated("49", "offpeak", 36, "0.36")},
    )


def test_increments_1_1_bill_exact_seconds(tmp_path: Path) -> None:
    """``1/1`` bills every started second, so a fractional second costs a whole one."""
    path = sheet(tmp_path, [row("49", "0.6", increments="1/1")])
    calls = [call("whole", THURSDAY, "61"), call("fraction", THURSDAY, "61.2")]
    expect(
        path,
        calls,
        {
            "whole": rated("49", "offpeak", 61, "0.61"),
            "fraction": rated("49", "offpeak", 62, "0.62"),
        },
    )


def test_increments_60_60_bill_whole_minutes(tmp_path: Path) -> None:
    """``60/60`` rounds every call up to whole minutes."""
    path = sheet(tmp_path, [row("49", "0.6", increments="60/60")])
    calls = [call("one", THURSDAY, "1"), call("sixty", THURSDAY, "60"), call("61", THURSDAY, "61")]
    expect(
        path,
        calls,
        {
            "one": rated("49", "offpeak", 60, "0.6"),
            "sixty": rated("49", "offpeak", 60, "0.6"),
            "61": rated("49", "offpeak", 120, "1.2"),
        },
    )


def test_tiered_rate_with_connect_fee_is_exact_not_per_increment_rounded(
    tmp_path: Path,
) -> None:
    """Contract example: 0.4 + 0.2 + 0.1 = 0.7 exactly (CGRateS says 0.7002)."""
    rows = [
        row("49", "0.2", unit_s=60, increment_s=60, from_s=0, connect_fee="0.4"),
        row("49", "0.1", unit_s=60, increment_s=1, from_s=60),
    ]
    path = sheet(tmp_path, rows, decimals=4, method="up")
    calls = [call("two-minutes", THURSDAY, "120"), call("61", THURSDAY, "61")]
    expect(
        path,
        calls,
        {
            "two-minutes": rated("49", "offpeak", 120, "0.7"),
            # 0.4 + 0.2 + 0.1/60 = 0.60166..., rounded up once to 0.6017
            "61": rated("49", "offpeak", 61, "0.6017"),
        },
    )


def _split_example_rows() -> list[dict[str, Cell]]:
    """1 per second plus connect fee 1 in ``day`` (Mon-Fri before 18:00), else 0.5."""
    return [
        row("1", "1", unit_s=1, band="day", connect_fee="1"),
        row("1", "0.5", unit_s=1, band="offpeak"),
    ]


DAY_BAND = {"day": [BandWindow(WEEKDAYS, "00:00", "18:00")]}


def test_split_mode_prices_each_band_piece_contract_example(tmp_path: Path) -> None:
    """Thursday 17:30 Europe/Berlin (15:30 UTC), 3600 s: 1 + 1800 x 1 + 1800 x 0.5 = 2701."""
    path = sheet(tmp_path, _split_example_rows(), band_mode="split", bands=DAY_BAND)
    calls = [call("cross", "2026-10-22T15:30:00", "3600", number="15550100")]
    expect(path, calls, {"cross": rated("1", "day", 3600, "2701")})


def test_start_mode_prices_whole_call_at_start_band(tmp_path: Path) -> None:
    """The same call in start mode: 1 + 3600 x 1 = 3601."""
    path = sheet(tmp_path, _split_example_rows(), band_mode="start", bands=DAY_BAND)
    calls = [call("cross", "2026-10-22T15:30:00", "3600", number="15550100")]
    expect(path, calls, {"cross": rated("1", "day", 3600, "3601")})


def test_split_piece_in_band_without_rate_uses_start_band_rate(tmp_path: Path) -> None:
    """Only ``day`` has a rate: the part after 18:00 still costs the day rate."""
    rows = [row("1", "1", unit_s=1, band="day", connect_fee="1")]
    path = sheet(tmp_path, rows, band_mode="split", bands=DAY_BAND)
    calls = [
        call("cross", "2026-10-22T15:59:00", "120", number="15550100"),  # 17:59 CEST
        call("evening", "2026-10-22T16:00:00", "120", number="15550100"),  # 18:00 CEST
    ]
    expect(path, calls, {"cross": rated("1", "day", 120, "121"), "evening": Rejected("no_rate")})


def test_split_piece_uses_tier_k_of_piece_band_rate_or_its_last_tier(tmp_path: Path) -> None:
    """Tier 1 laid out in ``offpeak`` costs tier 1 of the offpeak rate (or its last tier).

    Day: 1/s billed 60 s at once, then 0.5/s. Offpeak for "1": 0.2/s then from 600 s
    0.1/s; for "2": 0.2/s only. From 17:59:30 CEST for 90 s: tier 0 is 30 s day + 30 s
    offpeak, tier 1 is 30 s offpeak: "1" costs 30 + 6 + 3, "2" costs 30 + 6 + 6.
    """
    rows = [row(p, "1", unit_s=1, increment_s=60, from_s=0, band="day") for p in "12"]
    rows += [row(p, "0.5", unit_s=1, from_s=60, band="day") for p in "12"]
    rows += [
        row("1", "0.2", unit_s=1, band="offpeak"),
        row("1", "0.1", unit_s=1, from_s=600, band="offpeak"),
        row("2", "0.2", unit_s=1, band="offpeak"),
    ]
    path = sheet(tmp_path, rows, band_mode="split", bands=DAY_BAND)
    calls = [
        call("tier-k", "2026-10-22T15:59:30", "90", number="15550100"),
        call("last-tier", "2026-10-22T15:59:30", "90", number="25550100"),
    ]
    expect(
        path,
        calls,
        {"tier-k": rated("1", "day", 90, "39"), "last-tier": rated("2", "day", 90, "42")},
    )


def test_spring_forward_night_band_ends_at_0300_summer_time(tmp_path: Path) -> None:
    """2026-03-29: 01:59:59 CET is night; one second later it is 03:00 CEST, offpeak."""
    rows = [row("49", "1", unit_s=1, band="night"), row("49", "2", unit_s=1, band="offpeak")]
    bands = {"night": [BandWindow(ALL_DAYS, "00:00", "03:00")]}
    path = sheet(tmp_path, rows, band_mode="split", bands=bands)
    calls = [
        call("before", "2026-03-29T00:59:59", "1"),
        call("after", "2026-03-29T01:00:00", "1"),
        call("across", "2026-03-29T00:59:00", "120"),  # 60 s night + 60 s offpeak
    ]
    expect(
        path,
        calls,
        {
            "before": rated("49", "night", 1, "1"),
            "after": rated("49", "offpeak", 1, "2"),
            "across": rated("49", "night", 120, "180"),
        },
    )


def test_fall_back_second_0230_is_in_the_0230_band(tmp_path: Path) -> None:
    """2026-10-25 02:00-03:00 happens twice; both are in the 02:00-03:00 band.

    A split call from the first 02:30 (00:30 UTC) for two hours spends 90 minutes in
    the band (30 in CEST, 60 in CET) and 30 minutes after 03:00 CET.
    """
    rows = [row("49", "1", unit_s=1, band="ghost"), row("49", "2", unit_s=1, band="offpeak")]
    bands = {"ghost": [BandWindow(ALL_DAYS, "02:00", "03:00")]}
    path = sheet(tmp_path, rows, band_mode="split", bands=bands)
    calls = [
        call("first", "2026-10-25T00:30:00", "1"),
        call("second", "2026-10-25T01:30:00", "1"),
        call("after", "2026-10-25T02:00:00", "1"),
        call("across", "2026-10-25T00:30:00", "7200"),
    ]
    expect(
        path,
        calls,
        {
            "first": rated("49", "ghost", 1, "1"),
            "second": rated("49", "ghost", 1, "1"),
            "after": rated("49", "offpeak", 1, "2"),
            "across": rated("49", "ghost", 7200, "9000"),
        },
    )


def test_half_hour_dst_shift_in_lord_howe(tmp_path: Path) -> None:
    """Australia/Lord_Howe 2026-10-04 jumps 02:00 -> 02:30 (UTC+10:30 -> +11)."""
    rows = [row("61", "1", unit_s=1, band="night"), row("61", "2", unit_s=1, band="offpeak")]
    bands = {"night": [BandWindow(ALL_DAYS, "00:00", "02:30")]}
    path = sheet(tmp_path, rows, timezone="Australia/Lord_Howe", bands=bands)
    calls = [
        call("before", "2026-10-03T15:29:59", "1", number="61299"),  # 01:59:59 +10:30
        call("after", "2026-10-03T15:30:00", "1", number="61299"),  # 02:30:00 +11
    ]
    expect(
        path,
        calls,
        {"before": rated("61", "night", 1, "1"), "after": rated("61", "offpeak", 1, "2")},
    )


HOLIDAY_BANDS = {
    "peak": [BandWindow(WEEKDAYS, "08:00", "18:00")],
    "weekend": [BandWindow(WEEKEND)],
}
HOLIDAY_ROWS = [
    row("49", "0.3", band="peak"),
    row("49", "0.1", band="weekend"),
    row("49", "0.2", band="offpeak"),
]


def test_holiday_falls_wholly_in_holiday_band(tmp_path: Path) -> None:
    """Friday 2026-12-25 is a holiday from local midnight (23:00 UTC the day before)."""
    path = sheet(
        tmp_path,
        HOLIDAY_ROWS,
        bands=HOLIDAY_BANDS,
        holidays=["2026-12-25"],
        holiday_band="weekend",
    )
    calls = [
        call("holiday-morning", "2026-12-25T09:00:00", "60"),
        call("workday-morning", "2026-12-24T09:00:00", "60"),
        call("eve-23:59:59", "2026-12-24T22:59:59", "60"),
        call("holiday-midnight", "2026-12-24T23:00:00", "60"),
    ]
    expect(
        path,
        calls,
        {
            "holiday-morning": rated("49", "weekend", 60, "0.1"),
            "workday-morning": rated("49", "peak", 60, "0.3"),
            "eve-23:59:59": rated("49", "offpeak", 60, "0.2"),
            "holiday-midnight": rated("49", "weekend", 60, "0.1"),
        },
    )


def test_holiday_without_holiday_band_is_in_default_band(tmp_path: Path) -> None:
    """Without ``holiday_band`` a holiday is in the default band, even at peak hours."""
    path = sheet(tmp_path, HOLIDAY_ROWS, bands=HOLIDAY_BANDS, holidays=["2026-12-25"])
    calls = [call("holiday-morning", "2026-12-25T09:00:00", "60")]
    expect(path, calls, {"holiday-morning": rated("49", "offpeak", 60, "0.2")})


def test_band_falls_back_to_all_bands_row_and_band_row_wins_on_same_prefix(
    tmp_path: Path,
) -> None:
    """A peak-only longer prefix does not hide a shorter all-bands one off peak."""
    rows = [
        row("49", "0.3", band="peak"),
        row("49", "0.1"),
        row("491", "0.5", band="peak"),
    ]
    path = sheet(tmp_path, rows, bands=HOLIDAY_BANDS)
    peak, evening = "2026-10-22T08:00:00", "2026-10-22T18:00:00"  # 10:00 / 20:00 CEST
    calls = [
        call("491-peak", peak, "60", number="4912345"),
        call("491-offpeak", evening, "60", number="4912345"),
        call("49-peak", peak, "60"),
        call("49-offpeak", evening, "60"),
    ]
    expect(
        path,
        calls,
        {
            "491-peak": rated("491", "peak", 60, "0.5"),
            "491-offpeak": rated("49", "offpeak", 60, "0.1"),
            "49-peak": rated("49", "peak", 60, "0.3"),
            "49-offpeak": rated("49", "offpeak", 60, "0.1"),
        },
    )


def test_longer_prefix_not_yet_effective_leaves_shorter_prefix(tmp_path: Path) -> None:
    """Prefix 4915 applies from 2026-11-01 (local midnight, 23:00 UTC); before it, 49."""
    rows = [row("49", "0.1"), row("4915", "0.5", effective_from="2026-11-01")]
    path = sheet(tmp_path, rows)
    calls = [
        call("before", "2026-10-31T22:59:59", "60", number="491511111"),
        call("at", "2026-10-31T23:00:00", "60", number="491511111"),
    ]
    expect(
        path,
        calls,
        {"before": rated("49", "offpeak", 60, "0.1"), "at": rated("4915", "offpeak", 60, "0.5")},
    )


def test_price_change_at_effective_from_local_datetime(tmp_path: Path) -> None:
    """Old price until 11:59:59 CEST, new price from 12:00:00 CEST (10:00 UTC)."""
    change = "2026-10-15T12:00:00"
    rows = [row("44", "0.1", effective_to=change), row("44", "0.2", effective_from=change)]
    path = sheet(tmp_path, rows)
    calls = [
        call("second-before", "2026-10-15T09:59:59", "60", number="442071234"),
        call("at", "2026-10-15T10:00:00", "60", number="442071234"),
    ]
    expect(
        path,
        calls,
        {
            "second-before": rated("44", "offpeak", 60, "0.1"),
            "at": rated("44", "offpeak", 60, "0.2"),
        },
    )


def test_grace_period_is_free_and_one_millisecond_more_is_billed(tmp_path: Path) -> None:
    """``d <= grace_s`` costs nothing, not even the connect fee; just above, all of it."""
    rows = [row("49", "0.6", connect_fee="0.5")]
    path = sheet(tmp_path, rows, grace_s=5)
    calls = [call("grace", THURSDAY, "5"), call("over", THURSDAY, "5.001")]
    expect(
        path,
        calls,
        {"grace": rated("49", "offpeak", 0, "0"), "over": rated("49", "offpeak", 6, "0.56")},
    )


def test_unanswered_call_is_rated_at_zero_without_connect_fee(tmp_path: Path) -> None:
    """d = 0 is a rated call with charge 0; one millisecond is a billed second."""
    rows = [row("49", "0.6", connect_fee="0.5")]
    path = sheet(tmp_path, rows)
    calls = [call("unanswered", THURSDAY, "0"), call("ms", THURSDAY, "0.001")]
    expect(
        path,
        calls,
        {"unanswered": rated("49", "offpeak", 0, "0"), "ms": rated("49", "offpeak", 1, "0.51")},
    )


def test_max_cost_caps_charge_including_connect_fee(tmp_path: Path) -> None:
    """The cap applies to connect fee plus usage, even when below the connect fee."""
    rows = [
        row("49", "1", connect_fee="0.5", max_cost="1"),
        row("33", "1", connect_fee="0.5", max_cost="0.3"),
    ]
    path = sheet(tmp_path, rows)
    calls = [
        call("under", THURSDAY, "20"),
        call("exactly", THURSDAY, "30"),
        call("over", THURSDAY, "600"),
        call("cap-below-fee", THURSDAY, "1", number="33123"),
    ]
    expect(
        path,
        calls,
        {
            "under": rated("49", "offpeak", 20, "0.8333"),
            "exactly": rated("49", "offpeak", 30, "1"),
            "over": rated("49", "offpeak", 600, "1"),
            "cap-below-fee": rated("33", "offpeak", 1, "0.3"),
        },
    )


@pytest.mark.parametrize(
    ("exact", "method", "expected"),
    [
        ("0.00125", "half_up", "0.0013"),
        ("0.00125", "half_even", "0.0012"),
        ("0.00125", "up", "0.0013"),
        ("0.00125", "down", "0.0012"),
        ("0.00135", "half_even", "0.0014"),
        ("0.00135", "half_up", "0.0014"),
        ("0.00135", "down", "0.0013"),
        ("0.00121", "up", "0.0013"),
        ("0.00129", "down", "0.0012"),
        ("0.00124", "half_up", "0.0012"),
        ("0.00126", "half_even", "0.0013"),
    ],
)
def test_rounding_method_on_exact_halves_and_near_halves(
    tmp_path: Path, exact: str, method: str, expected: str
) -> None:
    """One second at ``exact`` per second, rounded once to 4 decimals with ``method``."""
    path = sheet(tmp_path, [row("49", exact, unit_s=1)], decimals=4, method=method)
    expect(path, [call("c", THURSDAY, "1")], {"c": rated("49", "offpeak", 1, expected)})


@pytest.mark.parametrize(
    ("method", "expected"),
    [("half_up", "0.33"), ("half_even", "0.33"), ("up", "0.34"), ("down", "0.33")],
)
def test_rounding_of_a_repeating_fraction(tmp_path: Path, method: str, expected: str) -> None:
    """1 per 3 s for one second is 1/3, not a terminating decimal; rounded once."""
    path = sheet(tmp_path, [row("49", "1", unit_s=3)], decimals=2, method=method)
    expect(path, [call("c", THURSDAY, "1")], {"c": rated("49", "offpeak", 1, expected)})


def test_number_without_matching_prefix_is_rejected_no_rate(tmp_path: Path) -> None:
    """No prefix of the number has a rate (even one shorter than every prefix): no_rate."""
    path = sheet(tmp_path, [row("49", "0.1")])
    calls = [call("other", THURSDAY, "60", number="33123"), call("short", THURSDAY, "60", "4")]
    expect(path, calls, {"other": Rejected("no_rate"), "short": Rejected("no_rate")})
