"""A2Billing ratecards: the default field order, --columns, blocks, progressive rates."""

from __future__ import annotations

import math
import tempfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cdr_rating.errors import ConfigError, UsageError
from cdr_rating.sheets.importers import import_deck
from cdr_rating.sheets.importers.a2billing import DEFAULT_COLUMNS
from decks import charges, import_and_write, imported_rows, options, reference_charges, write_deck


def fields(*cells: str, startdate: str = "", stopdate: str = "") -> str:
    """A row in the default order; dates go to their place after 19 other fields."""
    row = list(cells)
    if startdate or stopdate:
        row += [""] * (3 + DEFAULT_COLUMNS.index("startdate") - len(row))
        row += [startdate, stopdate, "0", "10079", "promo"]
    return "; ".join(row)


RATECARD = "\n".join(
    [
        "# our own ratecard, in A2Billing's layout",
        fields("4930", "Berlin", "0,60"),
        fields("4915", "Mobile", "1,20", "30", "6"),
        fields("4916", "Mobile O2", "1,20", "45", "20"),
        fields("33", "France", "0,12", "60", "60", "0,05", "60", "60", "0,02", "0,01"),
        # progressive: 60 s at 0.30 in 30 s blocks, then 0.10 in 6 s steps; step charge 0.02
        fields(
            "44", "UK", "0,10", "0", "6", "0", "0", "0", "0,05", "0", "0,02", "0,30", "60", "30"
        ),
        fields(
            "34", "Spain", "0,20", startdate="2026-01-01 00:00:00", stopdate="2026-11-01 00:00:00"
        ),
        fields("34", "Spain", "0,25", startdate="2026-11-01 00:00:00", stopdate="0"),
    ]
)


def test_default_field_order(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "ratecard.csv", RATECARD + "\n")
    imported = import_deck("a2billing", deck, options())
    assert imported_rows(imported) == [
        {
            "prefix": "4930",
            "destination": "Berlin",
            "rate": "0.6",
            "unit_s": "60",
            "increment_s": "1",
        },
        {
            "prefix": "4915",
            "destination": "Mobile",
            "rate": "1.2",
            "unit_s": "60",
            "increments": "30/6",
        },
        # 45 s at least, then rounded up to multiples of 20 s from the start: 60, 80, ...
        {
            "prefix": "4916",
            "destination": "Mobile O2",
            "rate": "1.2",
            "unit_s": "60",
            "increment_s": "45",
            "from_s": "0",
        },
        {
            "prefix": "4916",
            "destination": "Mobile O2",
            "rate": "1.2",
            "unit_s": "60",
            "increment_s": "15",
            "from_s": "45",
        },
        {
            "prefix": "4916",
            "destination": "Mobile O2",
            "rate": "1.2",
            "unit_s": "60",
            "increment_s": "20",
            "from_s": "60",
        },
        # connect + disconnect charge; the buy rate is ignored
        {
            "prefix": "33",
            "destination": "France",
            "rate": "0.12",
            "unit_s": "60",
            "increment_s": "60",
            "connect_fee": "0.03",
        },
        {
            "prefix": "44",
            "destination": "UK",
            "rate": "0.3",
            "unit_s": "60",
            "increment_s": "30",
            "from_s": "0",
            "connect_fee": "0.07",
        },
        {
            "prefix": "44",
            "destination": "UK",
            "rate": "0.1",
            "unit_s": "60",
            "increment_s": "6",
            "from_s": "60",
        },
        {
            "prefix": "34",
            "destination": "Spain",
            "rate": "0.2",
            "unit_s": "60",
            "increment_s": "1",
            "effective_from": "2026-01-01",
            "effective_to": "2026-11-01",
        },
        {
            "prefix": "34",
            "destination": "Spain",
            "rate": "0.25",
            "unit_s": "60",
            "increment_s": "1",
            "effective_from": "2026-11-01",
        },
    ]
    assert imported.warnings == ()


def test_ratecard_sheet_rates_calls_exactly(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "ratecard.csv", RATECARD + "\n")
    _, sheet = import_and_write("a2billing", deck, tmp_path / "out", timezone="Europe/Madrid")
    assert charges(
        sheet,
        [
            ("4916000", "10"),  # the initial block: 45 s at 1.20/min
            ("4916000", "50"),  # rounded up to 60 s
            ("4412345", "100"),  # 0.05 + 0.02 + 60 s at 0.30 + 42 s at 0.10
            ("3412345", "60"),  # 1 October: the first Spain price
            ("3312345", "61"),  # 0.03 + two minutes at 0.12
        ],
    ) == [
        Decimal("0.9000"),
        Decimal("1.2000"),
        Decimal("0.4400"),
        Decimal("0.2000"),
        Decimal("0.2700"),
    ]


def test_columns_names_the_optional_fields(tmp_path: Path) -> None:
    deck = write_deck(
        tmp_path, "custom.csv", "49;Germany;0,50;0,10;60;1;note\n43;Austria;0.40;;;30;note\n"
    )
    imported = import_deck(
        "a2billing", deck, options(columns=("connectcharge", "initblock", "billingblock", "-"))
    )
    assert imported_rows(imported) == [
        {
            "prefix": "49",
            "destination": "Germany",
            "rate": "0.5",
            "unit_s": "60",
            "increments": "60/1",
            "connect_fee": "0.1",
        },
        {
            "prefix": "43",
            "destination": "Austria",
            "rate": "0.4",
            "unit_s": "60",
            "increment_s": "30",
        },
    ]


def test_columns_may_repeat_the_mandatory_three(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "custom.csv", "49;Germany;0,50;60\n")
    imported = import_deck(
        "a2billing",
        deck,
        options(columns=("dialprefix", "destination", "rateinitial", "billingblock")),
    )
    assert imported.rows["increment_s"].to_list() == ["60"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (("initblock", "speed"), "unknown A2Billing field 'speed'"),
        (("initblock", "initblock"), "initblock named more than once"),
        (("initblock", "rateinitial"), "always the first three"),
    ],
)
def test_bad_columns_option(tmp_path: Path, columns: tuple[str, ...], message: str) -> None:
    deck = write_deck(tmp_path, "x.csv", "49;Germany;0,50\n")
    with pytest.raises(UsageError, match=message):
        import_deck("a2billing", deck, options(columns=columns))


UNSUPPORTED = "\n".join(
    [
        "1;USA;0,05;5",  # minimal_cost
        "2;X;0,05;0;3",  # additional_grace
        "3;X;0,05;0;0;360;240",  # rounding_calltime with rounding_threshold
        "4;X;0,05;0;0;0;0;0;0;1;10",  # starttime 1: a time-of-week window
        "5;X;0,05;0;0;0;0;0;0;0;10079",  # the whole week: fine
        "6A;X;0,05",  # not digits
        "7;X;0,05;0;0;0;0;0;0;0;10079;extra",  # one field too many
        "8;X;0,05;0;0;0;0;abc",  # startdate
        "9;X;-1",  # negative rate
    ]
)


def test_unsupported_features_are_bad_rows(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "features.csv", UNSUPPORTED + "\n")
    columns = (
        "minimal_cost",
        "additional_grace",
        "rounding_calltime",
        "rounding_threshold",
        "startdate",
        "stopdate",
        "starttime",
        "endtime",
    )
    with pytest.raises(ConfigError) as caught:
        import_deck("a2billing", deck, options(columns=columns))
    problems = caught.value.problems
    assert [problem.split(": ")[0] for problem in problems[:-1]] == [
        f"{deck}:{line}" for line in (1, 2, 3, 4, 6, 7, 8, 9)
    ]
    assert "minimum call cost" in problems[0]
    assert "additional_grace" in problems[1]
    assert "rounding_calltime" in problems[2]
    assert "time-of-week" in problems[3]
    assert "'6A' is not a prefix" in problems[4]
    assert "has 12 fields" in problems[5]
    assert "column 'startdate': 'abc'" in problems[6]
    assert "negative" in problems[7]
    kept = import_deck("a2billing", deck, options(columns=columns, skip_bad_rows=True))
    assert kept.rows["prefix"].to_list() == ["5"]


def test_progressive_step_charge_of_cycle_b_is_refused(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "p.csv", "1;X;0,1;0;0,3;60;0;0,01;0,2;60;0\n")
    columns = (
        "stepchargea",
        "chargea",
        "timechargea",
        "billingblocka",
        "stepchargeb",
        "chargeb",
        "timechargeb",
        "billingblockb",
    )
    with pytest.raises(ConfigError, match="stepchargeb"):
        import_deck("a2billing", deck, options(columns=columns))


def a2billing_cost(billsec: int, p: dict[str, Fraction | int]) -> Fraction:
    """A2Billing's rate engine (rate_engine_calculcost), sell side, exactly."""

    def f(name: str) -> Fraction:
        return Fraction(p.get(name, 0))

    def i(name: str) -> int:
        return int(p.get(name, 0))

    cost = f("connectcharge") + f("disconnectcharge")
    duration = max(billsec, i("initblock"))
    if f("chargea") == 0 or i("timechargea") == 0:
        if i("billingblock") > 0 and duration > i("initblock"):
            duration = math.ceil(Fraction(duration, i("billingblock"))) * i("billingblock")
        return cost + Fraction(duration, 60) * f("rateinitial")
    cost += f("stepchargea")
    report = 0
    for cycle in "abc":
        if cycle != "a" and (
            report <= 0 or f(f"charge{cycle}") == 0 or i(f"timecharge{cycle}") == 0
        ):
            break
        part = duration if cycle == "a" else report
        report = 0
        if part > i(f"timecharge{cycle}"):
            report = part - i(f"timecharge{cycle}")
            part = i(f"timecharge{cycle}")
        block = i(f"billingblock{cycle}")
        if block > 0:
            part = math.ceil(Fraction(part, block)) * block
        cost += Fraction(part, 60) * f(f"charge{cycle}")
    if report > 0:
        if i("billingblock") > 0:
            report = math.ceil(Fraction(report, i("billingblock"))) * i("billingblock")
        cost += Fraction(report, 60) * f("rateinitial")
    return cost


PROPERTY_COLUMNS = (
    "initblock",
    "billingblock",
    "connectcharge",
    "disconnectcharge",
    "stepchargea",
    "chargea",
    "timechargea",
    "billingblocka",
    "chargeb",
    "timechargeb",
    "billingblockb",
    "chargec",
    "timechargec",
    "billingblockc",
)
money = st.decimals(0, 2, places=3)
small = st.integers(0, 90)


@settings(max_examples=80, deadline=None)
@given(
    rate=money,
    initblock=small,
    billingblock=small,
    connect=money,
    disconnect=money,
    step=money,
    progressive=st.booleans(),
    cycles=st.lists(st.tuples(money, st.integers(1, 120), small), min_size=1, max_size=3),
)
def test_imported_tiers_price_like_a2billing(
    rate: Decimal,
    initblock: int,
    billingblock: int,
    connect: Decimal,
    disconnect: Decimal,
    step: Decimal,
    progressive: bool,
    cycles: list[tuple[Decimal, int, int]],
) -> None:
    text: dict[str, str] = {
        "initblock": str(initblock),
        "billingblock": str(billingblock),
        "connectcharge": str(connect).replace(".", ","),
        "disconnectcharge": str(disconnect),
        "stepchargea": str(step),
    }
    params: dict[str, Fraction | int] = {
        "rateinitial": Fraction(rate),
        "initblock": initblock,
        "billingblock": billingblock,
        "connectcharge": Fraction(connect),
        "disconnectcharge": Fraction(disconnect),
        "stepchargea": Fraction(step),
    }
    if progressive:
        assume(initblock <= cycles[0][1])
        for letter, (charge, width, block) in zip("abc", cycles, strict=False):
            params |= {
                f"charge{letter}": Fraction(charge),
                f"timecharge{letter}": width,
                f"billingblock{letter}": block,
            }
            text |= {
                f"charge{letter}": str(charge),
                f"timecharge{letter}": str(width),
                f"billingblock{letter}": str(block),
            }
    cells = ["49", "Germany", str(rate).replace(".", ",")]
    cells += [text.get(name, "") for name in PROPERTY_COLUMNS]
    durations = [*range(1, 400), 599, 600, 3600]
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        deck = write_deck(directory, "deck.csv", ";".join(cells) + "\n")
        imported = import_deck("a2billing", deck, options(columns=PROPERTY_COLUMNS))
        exact = reference_charges(imported, directory, "4930", durations)
    assert exact == [a2billing_cost(d, params) for d in durations]
