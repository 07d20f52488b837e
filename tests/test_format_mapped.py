"""Mapped CSV: any header layout read through --map (here a Cisco CUCM-style export)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from cdr_rating.cdrs.inputs import reader_for
from cdr_rating.cdrs.mapped import ColumnMap
from cdr_rating.errors import InputError, UsageError
from cdr_rating.rating import RatingPlan
from cdrformats import FIXTURES, charges, column, flat_plan, rate, rejected, write

CUCM = FIXTURES / "cucm_cdr.csv"
CUCM_MAP = [
    "call_id=globalCallID_callId",
    "caller=callingPartyNumber",
    "callee=finalCalledPartyNumber",
    "start:epoch=dateTimeConnect|dateTimeOrigination",
    "duration=duration",
]


@pytest.fixture
def plan(tmp_path: Path) -> RatingPlan:
    return flat_plan(tmp_path)


def cucm_format(specs: list[str] = CUCM_MAP, skip_rows: int = 1, separator: str = ",") -> str:
    return ColumnMap.parse(specs, skip_rows, separator).format_name()


def test_cucm_golden_charges(plan: RatingPlan) -> None:
    result = rate([CUCM], plan, cucm_format())
    assert charges(result) == {
        "1001": Decimal("0.0400"),  # 120 s to Berlin
        "1002": Decimal("0.0000"),  # never connected: duration 0
        "1003": Decimal("0.0610"),  # 61 s to a German mobile
    }
    # Line 2 (the column types) is skipped like the header; data starts at line 3.
    assert column(result, "line") == [3, 4, 5]


def test_epoch_seconds_with_a_fallback_column(plan: RatingPlan) -> None:
    starts = column(rate([CUCM], plan, cucm_format()), "start")
    assert starts == [
        dt.datetime(2026, 10, 1, 8, 0, 5, tzinfo=dt.UTC),
        # dateTimeConnect is 0 (never connected): dateTimeOrigination is used.
        dt.datetime(2026, 10, 1, 8, 1, 40, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 1, 8, 6, 43, tzinfo=dt.UTC),
    ]


def test_without_skip_rows_the_type_row_is_rejected(plan: RatingPlan) -> None:
    result = rate([CUCM], plan, cucm_format(skip_rows=0))
    assert rejected(result) == [(2, "bad_time")]
    assert result.read == 4


def test_without_call_id_a_fingerprint_identifies_rows(plan: RatingPlan, tmp_path: Path) -> None:
    specs = [spec for spec in CUCM_MAP if not spec.startswith("call_id")]
    lines = CUCM.read_text().splitlines()
    path = write(tmp_path, "cdr.csv", "\n".join([*lines, lines[2]]) + "\n")
    result = rate([path], plan, cucm_format(specs))
    assert all(call_id.startswith("map-") and len(call_id) == 20 for call_id in charges(result))
    assert rejected(result) == [(6, "duplicate")]


def test_milliseconds_semicolons_and_any_case(plan: RatingPlan, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "export.csv",
        "ID;From;To;Begin;Length_ms;Result\n"
        "a;100;+49 30 1234;2026-10-01T10:00:00Z;90500;ANSWERED\n"
        'b;100;+49 30 1234;2026-10-01T10:05:00Z;12000;"NO ANSWER"\n',
    )
    fmt = cucm_format(
        [
            "call_id=id",
            "caller=FROM",
            "callee=to",
            "start=begin",
            "duration:ms=length_ms",
            "disposition=result",
        ],
        skip_rows=0,
        separator=";",
    )
    result = rate([path], plan, fmt)
    assert charges(result) == {"a": Decimal("0.0303"), "b": Decimal("0.0000")}
    assert column(result, "billable_s") == [91, 0]


def test_a_row_with_the_wrong_field_count(plan: RatingPlan, tmp_path: Path) -> None:
    lines = CUCM.read_text().splitlines()
    path = write(tmp_path, "cdr.csv", "\n".join([*lines, "1,1,1004"]) + "\n")
    result = rate([path], plan, cucm_format())
    assert rejected(result) == [(6, "parse_error")]
    assert result.rejects.item(0, "message") == "3 fields; the header has 10"


def test_a_column_missing_from_the_header(plan: RatingPlan) -> None:
    fmt = cucm_format([*CUCM_MAP[:4], "duration=durationSeconds"])
    with pytest.raises(InputError, match="no column 'durationSeconds' for duration"):
        rate([CUCM], plan, fmt)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["callee=a", "start=b"], "duration must be mapped"),
        (["callee=a", "start=b", "duration=c", "price=d"], "'price' is not one of"),
        (["callee=a", "start:iso=b", "duration=c"], "unknown kind 'iso'"),
        (["callee=a", "start=b", "duration=c", "callee=d"], "callee is mapped twice"),
        (["callee", "start=b", "duration=c"], "write FIELD=COLUMN"),
        (["callee=a|", "start=b", "duration=c"], "write FIELD=COLUMN"),
    ],
)
def test_bad_maps_are_usage_errors(specs: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ColumnMap.parse(specs)


def test_the_map_travels_as_a_format_name() -> None:
    column_map = ColumnMap.parse(CUCM_MAP, 1, ";")
    assert ColumnMap.from_format_name(column_map.format_name()) == column_map
    with pytest.raises(UsageError, match="needs --map"):
        reader_for("mapped")
    with pytest.raises(UsageError, match="not a column mapping"):
        reader_for("mapped:{not json")
