"""ASTPP decks: header variants, Included Seconds, increments, bad rows, duplicates."""

from __future__ import annotations

import math
import tempfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdr_rating.errors import ConfigError, InputError, UsageError
from cdr_rating.sheets.importers import IncludedSeconds, import_deck
from decks import (
    charges,
    import_and_write,
    imported_rows,
    options,
    reference_charges,
    write_deck,
)

# An export as ASTPP 4+ writes it: prices in the header's currency, Grace Time.
EXPORT_HEADER = (
    'Code,Destination,"Connection Cost (EUR)","Grace Time","Cost / Min (EUR)",'
    '"Initial Increment",Increment,Priority,Strip,Prepend,Trunk,"Created Date (UTC)",'
    '"Modified Date",Status'
)
STAMPS = '"2026-01-05 10:00:00","2026-01-05 10:00:00"'
EXPORT = f"""\
{EXPORT_HEADER}
^4930.*,Germany Berlin,0.05,5,0.60,30,6,0,,,Carrier1,{STAMPS},Active
4915,Germany Mobile,0,0,1.20,60,60,0,,,Carrier1,{STAMPS},Active
49,Germany,0.00,0,0.30,0,1,0,,,Carrier1,{STAMPS},Active
44,United Kingdom,0,0,0.25,1,1,0,,,Carrier1,{STAMPS},Inactive
+33,France,0,0,0.12,30,6,0,,,Carrier1,{STAMPS},Active
"""

# The origination-rates import template: no Initial Increment, a trailing comma.
TEMPLATE = """\
Code,Destination,Connect Cost,Included Seconds,Per Minute Cost,Increment,Precedence
1,USA,0,0,0.015,6,0,
1212,New York,0.01,0,0.02,0,0,
"""


def test_export_maps_every_price_column(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "astpp.csv", EXPORT)
    imported = import_deck("astpp", deck, options())
    assert imported_rows(imported) == [
        # 5 free seconds (connect fee still due), one 30 s block, then 6 s steps
        {
            "prefix": "4930",
            "destination": "Germany Berlin",
            "rate": "0",
            "unit_s": "60",
            "increment_s": "1",
            "from_s": "0",
            "connect_fee": "0.05",
        },
        {
            "prefix": "4930",
            "destination": "Germany Berlin",
            "rate": "0.6",
            "unit_s": "60",
            "increment_s": "30",
            "from_s": "5",
        },
        {
            "prefix": "4930",
            "destination": "Germany Berlin",
            "rate": "0.6",
            "unit_s": "60",
            "increment_s": "6",
            "from_s": "35",
        },
        # 60/60 is one tier of whole minutes
        {
            "prefix": "4915",
            "destination": "Germany Mobile",
            "rate": "1.2",
            "unit_s": "60",
            "increment_s": "60",
        },
        {
            "prefix": "49",
            "destination": "Germany",
            "rate": "0.3",
            "unit_s": "60",
            "increment_s": "1",
        },
        # the Inactive row 44 is skipped; 30/6 stays the contract's shorthand
        {
            "prefix": "33",
            "destination": "France",
            "rate": "0.12",
            "unit_s": "60",
            "increments": "30/6",
        },
    ]
    assert imported.settings.grace_s == 0
    assert imported.settings.rounding.decimals == 4
    assert imported.settings.rounding.method.value == "half_up"
    assert any("Status Inactive (lines 5)" in warning for warning in imported.warnings)
    assert imported.skipped_rows == 0


def test_export_sheet_rates_calls_exactly(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "astpp.csv", EXPORT)
    _, sheet = import_and_write("astpp", deck, tmp_path / "sheets")
    assert charges(
        sheet,
        [
            ("493012345", "40"),  # 0.05 + 5 s free + 30 s + 6 s (of 5) at 0.60/min = 0.41
            ("493012345", "3"),  # within the free seconds: the connect fee only
            ("4915123", "61"),  # two whole minutes at 1.20
            ("4989", "10"),  # 10 s at 0.30/min
            ("33123", "31"),  # 30/6: 36 s at 0.12/min
        ],
    ) == [
        Decimal("0.4100"),
        Decimal("0.0500"),
        Decimal("2.4000"),
        Decimal("0.0500"),
        Decimal("0.0720"),
    ]


def test_template_without_initial_increment(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "origination.csv", TEMPLATE)
    imported = import_deck("astpp", deck, options())
    assert imported_rows(imported) == [
        {"prefix": "1", "destination": "USA", "rate": "0.015", "unit_s": "60", "increment_s": "6"},
        {
            "prefix": "1212",
            "destination": "New York",
            "rate": "0.02",
            "unit_s": "60",
            "increment_s": "1",
            "connect_fee": "0.01",
        },
    ]
    assert any("Increment 0 or empty (lines 3)" in warning for warning in imported.warnings)


def test_grace_mode_uses_one_grace_for_the_sheet(tmp_path: Path) -> None:
    deck = write_deck(
        tmp_path,
        "grace.csv",
        "Code,Destination,Connect Cost,Included Seconds,Per Minute Cost,Initial Increment,"
        "Increment\n49,Germany,0.1,3,0.6,60,1\n33,France,0,3,0.6,1,1\n",
    )
    imported = import_deck("astpp", deck, options(included_seconds=IncludedSeconds.GRACE))
    assert imported.settings.grace_s == 3
    assert imported_rows(imported) == [
        {
            "prefix": "49",
            "destination": "Germany",
            "rate": "0.6",
            "unit_s": "60",
            "increments": "60/1",
            "connect_fee": "0.1",
        },
        {
            "prefix": "33",
            "destination": "France",
            "rate": "0.6",
            "unit_s": "60",
            "increment_s": "1",
        },
    ]


def test_grace_mode_refuses_different_values(tmp_path: Path) -> None:
    deck = write_deck(
        tmp_path,
        "grace.csv",
        "Code,Included Seconds,Per Minute Cost\n49,3,0.6\n33,0,0.6\n",
    )
    with pytest.raises(ConfigError, match=r"3 \(line 2\), 0 \(line 3\)"):
        import_deck("astpp", deck, options(included_seconds=IncludedSeconds.GRACE))


BAD = """\
Code,Destination,Per Minute Cost,Increment
49A,Bad code,0.1,1
^49[0-9].*,A regex,0.1,1
4930,Negative,-0.5,1
4940,Words,ten,1
4950,Comma,"0,5",1
4960,Too precise,0.0000000001,1
4970,Good,0.1,1
4980,Half seconds,0.1,1.5
"""


def test_bad_rows_are_all_listed(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "bad.csv", BAD)
    with pytest.raises(ConfigError) as caught:
        import_deck("astpp", deck, options())
    problems = caught.value.problems
    assert [problem.split(": ")[0] for problem in problems[:-1]] == [
        f"{deck}:{line}" for line in (2, 3, 4, 5, 6, 7, 9)
    ]
    assert "column 'Code': '49A' is not a prefix" in problems[0]
    assert "'-0.5' is negative" in problems[2]
    assert "'ten' is not a decimal number" in problems[3]
    assert "needs --decimal-comma" in problems[4]
    assert "more than 9 decimals" in problems[5]
    assert "not a whole number of seconds" in problems[6]
    assert "7 bad rows" in problems[-1]
    assert "--skip-bad-rows" in problems[-1]


def test_skip_bad_rows_keeps_the_good_ones(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "bad.csv", BAD)
    imported = import_deck("astpp", deck, options(skip_bad_rows=True))
    assert imported.rows["prefix"].to_list() == ["4970"]
    assert imported.skipped_rows == 7
    assert sum(warning.startswith(f"skipped {deck}:") for warning in imported.warnings) == 7


def test_decimal_comma_when_asked(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "comma.csv", 'Code;Per Minute Cost\n49;"0,5"\n')
    imported = import_deck("astpp", deck, options(separator=";", decimal_comma=True))
    assert imported.rows["rate"].to_list() == ["0.5"]


def test_duplicate_prefix_names_both_lines(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "dup.csv", "Code,Per Minute Cost\n49,0.1\n33,0.2\n^49.*,0.3\n")
    with pytest.raises(ConfigError, match=rf"{deck}:4: prefix 49 is also priced at {deck}:2"):
        import_deck("astpp", deck, options())


def test_identical_duplicate_is_imported_once(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "dup.csv", "Code,Per Minute Cost\n49,0.1\n49,0.10\n")
    imported = import_deck("astpp", deck, options())
    assert imported.rows.height == 1
    assert any(f"{deck}:3: prefix 49 repeats {deck}:2" in w for w in imported.warnings)


def test_header_currency_must_match(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "usd.csv", 'Code,"Cost / Min (USD)"\n1,0.01\n')
    with pytest.raises(ConfigError, match="is in USD but --currency is EUR"):
        import_deck("astpp", deck, options())
    assert import_deck("astpp", deck, options(currency="USD")).rows.height == 1


def test_missing_columns_and_files(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "nocost.csv", "Code,Destination\n1,USA\n")
    with pytest.raises(ConfigError, match="no 'Per Minute Cost' column"):
        import_deck("astpp", deck, options())
    with pytest.raises(InputError, match="deck not found"):
        import_deck("astpp", tmp_path / "absent.csv", options())
    with pytest.raises(UsageError, match="--columns applies to --preset a2billing"):
        import_deck("astpp", deck, options(columns=("prefix",)))


def astpp_cost(
    billsec: int, connect: Fraction, included: int, cost: Fraction, initial: int, increment: int
) -> Fraction:
    """ASTPP's CDR rating (calc_cost) of a call of ``billsec`` seconds, exactly."""
    if billsec < 1:
        return Fraction(0)
    total = connect
    left = billsec - included
    if left > 0:
        block = initial if initial >= 1 else 0
        total += cost / 60 * block
        left -= block
        if left > 0:
            step = increment if increment >= 1 else 1
            total += math.ceil(Fraction(left, step)) * step * cost / 60
    return total


@settings(max_examples=60, deadline=None)
@given(
    included=st.integers(0, 90),
    initial=st.integers(0, 120),
    increment=st.integers(0, 60),
    cost=st.decimals(0, 5, places=4),
    connect=st.decimals(0, 1, places=3),
)
def test_imported_tiers_price_like_astpp(
    included: int, initial: int, increment: int, cost: Decimal, connect: Decimal
) -> None:
    durations = [*range(1, 200), 299, 300, 301, 3600]
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        deck = write_deck(
            directory,
            "deck.csv",
            "Code,Connect Cost,Included Seconds,Per Minute Cost,Initial Increment,Increment\n"
            f"49,{connect},{included},{cost},{initial},{increment}\n",
        )
        imported = import_deck("astpp", deck, options())
        exact = reference_charges(imported, directory, "4930", durations)
    expected = [
        astpp_cost(d, Fraction(connect), included, Fraction(cost), initial, increment)
        for d in durations
    ]
    assert exact == expected
