"""CGRateS tariff plans: tiers from GroupIntervalStart, rounding, MaxCost, selection."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from cdr_rating.errors import ConfigError, InputError, UsageError
from cdr_rating.money import RoundingMethod
from cdr_rating.sheets.importers import import_deck
from cdr_rating.sheets.importers.cgrates import go_duration_seconds
from cdr_rating.sheets.importers.common import CellError
from decks import charges, import_and_write, imported_rows, options

DESTINATIONS = """\
#Id,Prefix
DST_DE,+49
DST_DE_MOB,4915
DST_DE_MOB,4916
DST_FR,33
"""
RATES = """\
#Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart
RT_DE,0.4,0.2,60s,60s,0s
RT_DE,0,0.1,1m,1s,1m
RT_MOB,0,0.01,1s,1s,0s
RT_FR,0.05,0.3,1m,30s,0
RT_FR,0,0.15,60s,6s,1m30s
RT_UNUSED,0,1,60s,60s,0s
"""
DESTINATION_RATES = """\
#Id,DestinationId,RatesTag,RoundingMethod,RoundingDecimals,MaxCost,MaxCostStrategy
DR_DE,DST_DE,RT_DE,*up,4,0,
DR_MOB,DST_DE_MOB,RT_MOB,*up,4,1.5,*free
DR_FR,DST_FR,RT_FR,*up,4,0,
"""


def tariff_plan(
    directory: Path, destination_rates: str = DESTINATION_RATES, rates: str = RATES
) -> Path:
    folder = directory / "tp"
    folder.mkdir()
    (folder / "Destinations.csv").write_text(DESTINATIONS)
    (folder / "Rates.csv").write_text(rates)
    (folder / "DestinationRates.csv").write_text(destination_rates)
    return folder


def test_tariff_plan_rows(tmp_path: Path) -> None:
    imported = import_deck("cgrates", tariff_plan(tmp_path), options())
    rows = imported_rows(imported)
    assert rows[0] == {
        "prefix": "49",
        "destination": "DST_DE",
        "rate": "0.2",
        "unit_s": "60",
        "increment_s": "60",
        "from_s": "0",
        "connect_fee": "0.4",
    }
    assert rows[1:] == [
        {
            "prefix": "49",
            "destination": "DST_DE",
            "rate": "0.1",
            "unit_s": "60",
            "increment_s": "1",
            "from_s": "60",
        },
        {
            "prefix": "4915",
            "destination": "DST_DE_MOB",
            "rate": "0.01",
            "unit_s": "1",
            "increment_s": "1",
            "max_cost": "1.5",
        },
        {
            "prefix": "4916",
            "destination": "DST_DE_MOB",
            "rate": "0.01",
            "unit_s": "1",
            "increment_s": "1",
            "max_cost": "1.5",
        },
        {
            "prefix": "33",
            "destination": "DST_FR",
            "rate": "0.3",
            "unit_s": "60",
            "increment_s": "30",
            "from_s": "0",
            "connect_fee": "0.05",
        },
        {
            "prefix": "33",
            "destination": "DST_FR",
            "rate": "0.15",
            "unit_s": "60",
            "increment_s": "6",
            "from_s": "90",
        },
    ]
    assert imported.settings.rounding.method is RoundingMethod.UP
    assert imported.settings.rounding.decimals == 4
    assert any("RT_UNUSED" in warning for warning in imported.warnings)


def test_tariff_plan_sheet_rates_calls_exactly(tmp_path: Path) -> None:
    _, sheet = import_and_write("cgrates", tariff_plan(tmp_path), tmp_path / "out")
    assert charges(
        sheet,
        [
            ("4930123", "120"),  # the contract's example: 0.4 + 0.2 + 0.1
            ("4915123", "100"),  # 100 s at 0.01/s
            ("4915123", "200"),  # 2.00, capped at MaxCost 1.5
            ("33123", "100"),  # 0.05 + 90 s at 0.30/min + 12 s at 0.15/min
            ("33123", "1"),  # 0.05 + 30 s at 0.30/min
        ],
    ) == [
        Decimal("0.7000"),
        Decimal("1.0000"),
        Decimal("1.5000"),
        Decimal("0.5300"),
        Decimal("0.2000"),
    ]


def test_destination_rates_pick_among_conflicting_prices(tmp_path: Path) -> None:
    plan = tariff_plan(tmp_path, DESTINATION_RATES + "DR_DE_CHEAP,DST_DE,RT_MOB,*up,4,0,\n")
    with pytest.raises(ConfigError) as caught:
        import_deck("cgrates", plan, options())
    (problem,) = caught.value.problems
    assert problem.startswith(f"{plan / 'DestinationRates.csv'}:5 (DR_DE_CHEAP, DST_DE): prefix 49")
    assert f"also priced at {plan / 'DestinationRates.csv'}:2 (DR_DE, DST_DE)" in problem
    assert "--destination-rates" in problem
    chosen = import_deck("cgrates", plan, options(destination_rates=("DR_DE_CHEAP", "DR_FR")))
    assert chosen.rows.filter(prefix="49")["rate"].to_list() == ["0.01"]
    with pytest.raises(UsageError, match=r"DR_NONE not in DestinationRates\.csv"):
        import_deck("cgrates", plan, options(destination_rates=("DR_NONE",)))


def test_same_price_twice_is_imported_once(tmp_path: Path) -> None:
    plan = tariff_plan(
        tmp_path, DESTINATION_RATES + "DR_MOB_FREE,DST_DE_MOB,RT_MOB,*up,4,1.5,*disconnect\n"
    )
    imported = import_deck("cgrates", plan, options())
    assert imported.rows.filter(prefix="4915").height == 1
    assert any("repeats" in warning for warning in imported.warnings)


def test_any_destination_is_every_digit(tmp_path: Path) -> None:
    plan = tariff_plan(tmp_path, DESTINATION_RATES + "DR_ANY,*any,RT_MOB,*up,4,0,\n")
    imported = import_deck("cgrates", plan, options())
    any_rows = imported.rows.filter(destination="*any")
    assert any_rows["prefix"].to_list() == [str(digit) for digit in range(10)]
    assert set(any_rows["rate"]) == {"0.01"}


def test_rounding_must_agree_or_be_chosen(tmp_path: Path) -> None:
    plan = tariff_plan(
        tmp_path,
        DESTINATION_RATES.replace("DR_FR,DST_FR,RT_FR,*up,4", "DR_FR,DST_FR,RT_FR,*middle,2"),
    )
    with pytest.raises(
        ConfigError, match=r"round differently \(up to 4 decimals at .*:2, .*:3; half_up to 2"
    ):
        import_deck("cgrates", plan, options())
    chosen = import_deck("cgrates", plan, options(rounding=RoundingMethod.HALF_UP, decimals=2))
    assert (chosen.settings.rounding.method, chosen.settings.rounding.decimals) == (
        RoundingMethod.HALF_UP,
        2,
    )
    assert any("--rounding half_up replaces" in warning for warning in chosen.warnings)
    only_fr = import_deck("cgrates", plan, options(destination_rates=("DR_FR",)))
    assert only_fr.settings.rounding.method is RoundingMethod.HALF_UP
    assert only_fr.settings.rounding.decimals == 2


BAD_RATES = """\
RT_DE,0.4,0.2,60s,60s,0s
RT_MOB,0,0.01,1s,500ms,0s
RT_FR,0,0.3,1m,30s,1m
"""


def test_bad_rates_make_their_destination_rates_bad(tmp_path: Path) -> None:
    plan = tariff_plan(tmp_path, rates=BAD_RATES)
    with pytest.raises(ConfigError) as caught:
        import_deck("cgrates", plan, options())
    problems = caught.value.problems
    assert "RateIncrement': '500ms' is not a whole number of seconds" in problems[0]
    assert problems[0].startswith(f"{plan / 'DestinationRates.csv'}:3: rate RT_MOB at")
    assert "RT_FR" in problems[1]
    assert "no GroupIntervalStart 0" in problems[1]
    kept = import_deck("cgrates", plan, options(skip_bad_rows=True))
    assert kept.rows["prefix"].unique().to_list() == ["49"]


def test_missing_files(tmp_path: Path) -> None:
    plan = tariff_plan(tmp_path)
    (plan / "Rates.csv").unlink()
    with pytest.raises(InputError, match=r"Rates.csv: not found"):
        import_deck("cgrates", plan, options())
    with pytest.raises(InputError, match="not found"):
        import_deck("cgrates", tmp_path / "nowhere", options())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("60s", Fraction(60)),
        ("1m", Fraction(60)),
        ("1m30s", Fraction(90)),
        ("1h2m3.5s", Fraction(7447, 2)),
        ("500ms", Fraction(1, 2)),
        ("0", Fraction(0)),
        ("60", Fraction(60, 10**9)),
    ],
)
def test_go_durations(text: str, seconds: Fraction) -> None:
    assert go_duration_seconds(text, "RateUnit") == seconds


@pytest.mark.parametrize("text", ["", "1x", "s", "1m 30s", "-1s"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(CellError):
        go_duration_seconds(text, "RateUnit")
