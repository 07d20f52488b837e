"""Asterisk cdr_csv (Master.csv): layouts, quoting, billing fields and dispositions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from cdr_rating.rating import RatingPlan
from cdrformats import FIXTURES, charges, column, flat_plan, rate, rejected, write

MASTER = FIXTURES / "asterisk_Master.csv"


@pytest.fixture
def plan(tmp_path: Path) -> RatingPlan:
    return flat_plan(tmp_path)


def test_golden_charges(plan: RatingPlan) -> None:
    result = rate([MASTER], plan, "asterisk")
    assert (result.read, result.rejects.height) == (8, 0)
    assert list(charges(result).values()) == [
        Decimal("0.0400"),  # 120 s to Berlin at 0.02/min
        Decimal("0.0000"),  # NO ANSWER
        Decimal("0.0000"),  # failover attempt: CHANUNAVAIL
        Decimal("0.0600"),  # failover attempt: ANSWERED, 300 s to NANP at 0.012/min
        Decimal("0.0030"),  # Local/ leg, 9 s
        Decimal("0.0167"),  # the desk leg behind it, 50 s
        Decimal("0.0000"),  # BUSY
        Decimal("0.0610"),  # 61 s to a German mobile at 0.06/min
    ]


def test_billsec_is_the_duration_and_dispositions_are_kept(plan: RatingPlan) -> None:
    result = rate([MASTER], plan, "asterisk")
    assert column(result, "billable_s") == [120, 0, 0, 300, 9, 50, 0, 61]
    assert column(result, "disposition") == [
        "ANSWERED",
        "NO ANSWER",
        "CHANUNAVAIL",
        "ANSWERED",
        "ANSWERED",
        "ANSWERED",
        "BUSY",
        "ANSWERED",
    ]


def test_accountcode_src_and_dst(plan: RatingPlan) -> None:
    first = rate([MASTER], plan, "asterisk").rated.row(0, named=True)
    assert (first["account"], first["caller"], first["callee"], first["number"]) == (
        "ACME",
        "493055501",
        "004930123456",
        "4930123456",
    )


def test_billing_starts_at_the_answer_time(plan: RatingPlan) -> None:
    starts = column(rate([MASTER], plan, "asterisk"), "start")
    utc = dt.UTC
    # Answered: the answer time, not the start (09:00:00).
    assert starts[0] == dt.datetime(2026, 10, 1, 9, 0, 5, tzinfo=utc)
    # Unanswered, answer written ",,": the start.
    assert starts[1] == dt.datetime(2026, 10, 1, 9, 10, tzinfo=utc)
    # Answered but A2Billing left the answer time empty: the start.
    assert starts[3] == dt.datetime(2026, 10, 1, 10, 0, 5, tzinfo=utc)


def test_times_are_read_in_the_input_timezone(plan: RatingPlan) -> None:
    from cdr_rating.cdrs import InputOptions

    result = rate([MASTER], plan, "asterisk", InputOptions(input_tz="Europe/Berlin"))
    assert column(result, "start")[0] == dt.datetime(2026, 10, 1, 7, 0, 5, tzinfo=dt.UTC)


def test_sixteen_columns_without_uniqueid(plan: RatingPlan) -> None:
    result = rate([FIXTURES / "asterisk_16_columns.csv"], plan, "asterisk")
    assert list(charges(result).values()) == [Decimal("0.0200"), Decimal("0.0100")]
    assert all(call_id.startswith("ast-") for call_id in charges(result))
    assert rejected(result) == [(3, "duplicate")]


def test_seventeen_columns_end_with_the_uniqueid(plan: RatingPlan, tmp_path: Path) -> None:
    line = MASTER.read_text().splitlines()[0].rsplit(",", 1)[0]  # userfield dropped
    result = rate([write(tmp_path, "Master.csv", line + "\n")], plan, "asterisk")
    (call_id,) = charges(result)
    assert call_id.startswith("1790838000.101-")


def test_twenty_one_columns(plan: RatingPlan) -> None:
    result = rate([FIXTURES / "asterisk_21_columns.csv"], plan, "asterisk")
    assert list(charges(result).values()) == [Decimal("0.0300")]
    assert next(iter(charges(result))).startswith("1790935200.301-")


def test_quoted_commas_and_doubled_quotes_stay_inside_their_field(
    plan: RatingPlan, tmp_path: Path
) -> None:
    # Line 7 has commas and "" in clid, lastdata and userfield; it must still split
    # into 18 fields, or its dst and billsec would be read from the wrong columns.
    result = rate([MASTER], plan, "asterisk")
    busy = result.rated.row(6, named=True)
    assert (busy["callee"], busy["disposition"], busy["line"]) == ("0049891234567", "BUSY", 7)


def test_billsec_greater_than_duration_is_bad_duration(plan: RatingPlan, tmp_path: Path) -> None:
    line = MASTER.read_text().splitlines()[0].replace(",125,120,", ",100,120,")
    result = rate([write(tmp_path, "Master.csv", line + "\n")], plan, "asterisk")
    assert rejected(result) == [(1, "bad_duration")]
    assert result.rejects.item(0, "message") == "billsec 120 is greater than duration 100"


@pytest.mark.parametrize(
    ("billsec", "shown"),
    [("-5", "-5"), ("1e309", "1e309"), ("12.5", "12.5"), ('"x"', "x")],
)
def test_billsec_that_is_not_whole_seconds(
    plan: RatingPlan, tmp_path: Path, billsec: str, shown: str
) -> None:
    line = MASTER.read_text().splitlines()[0].replace(",125,120,", f",125,{billsec},")
    result = rate([write(tmp_path, "Master.csv", line + "\n")], plan, "asterisk")
    assert rejected(result) == [(1, "bad_duration")]
    assert (
        result.rejects.item(0, "message") == f"billsec '{shown}' is not a whole number of seconds"
    )


def test_wrong_number_of_fields_is_a_parse_error(plan: RatingPlan, tmp_path: Path) -> None:
    good = MASTER.read_text().splitlines()[0]
    short = good.rsplit(",", 3)[0]  # 15 fields
    path = write(tmp_path, "Master.csv", f'{good}\n{short}\n{good},"x"\n')
    result = rate([path], plan, "asterisk")
    assert rejected(result) == [(2, "parse_error"), (3, "parse_error")]
    assert result.rejects.get_column("message").to_list() == [
        "15 fields; Asterisk Master.csv lines have 16, 17, 18 or 21",
        "19 fields; Asterisk Master.csv lines have 16, 17, 18 or 21",
    ]
    assert result.rejects.get_column("call_id").to_list() == [None, None]
    assert result.rejects.item(0, "raw") == short


def test_an_empty_disposition_is_a_parse_error(plan: RatingPlan, tmp_path: Path) -> None:
    line = MASTER.read_text().splitlines()[0].replace('"ANSWERED"', '""')
    result = rate([write(tmp_path, "Master.csv", line + "\n")], plan, "asterisk")
    assert rejected(result) == [(1, "parse_error")]
    assert result.rejects.item(0, "message") == "the disposition field is empty"
