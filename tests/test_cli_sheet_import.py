"""``cdr-rating sheet import``: output files, messages, exit codes, and the real decks."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdr_rating.errors import CdrRatingError, ConfigError, UsageError
from cdr_rating.sheets import load_sheet
from cdr_rating.sheets.importers import import_deck, write_sheet
from decks import REAL_DECKS, options, write_deck

ASTPP = """\
Code,Destination,Connect Cost,Included Seconds,Per Minute Cost,Initial Increment,Increment,Status
4930,Berlin,0.05,5,0.60,30,6,Active
4915,Mobile,0,0,1.20,60,60,Active
44,UK,0,0,0.25,1,1,Inactive
"""
BAD_ASTPP = ASTPP + "49X,Bad,0.1,0,0.1,1,1,Active\n33,France,0,0,-0.2,1,1,Active\n"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdr_rating", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def import_args(deck: str, preset: str = "astpp", sheet_id: str = "carrier") -> list[str]:
    return [
        "sheet",
        "import",
        "--preset",
        preset,
        deck,
        "--id",
        sheet_id,
        "--currency",
        "EUR",
        "--out",
        "sheets",
    ]


def test_import_writes_a_valid_sheet(tmp_path: Path) -> None:
    write_deck(tmp_path, "rates.csv", ASTPP)
    done = run(*import_args("rates.csv"), "--timezone", "Europe/Berlin", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{Path('sheets') / 'carrier.toml'}: imported 2 rates (4 tier rows, 2 prefixes) from "
        "rates.csv (preset astpp); 0 bad rows skipped"
    ]
    assert (
        "cdr-rating: warning: rates.csv: skipped 1 rows with Status Inactive (lines 4)"
        in done.stderr
    )
    toml_text = (tmp_path / "sheets" / "carrier.toml").read_text()
    keys_end = toml_text.index("[rounding]")
    for key in ("id", "currency", "timezone", "rates", "band_mode", "grace_s"):
        assert toml_text.index(f"\n{key} = ") < keys_end
    settings = tomllib.loads(toml_text)
    assert settings == {
        "id": "carrier",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "rates": "carrier.csv",
        "band_mode": "start",
        "grace_s": 0,
        "rounding": {"decimals": 4, "method": "half_up"},
    }
    assert (tmp_path / "sheets" / "carrier.csv").read_text().splitlines() == [
        "prefix,destination,rate,unit_s,increment_s,from_s,connect_fee",
        "4930,Berlin,0,60,1,0,0.05",
        "4930,Berlin,0.6,60,30,5,",
        "4930,Berlin,0.6,60,6,35,",
        "4915,Mobile,1.2,60,60,,",
    ]
    assert sorted(path.name for path in (tmp_path / "sheets").iterdir()) == [
        "carrier.csv",
        "carrier.toml",
    ]
    check = run("sheet", "check", "sheets/carrier.toml", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "ok: sheet carrier (EUR), 4 tier rows, 2 rates, 2 prefixes" in check.stdout


def test_bad_rows_exit_2_listing_all_and_write_nothing(tmp_path: Path) -> None:
    write_deck(tmp_path, "rates.csv", BAD_ASTPP)
    done = run(*import_args("rates.csv"), cwd=tmp_path)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("cdr-rating: error:")]
    assert errors[0].startswith("cdr-rating: error: rates.csv:5: column 'Code': '49X'")
    assert errors[1].startswith("cdr-rating: error: rates.csv:6: column 'Per Minute Cost'")
    assert "2 bad rows in rates.csv" in errors[2]
    assert "--skip-bad-rows" in errors[2]
    assert not (tmp_path / "sheets").exists() or not list((tmp_path / "sheets").iterdir())


def test_skip_bad_rows_warns_with_line_numbers(tmp_path: Path) -> None:
    write_deck(tmp_path, "rates.csv", BAD_ASTPP)
    done = run(*import_args("rates.csv"), "--skip-bad-rows", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cdr-rating: warning: skipped rates.csv:5: column 'Code'" in done.stderr
    assert "cdr-rating: warning: skipped rates.csv:6: column 'Per Minute Cost'" in done.stderr
    assert done.stdout.rstrip().endswith("2 bad rows skipped")


def test_missing_or_unreadable_deck_exits_3(tmp_path: Path) -> None:
    done = run(*import_args("absent.csv"), cwd=tmp_path)
    assert done.returncode == 3
    assert "cdr-rating: error: absent.csv: deck not found" in done.stderr
    (tmp_path / "folder").mkdir()
    done = run(*import_args("folder"), cwd=tmp_path)
    assert done.returncode == 3
    assert "is a directory" in done.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--columns", "prefix,rate"], "--columns applies to --preset a2billing and prefix-rate"),
        (["--timezone", "Mars/Olympus"], "--timezone: unknown timezone 'Mars/Olympus'"),
        (["--decimals", "12"], "--decimals: Input should be less than or equal to 9"),
        (["--separator", "ab"], "--separator 'ab'"),
    ],
)
def test_bad_options_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    write_deck(tmp_path, "rates.csv", ASTPP)
    done = run(*import_args("rates.csv"), *extra, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr


def test_bad_preset_and_increments_exit_2(tmp_path: Path) -> None:
    write_deck(tmp_path, "rates.csv", ASTPP)
    done = run(*import_args("rates.csv", preset="excel"), cwd=tmp_path)
    assert done.returncode == 2
    done = run(
        *import_args("rates.csv", preset="prefix-rate"), "--increments", "30-6", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "--increments '30-6'" in done.stderr


def test_reimport_replaces_and_a_failed_import_keeps_the_sheet(tmp_path: Path) -> None:
    write_deck(tmp_path, "rates.csv", ASTPP)
    assert run(*import_args("rates.csv"), cwd=tmp_path).returncode == 0
    write_deck(tmp_path, "rates.csv", ASTPP.replace("1.20", "1.10"))
    assert run(*import_args("rates.csv"), cwd=tmp_path).returncode == 0
    assert "4915,Mobile,1.1,60,60" in (tmp_path / "sheets" / "carrier.csv").read_text()
    before = (tmp_path / "sheets" / "carrier.csv").read_bytes()
    write_deck(tmp_path, "rates.csv", BAD_ASTPP)
    assert run(*import_args("rates.csv"), cwd=tmp_path).returncode == 2
    assert (tmp_path / "sheets" / "carrier.csv").read_bytes() == before
    assert sorted(path.name for path in (tmp_path / "sheets").iterdir()) == [
        "carrier.csv",
        "carrier.toml",
    ]


def test_latin1_deck_through_the_command(tmp_path: Path) -> None:
    deck = '"DESTINATION","PREFIX","RATE"\n"Brazil - São Paulo",5511,"0,0218"\n'
    write_deck(tmp_path, "latin1.csv", deck, encoding="latin-1")
    done = run(*import_args("latin1.csv", preset="prefix-rate", sheet_id="br"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "latin1.csv:2: is not UTF-8; read the deck as cp1252" in done.stderr
    assert (tmp_path / "sheets" / "br.csv").read_text(encoding="utf-8").splitlines()[1] == (
        "5511,Brazil - São Paulo,0.0218,60,1"
    )


deck_bytes = st.one_of(
    st.binary(max_size=400),
    st.text(alphabet='0123456789,;"\n\r\t .-+^*#abcxyzé\x00', max_size=400).map(str.encode),
)


@settings(max_examples=40, deadline=None)
@given(
    preset=st.sampled_from(["astpp", "a2billing", "prefix-rate", "cgrates"]),
    contents=st.lists(deck_bytes, min_size=3, max_size=3),
    skip=st.booleans(),
)
def test_any_bytes_import_or_fail_with_a_reason(
    preset: str, contents: list[bytes], skip: bool
) -> None:
    """Garbage in: a sheet that loads, or a documented error (never a traceback)."""
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        deck = directory / "deck.csv"
        deck.write_bytes(contents[0])
        if preset == "cgrates":
            deck = directory / "plan"
            deck.mkdir()
            for name, content in zip(
                ("Rates.csv", "Destinations.csv", "DestinationRates.csv"), contents, strict=True
            ):
                (deck / name).write_bytes(content)
        try:
            sheet = write_sheet(
                import_deck(preset, deck, options(skip_bad_rows=skip)), directory / "out"
            )
        except CdrRatingError as exc:
            message = str(exc)
        else:
            message = ""
            assert sheet.rows.height > 0
    assert message or sheet.rows.height > 0


# ------------------------------------------------------------------ the real samples

# file or folder -> (preset, options, tier rows, prefixes)
REAL: dict[str, tuple[str, dict[str, Any], int, int]] = {
    "ASTPP-TERMINATION-RATES-export-2019-05-24.csv": ("astpp", {"currency": "USD"}, 2, 1),
    "originationrates_sample.csv": ("astpp", {}, 1, 1),
    "terminationrates_sample.csv": ("astpp", {}, 1, 1),
    # Four of five rows use features a sheet cannot express (rounding thresholds,
    # time-of-week windows); France imports as a progressive rate.
    "ratecard_complex_sample_semicolon_decimalcomma.csv": (
        "a2billing",
        {"skip_bad_rows": True},
        3,
        1,
    ),
    # The sample's rows disagree on their fields (a startdate in two rows only).
    "ratecard_simple_sample_semicolon_decimalcomma.csv": (
        "a2billing",
        {
            "skip_bad_rows": True,
            "columns": (
                "buyrate",
                "startdate",
                "tag",
                "rounding_calltime",
                "rounding_threshold",
                "additional_block_charge",
                "additional_block_charge_time",
            ),
        },
        1,
        1,
    ),
    # The tutorial prices 1002, 1003 and 10 several ways (one per rating plan): pick one.
    "cgrates_tutorial": (
        "cgrates",
        {
            "destination_rates": (
                "DR_1002_20CNT",
                "DR_1003_20CNT",
                "DR_FS_40CNT",
                "DR_1007_MAXCOST_DISC",
                "DR_1005_MAXCOST_DISC",
                "DR_1011_10CNT",
                "DR_1012_20CNT",
            )
        },
        12,
        7,
    ),
    "carrier_deck_international_2012-09-06.csv": ("prefix-rate", {}, 11894, 11894),
}
NOT_DECKS = {"world_prefix_table.csv"}  # prefixes and operator names, no prices

needs_real = pytest.mark.skipif(not REAL_DECKS.is_dir(), reason="shared real_formats absent")


@needs_real
def test_every_real_deck_is_covered() -> None:
    present = {path.name for path in REAL_DECKS.iterdir()}
    assert present - set(REAL) - NOT_DECKS == set()


@needs_real
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_deck_imports_and_loads(tmp_path: Path, name: str) -> None:
    deck = REAL_DECKS / name
    if not deck.exists():
        pytest.skip(f"{name} absent")
    preset, changes, tier_rows, prefixes = REAL[name]
    started = time.perf_counter()
    imported = import_deck(preset, deck, options(sheet_id="real", **changes))
    sheet = write_sheet(imported, tmp_path)
    elapsed = time.perf_counter() - started
    assert sheet.rows.height == tier_rows
    assert sheet.rows.get_column("prefix").n_unique() == prefixes
    assert load_sheet(tmp_path / "real.toml").rows.height == tier_rows
    assert elapsed < 5, f"{name} took {elapsed:.1f} s"


@needs_real
def test_real_cgrates_tutorial_needs_a_choice() -> None:
    folder = REAL_DECKS / "cgrates_tutorial"
    if not folder.exists():
        pytest.skip("cgrates_tutorial absent")
    with pytest.raises(ConfigError) as caught:
        import_deck("cgrates", folder, options())
    problems = caught.value.problems
    assert sum("is also priced at" in problem for problem in problems) == 4
    assert any("'RT_GENERIC_1' is not in Rates.csv" in problem for problem in problems)


@needs_real
def test_real_prefix_table_is_refused_cleanly() -> None:
    table = REAL_DECKS / "world_prefix_table.csv"
    if not table.exists():
        pytest.skip("world_prefix_table.csv absent")
    with pytest.raises(UsageError, match="no header naming prefix and rate"):
        import_deck("prefix-rate", table, options())


@needs_real
def test_real_carrier_deck_through_the_command(tmp_path: Path) -> None:
    deck = REAL_DECKS / "carrier_deck_international_2012-09-06.csv"
    if not deck.exists():
        pytest.skip("carrier deck absent")
    started = time.perf_counter()
    done = run(*import_args(str(deck), preset="prefix-rate", sheet_id="intl"), cwd=tmp_path)
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert "imported 11894 rates (11894 tier rows, 11894 prefixes)" in done.stdout
    assert elapsed < 10, f"import took {elapsed:.1f} s"
    assert load_sheet(tmp_path / "sheets" / "intl.toml").rows.height == 11894
