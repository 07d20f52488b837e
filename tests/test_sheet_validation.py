"""Every rate sheet validation error names the file, the line and the column."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdr_rating.errors import SheetError
from cdr_rating.sheets import load_sheet

SETTINGS = """\
id = "check"
currency = "EUR"
timezone = "Europe/Berlin"
rates = "check.csv"

[rounding]
decimals = 4
method = "half_up"

[bands.peak]
days = ["mon", "tue", "wed", "thu", "fri"]
from = "08:00"
to = "18:00"
"""


def write_sheet(tmp_path: Path, rates: str, settings: str = SETTINGS) -> Path:
    (tmp_path / "check.csv").write_text(rates)
    toml = tmp_path / "check.toml"
    toml.write_text(settings)
    return toml


def problems_of(tmp_path: Path, rates: str, settings: str = SETTINGS) -> list[str]:
    with pytest.raises(SheetError) as caught:
        load_sheet(write_sheet(tmp_path, rates, settings))
    return caught.value.problems


def only_problem(tmp_path: Path, rates: str, settings: str = SETTINGS) -> str:
    problems = problems_of(tmp_path, rates, settings)
    assert len(problems) == 1, problems
    return problems[0]


def test_a_valid_sheet_loads_with_tiers_expanded(tmp_path: Path) -> None:
    sheet = load_sheet(
        write_sheet(tmp_path, "prefix,band,rate,increments\n+4930,peak,0.05,30/6\n49,,0.1,\n")
    )
    assert sheet.rows.height == 3
    berlin = sheet.rows.filter(prefix="4930").sort("from_s")
    assert berlin.get_column("from_s").to_list() == [0, 30]
    assert berlin.get_column("increment_s").to_list() == [30, 6]
    assert berlin.get_column("rate_nano").to_list() == [50_000_000, 50_000_000]


def test_non_digit_prefix(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "prefix,rate\n49,0.1\n49a,0.1\n")
    assert problem.startswith(f"{tmp_path / 'check.csv'}:3: column 'prefix': '49a'")


def test_negative_rate(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "prefix,rate\n49,-0.1\n")
    assert "check.csv:2: column 'rate': '-0.1' is negative" in problem


def test_non_numeric_rate(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "prefix,rate\n49,twelve\n")
    assert "check.csv:2: column 'rate': 'twelve' is not a decimal number" in problem


def test_row_with_more_cells_than_the_header(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "prefix,rate\n49,0.1\n49,0,12\n")
    assert "check.csv:3: has 3 cells but the header has 2" in problem


def test_decimal_comma_is_not_a_rate(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, 'prefix,rate\n49,"0,12"\n')
    assert "check.csv:2: column 'rate': '0,12' is not a decimal number" in problem


def test_unknown_band(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "prefix,band,rate\n49,night,0.1\n")
    assert "check.csv:2: column 'band': unknown band 'night'" in problem
    assert "peak, offpeak" in problem


def test_overlapping_bands(tmp_path: Path) -> None:
    settings = SETTINGS + '\n[bands.evening]\ndays = ["fri"]\nfrom = "17:00"\nto = "20:00"\n'
    problem = only_problem(tmp_path, "prefix,rate\n49,0.1\n", settings)
    assert "check.toml" in problem
    assert "bands 'peak' and 'evening' overlap on fri at 17:00" in problem


def test_duplicate_rate_in_overlapping_windows(tmp_path: Path) -> None:
    rates = (
        "prefix,band,rate,effective_from,effective_to\n"
        "49,,0.1,2026-01-01,2026-11-01\n"
        "49,,0.2,2026-10-15,\n"
    )
    problem = only_problem(tmp_path, rates)
    assert "check.csv:3: column 'prefix': duplicate rate for prefix 49" in problem
    assert "overlaps line 2" in problem


def test_back_to_back_windows_are_not_duplicates(tmp_path: Path) -> None:
    rates = (
        "prefix,band,rate,effective_from,effective_to\n49,,0.1,,2026-10-15\n49,,0.2,2026-10-15,\n"
    )
    assert load_sheet(write_sheet(tmp_path, rates)).rows.height == 2


def test_same_prefix_in_different_bands_is_not_a_duplicate(tmp_path: Path) -> None:
    sheet = load_sheet(write_sheet(tmp_path, "prefix,band,rate\n49,peak,0.2\n49,,0.1\n"))
    assert sheet.rows.height == 2


def test_tiered_rate_without_a_first_tier(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "prefix,rate,from_s\n49,0.1,0\n491,0.1,60\n")
    assert "check.csv:3: column 'from_s': prefix 491" in problem
    assert "from_s = 0" in problem


def test_increments_mixed_with_from_s(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "prefix,rate,increments,from_s\n49,0.1,30/6,0\n")
    assert "check.csv:2: column 'increments': is used together with from_s" in problem


def test_malformed_increments(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "prefix,rate,increments\n49,0.1,30-6\n")
    assert "check.csv:2: column 'increments': '30-6' is not of the form a/b" in problem


def test_unknown_rounding_method(tmp_path: Path) -> None:
    settings = SETTINGS.replace('method = "half_up"', 'method = "bankers"')
    problem = only_problem(tmp_path, "prefix,rate\n49,0.1\n", settings)
    assert "check.toml: key 'rounding.method'" in problem
    assert "half_up" in problem


def test_invalid_timezone(tmp_path: Path) -> None:
    settings = SETTINGS.replace("Europe/Berlin", "Europe/Atlantis")
    problem = only_problem(tmp_path, "prefix,rate\n49,0.1\n", settings)
    assert "check.toml: key 'timezone': unknown timezone 'Europe/Atlantis'" in problem


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, "prefix,rate\n49,0.1\n", SETTINGS.replace('id = "check"', "id =")
    )
    assert "check.toml: TOML syntax error" in problem
    assert "line 1" in problem


def test_missing_rates_file(tmp_path: Path) -> None:
    toml = tmp_path / "check.toml"
    toml.write_text(SETTINGS)
    with pytest.raises(SheetError) as caught:
        load_sheet(toml)
    assert "key 'rates': rates file 'check.csv' not found" in caught.value.problems[0]


def test_missing_required_column(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "prefix,price\n49,0.1\n")
    assert "check.csv:1: missing required column 'rate'" in problems[0]
    assert "check.csv:1: unknown column 'price'" in problems[1]


def test_unknown_key_in_toml(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, "prefix,rate\n49,0.1\n", SETTINGS.replace("[rounding]", "grace = 3\n[rounding]")
    )
    assert "key 'grace': unknown key" in problem


def test_band_window_that_wraps_midnight(tmp_path: Path) -> None:
    settings = SETTINGS.replace('from = "08:00"\nto = "18:00"', 'from = "22:00"\nto = "06:00"')
    problem = only_problem(tmp_path, "prefix,rate\n49,0.1\n", settings)
    assert "key 'bands.peak" in problem
    assert "two windows" in problem


def test_impossible_effective_date(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "prefix,rate,effective_from\n49,0.1,2026-02-30\n")
    assert "check.csv:2: column 'effective_from': '2026-02-30' is not a date" in problem


def test_effective_to_before_effective_from(tmp_path: Path) -> None:
    rates = "prefix,rate,effective_from,effective_to\n49,0.1,2026-10-15,2026-10-01\n"
    problem = only_problem(tmp_path, rates)
    assert "check.csv:2: column 'effective_to': '2026-10-01' is not after" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    rates = "prefix,band,rate,from_s\nx,,0.1,\n49,night,0.1,\n48,,-1,\n47,,0.1,60\n"
    problems = problems_of(tmp_path, rates)
    assert [p.split(":")[1] for p in problems] == ["2", "3", "4", "5"]


def test_array_of_band_windows(tmp_path: Path) -> None:
    settings = SETTINGS.replace(
        '[bands.peak]\ndays = ["mon", "tue", "wed", "thu", "fri"]\nfrom = "08:00"\nto = "18:00"\n',
        '[[bands.night]]\nfrom = "00:00"\nto = "06:00"\n\n'
        '[[bands.night]]\nfrom = "22:00"\nto = "24:00"\n',
    )
    sheet = load_sheet(write_sheet(tmp_path, "prefix,band,rate\n49,night,0.1\n", settings))
    assert sheet.settings.band_names == ["night", "offpeak"]
