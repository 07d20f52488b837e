"""Dialled numbers become the digits that are matched against prefixes."""

from __future__ import annotations

import pytest

from cdr_rating.cdrs import NumberRules


@pytest.mark.parametrize(
    ("dialled", "digits"),
    [
        ("+49 30 1234567", "49301234567"),
        ("0049-30-1234567", "49301234567"),
        ("(0049) 30/123.45.67", "49301234567"),
        ("49301234567", "49301234567"),
        ("  +1 212 555 0100 ", "12125550100"),
        ("*98", None),
        ("#31#123", None),
        ("", None),
        ("12a34", None),
        ("1" * 32, "1" * 32),
        ("1" * 33, None),
        ("+", None),
        ("+49 (0)30 23125777", "493023125777"),
        ("0044 (0) 20 7946 0000", "442079460000"),
    ],
)
def test_default_rules(dialled: str, digits: str | None) -> None:
    assert NumberRules().normalise_list([dialled]) == [digits]


def test_nanp_international_prefix() -> None:
    rules = NumberRules(international_prefix="011")
    assert rules.normalise_list(["01113474604646", "+4930", "0049"]) == [
        "13474604646",
        "4930",
        "0049",
    ]


def test_national_numbers_with_trunk_prefix() -> None:
    rules = NumberRules(trunk_prefix="0", country_code="49")
    assert rules.normalise_list(["030 1234567", "0049 30 1", "+49 30 1", "0151 222"]) == [
        "49301234567",
        "49301",
        "49301",
        "49151222",
    ]


def test_technology_prefixes_are_stripped_first() -> None:
    rules = NumberRules(strip_prefixes=("1010",))
    assert rules.normalise_list(["1010004930"]) == ["4930"]


def test_without_international_prefix_only_plus_is_dropped() -> None:
    assert NumberRules(international_prefix="").normalise_list(["0049", "+49"]) == ["0049", "49"]


@pytest.mark.parametrize("dialled", ["+49１２３４５", "+49٠١٢٣", "004９30"])
def test_digits_of_other_scripts_are_not_a_number(dialled: str) -> None:
    # Full-width or Arabic-Indic digits are digits to a Unicode regex, but no switch
    # dials them and no sheet prefix can match them: a bad_number, not a no_rate.
    assert NumberRules().normalise_list([dialled]) == [None]
