"""FreeSWITCH mod_cdr_csv: the example and default templates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from cdr_rating.rating import RatingPlan
from cdrformats import FIXTURES, charges, column, flat_plan, rate, rejected, write

EXAMPLE = FIXTURES / "freeswitch_example.csv"
DEFAULT = FIXTURES / "freeswitch_default.csv"


@pytest.fixture
def plan(tmp_path: Path) -> RatingPlan:
    return flat_plan(tmp_path)


def test_example_template_golden_charges(plan: RatingPlan) -> None:
    result = rate([EXAMPLE], plan, "freeswitch")
    assert list(charges(result).values()) == [
        Decimal("0.0600"),  # A leg, 180 s to Berlin
        Decimal("0.0600"),  # its B leg: a call of its own (legs=ab)
        Decimal("0.0000"),  # NO_ANSWER
        Decimal("0.0000"),  # USER_BUSY
        Decimal("0.0300"),  # 30 s to a German mobile
    ]
    assert rejected(result) == [(6, "bad_number")]  # *97, a feature code
    assert "feature code" in result.rejects.item(0, "message")


def test_answered_calls_and_hangup_causes(plan: RatingPlan) -> None:
    result = rate([EXAMPLE], plan, "freeswitch")
    assert column(result, "disposition") == [
        "ANSWERED",
        "ANSWERED",
        "NO_ANSWER",
        "USER_BUSY",
        "ANSWERED",
    ]
    assert column(result, "billable_s") == [180, 180, 0, 0, 30]


def test_billing_starts_at_answer_stamp(plan: RatingPlan) -> None:
    starts = column(rate([EXAMPLE], plan, "freeswitch"), "start")
    assert starts[0] == dt.datetime(2026, 10, 3, 8, 0, 4, tzinfo=dt.UTC)
    assert starts[2] == dt.datetime(2026, 10, 3, 9, 0, 0, tzinfo=dt.UTC)  # no answer_stamp


def test_fields_with_doubled_quotes_and_spaces(plan: RatingPlan) -> None:
    result = rate([EXAMPLE], plan, "freeswitch")
    assert column(result, "callee")[2] == "+34 911 234 567"
    assert column(result, "number")[2] == "34911234567"
    assert column(result, "account") == ["ACME", "ACME", "ACME", "ACME", "BETA"]


def test_default_template_with_a_space_before_the_last_field(plan: RatingPlan) -> None:
    result = rate([DEFAULT], plan, "freeswitch")
    assert list(charges(result).values()) == [Decimal("0.0200"), Decimal("0.0000")]
    assert column(result, "account") == ["ACME", 'ACME "EU"']
    assert column(result, "disposition") == ["ANSWERED", "ORIGINATOR_CANCEL"]


def test_billsec_above_zero_means_answered(plan: RatingPlan, tmp_path: Path) -> None:
    line = DEFAULT.read_text().splitlines()[0].replace('"2026-10-03 10:00:02"', '""')
    result = rate([write(tmp_path, "Master.csv", line + "\n")], plan, "freeswitch")
    assert column(result, "disposition") == ["ANSWERED"]
    assert column(result, "start") == [dt.datetime(2026, 10, 3, 10, tzinfo=dt.UTC)]
    assert column(result, "billable_s") == [60]


def test_billsec_greater_than_duration(plan: RatingPlan, tmp_path: Path) -> None:
    line = DEFAULT.read_text().splitlines()[0].replace('"62","60"', '"50","60"')
    result = rate([write(tmp_path, "Master.csv", line + "\n")], plan, "freeswitch")
    assert rejected(result) == [(1, "bad_duration")]
    assert result.rejects.item(0, "message") == "billsec 60 is greater than duration 50"


def test_other_layouts_are_parse_errors(plan: RatingPlan, tmp_path: Path) -> None:
    good = EXAMPLE.read_text().splitlines()[0]
    path = write(tmp_path, "Master.csv", f"{good}\n{good[: good.rindex(',')]}\n")
    result = rate([path], plan, "freeswitch")
    assert rejected(result) == [(2, "parse_error")]
    assert result.rejects.item(0, "message") == (
        "14 fields; FreeSWITCH mod_cdr_csv lines have 13 or 15"
    )
