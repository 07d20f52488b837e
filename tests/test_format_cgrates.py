"""CGRateS *file_csv exports: the default field layout, Go durations and times."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.cdrs.cgrates import iso_time, usage_seconds
from cdr_rating.rating import RatingPlan
from cdrformats import FIXTURES, charges, column, flat_plan, rate, rejected

CDRS = FIXTURES / "cgrates_cdrs.csv"


@pytest.fixture
def plan(tmp_path: Path) -> RatingPlan:
    return flat_plan(tmp_path)


def test_golden_charges(plan: RatingPlan) -> None:
    result = rate([CDRS], plan, "cgrates")
    assert charges(result) == {
        "call-0001": Decimal("0.0300"),  # 1m30s to Berlin
        "call-0002": Decimal("0.0450"),  # 45e9 ns to a German mobile
        "call-0003": Decimal("0.7448"),  # 1h2m3.5s to NANP: 3724 billed seconds
        "call-0004": Decimal("0.0000"),  # never answered
        "call-0007": Decimal("0.0003"),  # 250ms: one billed second
        # No OriginID: the CGRID identifies the call.
        "a1b2c3d4e5f60718293a4b5c6d7e8f901122334b": Decimal("0.0007"),
    }
    assert rejected(result) == [(5, "parse_error"), (6, "bad_duration")]
    assert result.rejects.get_column("message").to_list() == [
        "ToR '*sms' is not a voice call; only *voice rows are rated",
        "Usage 'ten seconds' is not a duration (like 1m30s) or a number of nanoseconds",
    ]


def test_account_subject_destination_and_answer(plan: RatingPlan) -> None:
    result = rate([CDRS], plan, "cgrates")
    first = result.rated.row(0, named=True)
    assert (first["account"], first["caller"], first["callee"]) == (
        "ACME",
        "493055501",
        "+4930123456",
    )
    assert column(result, "disposition") == [
        "ANSWERED",
        "ANSWERED",
        "ANSWERED",
        "NO ANSWER",
        "ANSWERED",
        "ANSWERED",
    ]


def test_times_with_zone_names_and_fractions(plan: RatingPlan) -> None:
    starts = column(rate([CDRS], plan, "cgrates"), "start")
    assert starts[:4] == [
        dt.datetime(2026, 10, 4, 8, 0, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 4, 8, 0, 5, tzinfo=dt.UTC),  # +0200 CEST
        dt.datetime(2026, 10, 4, 9, 0, 1, 500000, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 4, 9, 30, tzinfo=dt.UTC),  # zero AnswerTime: SetupTime
    ]


@pytest.mark.parametrize(
    ("usage", "seconds"),
    [
        ("10s", "10"),
        ("1m30s", "90"),
        ("1h2m3.5s", "3723.5"),
        ("250ms", "0.25"),
        ("1.5µs", "0.0000015"),
        ("2us", "0.000002"),
        ("7ns", "0.000000007"),
        ("1.5h", "5400"),
        (".5s", "0.5"),
        ("0s", "0"),
        ("90000000000", "90"),
        ("10", "0.00000001"),  # a bare number is nanoseconds, not seconds
        ("0", "0"),
        ("2562047h47m16.854775807s", "9223372036.854775807"),
    ],
)
def test_usage_as_go_durations_and_nanoseconds(usage: str, seconds: str) -> None:
    frame = pl.DataFrame({"usage": [usage]})
    got = frame.select(usage_seconds(pl.col("usage"))).item()
    assert Decimal(got) == Decimal(seconds)


@pytest.mark.parametrize("usage", ["", "-1s", "1e309", "ten", "1x", "1.2.3s", "9" * 40 + "h"])
def test_usage_that_is_not_a_duration(usage: str) -> None:
    frame = pl.DataFrame({"usage": [usage]})
    assert frame.select(usage_seconds(pl.col("usage"))).item() is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2013-11-07 08:42:26 +0000 UTC", "2013-11-07 08:42:26+00:00"),
        ("2013-11-07 08:42:26.5 +0100 CET", "2013-11-07 08:42:26.5+01:00"),
        ("2013-11-07 08:42:26 -0500 -05", "2013-11-07 08:42:26-05:00"),
        ("2013-11-07 08:42:26 +0000 UTC m=+0.001", "2013-11-07 08:42:26+00:00"),
        ("2013-11-07T08:42:26Z", "2013-11-07T08:42:26Z"),
    ],
)
def test_go_times_become_iso(text: str, iso: str) -> None:
    assert pl.DataFrame({"t": [text]}).select(iso_time(pl.col("t"))).item() == iso


def test_fewer_than_fifteen_fields_is_a_parse_error(plan: RatingPlan, tmp_path: Path) -> None:
    good = CDRS.read_text().splitlines()[0]
    short = ",".join(good.split(",")[:14])
    path = tmp_path / "cdrs.csv"
    path.write_text(f"{good}\n{short}\n")
    result = rate([path], plan, "cgrates")
    assert rejected(result) == [(2, "parse_error")]
    assert result.rejects.item(0, "message") == (
        "14 fields; CGRateS *file_csv lines have at least 15"
    )
