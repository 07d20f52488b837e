"""Prefix/rate decks: headers or none, separators, decimal commas, encodings, duplicates."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cdr_rating.errors import ConfigError, UsageError
from cdr_rating.sheets.importers import import_deck
from decks import charges, import_and_write, imported_rows, options, write_deck

# The layout carriers send: quoted names, unquoted prefixes, per-minute decimal commas.
CARRIER = """\
"DESTINATION","PREFIX","RATE"
"Germany",49,"0,0125"
"Germany Mobile",4915,"0,095"
"Brazil - São Paulo",5511,"0,0218"
"Côte d'Ivoire, Mobile",2250,"0,21"
"""


def test_carrier_layout(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "carrier.csv", CARRIER)
    imported = import_deck("prefix-rate", deck, options())
    assert imported_rows(imported) == [
        {
            "prefix": "49",
            "destination": "Germany",
            "rate": "0.0125",
            "unit_s": "60",
            "increment_s": "1",
        },
        {
            "prefix": "4915",
            "destination": "Germany Mobile",
            "rate": "0.095",
            "unit_s": "60",
            "increment_s": "1",
        },
        {
            "prefix": "5511",
            "destination": "Brazil - São Paulo",
            "rate": "0.0218",
            "unit_s": "60",
            "increment_s": "1",
        },
        {
            "prefix": "2250",
            "destination": "Côte d'Ivoire, Mobile",
            "rate": "0.21",
            "unit_s": "60",
            "increment_s": "1",
        },
    ]
    assert imported.warnings == ()


def test_carrier_sheet_rates_calls_exactly(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "carrier.csv", CARRIER)
    _, sheet = import_and_write("prefix-rate", deck, tmp_path / "out", decimals=6, rounding="up")
    assert charges(sheet, [("4930123", "90"), ("4915123", "7"), ("22501234", "1.5")]) == [
        Decimal("0.018750"),  # 90 s at 0.0125/min
        Decimal("0.011084"),  # 7 s at 0.095/min = 0.0110833..., rounded up
        Decimal("0.007000"),  # 1.5 s bills 2 s at 0.21/min (per-second steps)
    ]


def test_increments_and_unit_options(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "persecond.csv", "prefix;rate\n49;0,0002\n")
    imported = import_deck("prefix-rate", deck, options(unit_s=1, increments=(30, 6)))
    assert imported_rows(imported) == [
        {"prefix": "49", "rate": "0.0002", "unit_s": "1", "increments": "30/6"}
    ]
    _, sheet = import_and_write(
        "prefix-rate", deck, tmp_path / "out", unit_s=1, increments=(60, 60)
    )
    assert charges(sheet, [("4930", "61")]) == [Decimal("0.0240")]


@pytest.mark.parametrize(
    ("text", "columns", "expected"),
    [
        ("Germany,49,0.0125\n", None, ("49", "Germany", "0.0125")),
        ("Germany;49;0,0125\n", None, ("49", "Germany", "0.0125")),
        ("Germany\t49\t0,0125\n", None, ("49", "Germany", "0.0125")),
        ("49,0.0125\n", None, ("49", None, "0.0125")),
        (
            "49|Germany|x|0.0125\n",
            ("prefix", "destination", "-", "rate"),
            ("49", "Germany", "0.0125"),
        ),
        ("Code;Rate (EUR);Name\n49;0,0125;Germany\n", None, ("49", "Germany", "0.0125")),
        ("+49,Germany,0.0125\n", ("prefix", "destination", "rate"), ("49", "Germany", "0.0125")),
    ],
)
def test_layouts(
    tmp_path: Path, text: str, columns: tuple[str, ...] | None, expected: tuple[str, ...]
) -> None:
    deck = write_deck(tmp_path, "deck.csv", text)
    imported = import_deck("prefix-rate", deck, options(columns=columns))
    row = imported.rows.row(0, named=True)
    assert (row["prefix"], row["destination"], row["rate"]) == expected


def test_unknown_layout_asks_for_columns(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "table.csv", '"93", "Afghanistan", "Fixed Line", ""\n')
    with pytest.raises(UsageError, match="4 columns and no header naming prefix and rate"):
        import_deck("prefix-rate", deck, options())
    with pytest.raises(UsageError, match="needs a rate column"):
        import_deck("prefix-rate", deck, options(columns=("prefix", "destination", "-", "-")))


def test_header_currency_must_match(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "usd.csv", "Prefix,Rate (USD)\n1,0.01\n")
    with pytest.raises(ConfigError, match="is in USD but --currency is EUR"):
        import_deck("prefix-rate", deck, options())


def test_latin1_names_are_decoded_with_a_warning(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "latin1.csv", CARRIER, encoding="latin-1")
    imported = import_deck("prefix-rate", deck, options())
    assert imported.rows["destination"].to_list()[2:] == [
        "Brazil - São Paulo",
        "Côte d'Ivoire, Mobile",
    ]
    assert imported.warnings == (
        f"{deck}:4: is not UTF-8; read the deck as cp1252 (pass --encoding to choose another)",
    )
    chosen = import_deck("prefix-rate", deck, options(encoding="latin-1"))
    assert chosen.warnings == ()
    assert chosen.rows["destination"][2] == "Brazil - São Paulo"
    with pytest.raises(ConfigError, match=rf"{deck}:4: is not valid utf-8 \(byte 0xe3\)"):
        import_deck("prefix-rate", deck, options(encoding="utf-8"))
    with pytest.raises(UsageError, match="unknown encoding"):
        import_deck("prefix-rate", deck, options(encoding="klingon"))


def test_bytes_no_encoding_can_decode_fall_back_to_latin1(tmp_path: Path) -> None:
    deck = tmp_path / "odd.csv"
    deck.write_bytes(b'"Name \x81\x8d",49,"0,1"\n')  # undefined in cp1252
    imported = import_deck("prefix-rate", deck, options())
    assert imported.rows["destination"].to_list() == ["Name"]  # control characters dropped
    assert "read the deck as latin-1" in imported.warnings[0]


def test_duplicates(tmp_path: Path) -> None:
    deck = write_deck(
        tmp_path, "dup.csv", "Destination,Prefix,Rate\nA,49,0.1\nB,33,0.2\nC,49,0.3\n"
    )
    with pytest.raises(ConfigError, match=rf"{deck}:4: prefix 49 is also priced at {deck}:2"):
        import_deck("prefix-rate", deck, options())
    same = write_deck(tmp_path, "same.csv", "Destination,Prefix,Rate\nA,49,0.1\nB,49,0.10\n")
    imported = import_deck("prefix-rate", same, options())
    assert imported.rows["destination"].to_list() == ["A"]
    assert imported.warnings == (
        f"{same}:3: prefix 49 repeats {same}:2 with the same price; imported once "
        "(destination 'B' dropped, 'A' kept)",
    )


def test_bad_rows(tmp_path: Path) -> None:
    deck = write_deck(
        tmp_path,
        "bad.csv",
        "Destination,Prefix,Rate\nA,49,0.1\nB,4x,0.1\nC,33,-1\nD,44\nE,1234567890123456,0.1\n",
    )
    with pytest.raises(ConfigError) as caught:
        import_deck("prefix-rate", deck, options())
    assert [problem.split(": ")[0] for problem in caught.value.problems[:-1]] == [
        f"{deck}:{line}" for line in (3, 4, 5, 6)
    ]
    kept = import_deck("prefix-rate", deck, options(skip_bad_rows=True))
    assert kept.rows["prefix"].to_list() == ["49"]
    assert kept.skipped_rows == 4


def test_empty_deck(tmp_path: Path) -> None:
    deck = write_deck(tmp_path, "empty.csv", "")
    with pytest.raises(ConfigError, match="is empty"):
        import_deck("prefix-rate", deck, options())
    header_only = write_deck(tmp_path, "header.csv", "Prefix,Rate\n")
    with pytest.raises(ConfigError, match="no rate could be imported"):
        import_deck("prefix-rate", header_only, options())
