"""Canonical CDR files: parsing, normalisation and rejects with reasons, nothing lost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.cdrs import InputOptions, NumberRules
from cdr_rating.errors import InputError, UsageError
from cdr_rating.pipeline import rate_files
from cdr_rating.rating import RatingPlan
from cdr_rating.sheets import load_sheet

HEADER = "call_id,account,caller,callee,start,duration,disposition\n"


@pytest.fixture
def plan(tmp_path: Path) -> RatingPlan:
    (tmp_path / "flat.csv").write_text("prefix,destination,rate,unit_s\n49,Germany,0.6,60\n")
    (tmp_path / "flat.toml").write_text(
        'id = "flat"\ncurrency = "EUR"\nrates = "flat.csv"\n[rounding]\ndecimals = 4\n'
    )
    return RatingPlan.from_sheets([load_sheet(tmp_path / "flat.toml")])


def write_cdrs(tmp_path: Path, rows: str, name: str = "cdrs.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + rows)
    return path


def test_times_with_offsets_z_and_naive(tmp_path: Path, plan: RatingPlan) -> None:
    path = write_cdrs(
        tmp_path,
        "a,,1,4930,2026-10-01T09:00:00+02:00,60,\n"
        "b,,1,4930,2026-10-01 07:00:00Z,60,\n"
        "c,,1,4930,2026-10-01T09:00:00,60,\n"
        "d,,1,4930,2026-10-01T09:00:00.250+02:00,60,\n",
    )
    result = rate_files([path], plan, options=InputOptions(input_tz="Europe/Berlin"))
    starts = dict(result.rated.select("call_id", "start").rows())
    seven = dt.datetime(2026, 10, 1, 7, tzinfo=dt.UTC)
    assert starts == {"a": seven, "b": seven, "c": seven, "d": seven.replace(microsecond=250000)}


def test_every_bad_row_is_rejected_with_its_reason_and_line(
    tmp_path: Path, plan: RatingPlan
) -> None:
    path = write_cdrs(
        tmp_path,
        "ok,,1,+49 30 1,2026-10-01T09:00:00Z,60,ANSWERED\n"
        ",,1,4930,2026-10-01T09:00:00Z,60,\n"
        "t,,1,4930,2026-02-30T09:00:00Z,60,\n"
        "t2,,1,4930,yesterday,60,\n"
        "neg,,1,4930,2026-10-01T09:00:00Z,-5,\n"
        "huge,,1,4930,2026-10-01T09:00:00Z,1e309,\n"
        "feat,,1,*98,2026-10-01T09:00:00Z,5,\n"
        "long,,1," + "4" * 5000 + ",2026-10-01T09:00:00Z,5,\n"
        "gap,,1,4930,2026-03-29T02:30:00,5,\n"
        "nomatch,,1,3312,2026-10-01T09:00:00Z,5,\n"
        "ok,,1,4930,2026-10-01T09:00:00Z,60,\n",
    )
    result = rate_files([path], plan, options=InputOptions(input_tz="Europe/Berlin"))
    assert result.read == 11
    assert result.rated.get_column("call_id").to_list() == ["ok"]
    rejects = result.rejects.select("line", "call_id", "reason").rows()
    assert rejects == [
        (3, None, "parse_error"),
        (4, "t", "bad_time"),
        (5, "t2", "bad_time"),
        (6, "neg", "bad_duration"),
        (7, "huge", "bad_duration"),
        (8, "feat", "bad_number"),
        (9, "long", "bad_number"),
        (10, "gap", "bad_time"),
        (11, "nomatch", "no_rate"),
        (12, "ok", "duplicate"),
    ]
    assert result.rejects.get_column("raw").to_list()[1] == "t,,1,4930,2026-02-30T09:00:00Z,60,"
    assert all(result.rejects.get_column("file") == str(path))
    assert result.reconciles()


def test_durations_are_read_to_the_millisecond_rounding_up(
    tmp_path: Path, plan: RatingPlan
) -> None:
    path = write_cdrs(
        tmp_path,
        "a,,1,4930,2026-10-01T09:00:00Z,60.0001,\n"
        "b,,1,4930,2026-10-01T09:00:00Z,0.5,\n"
        "c,,1,4930,2026-10-01T09:00:00Z,7,\n",
    )
    rated = rate_files([path], plan).rated.sort("call_id")
    assert rated.get_column("duration_s").to_list() == [
        Decimal("60.001"),
        Decimal("0.500"),
        Decimal("7.000"),
    ]
    assert rated.get_column("billable_s").to_list() == [61, 1, 7]
    assert rated.get_column("charge").to_list() == [
        Decimal("0.6100"),
        Decimal("0.0100"),
        Decimal("0.0700"),
    ]


def test_unanswered_calls_are_rated_at_zero(tmp_path: Path, plan: RatingPlan) -> None:
    path = write_cdrs(tmp_path, "a,,1,4930,2026-10-01T09:00:00Z,25,NO ANSWER\n")
    rated = rate_files([path], plan).rated
    assert rated.select("billable_s", "charge", "disposition").row(0) == (
        0,
        Decimal("0.0000"),
        "NO ANSWER",
    )


def test_duplicates_across_files_are_rejected_once(tmp_path: Path, plan: RatingPlan) -> None:
    first = write_cdrs(tmp_path, "a,,1,4930,2026-10-01T09:00:00Z,60,\n", "one.csv")
    again = write_cdrs(tmp_path, "a,,1,4930,2026-10-01T09:00:00Z,60,\n", "two.csv")
    result = rate_files([first, again], plan)
    assert result.rated.height == 1
    assert result.rejects.select("file", "reason").row(0) == (str(again), "duplicate")


def test_a_corrupt_first_copy_does_not_hide_a_good_one(tmp_path: Path, plan: RatingPlan) -> None:
    path = write_cdrs(tmp_path, "a,,1,4930,not a time,60,\na,,1,4930,2026-10-01T09:00:00Z,60,\n")
    result = rate_files([path], plan)
    assert result.rated.height == 1
    assert result.rejects.get_column("reason").to_list() == ["bad_time"]


def test_parquet_input_with_typed_columns(tmp_path: Path, plan: RatingPlan) -> None:
    path = tmp_path / "cdrs.parquet"
    pl.DataFrame(
        {
            "call_id": ["p1", "p2"],
            "caller": ["1", "1"],
            "callee": ["+4930", "0049 30"],
            "start": [dt.datetime(2026, 10, 1, 9), dt.datetime(2026, 10, 1, 10)],
            "duration": [60, -1],
        }
    ).write_parquet(path)
    result = rate_files([path], plan, options=InputOptions(input_tz="Europe/Berlin"))
    assert result.rated.select("call_id", "number", "charge").row(0) == (
        "p1",
        "4930",
        Decimal("0.6000"),
    )
    assert result.rated.get_column("start").to_list() == [
        dt.datetime(2026, 10, 1, 7, tzinfo=dt.UTC)
    ]
    reject = result.rejects.row(0, named=True)
    assert (reject["line"], reject["reason"]) == (2, "bad_duration")
    assert '"call_id":"p2"' in reject["raw"]


def test_empty_file_reads_zero_rows(tmp_path: Path, plan: RatingPlan) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    result = rate_files([path], plan)
    assert (result.read, result.rated.height, result.rejects.height) == (0, 0, 0)


def test_missing_file_is_an_input_error(tmp_path: Path, plan: RatingPlan) -> None:
    with pytest.raises(InputError, match="input file not found"):
        rate_files([tmp_path / "nope.csv"], plan)


def test_undetectable_format_is_an_input_error(tmp_path: Path, plan: RatingPlan) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("when,who,what\n1,2,3\n")
    with pytest.raises(InputError, match="cannot tell its CDR format"):
        rate_files([path], plan)


def test_unknown_format_option(tmp_path: Path, plan: RatingPlan) -> None:
    with pytest.raises(UsageError, match="unknown --format"):
        rate_files([write_cdrs(tmp_path, "")], plan, fmt="cisco")


def test_national_rule_applies_to_inputs(tmp_path: Path, plan: RatingPlan) -> None:
    path = write_cdrs(tmp_path, "a,,1,030 123,2026-10-01T09:00:00Z,60,\n")
    options = InputOptions(numbers=NumberRules(trunk_prefix="0", country_code="49"))
    assert rate_files([path], plan, options=options).rated.get_column("number").to_list() == [
        "4930123"
    ]


def test_parquet_and_csv_in_one_run(tmp_path: Path, plan: RatingPlan) -> None:
    typed = tmp_path / "typed.parquet"
    pl.DataFrame(
        {
            "call_id": ["p1"],
            "caller": ["1"],
            "callee": ["4930"],
            "start": [dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)],
            "duration": [60],
        }
    ).write_parquet(typed)
    text = write_cdrs(
        tmp_path, "c1,,1,4930,2026-10-01T09:00:00Z,30,\np1,,1,4930,2026-10-01T09:00:00Z,60,\n"
    )
    result = rate_files([typed, text], plan)
    assert result.rated.select("call_id", "charge").rows() == [
        ("p1", Decimal("0.6000")),
        ("c1", Decimal("0.3000")),
    ]
    assert result.rejects.select("call_id", "reason").rows() == [("p1", "duplicate")]
