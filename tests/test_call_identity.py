"""Call identity: legs and attempts are calls of their own, a re-delivered row is a
duplicate, and call_ids never change (they are compared with earlier runs)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import polars as pl
import pytest

from cdr_rating.cdrs.asterisk import LEG_FIELDS, ROW_FIELDS
from cdr_rating.cdrs.identity import fingerprint, fingerprint_reference, hex_digits
from cdr_rating.rating import RatingPlan
from cdrformats import FIXTURES, charges, flat_plan, rate, rejected

MASTER = FIXTURES / "asterisk_Master.csv"


@pytest.fixture
def plan(tmp_path: Path) -> RatingPlan:
    return flat_plan(tmp_path)


def _master_fields(line: int) -> list[str]:
    """The fields of a fixture line, split by hand (the test must not trust the reader)."""
    import csv

    return next(csv.reader([MASTER.read_text().splitlines()[line - 1]]))


def test_a2billing_failover_attempts_are_two_calls(plan: RatingPlan) -> None:
    result = rate([MASTER], plan, "asterisk")
    attempts = result.rated.filter(pl.col("call_id").str.starts_with("A2B01-1790841600.105-"))
    assert attempts.select("disposition", "billable_s").rows() == [
        ("CHANUNAVAIL", 0),
        ("ANSWERED", 300),
    ]


def test_legs_sharing_a_uniqueid_are_two_calls(plan: RatingPlan) -> None:
    result = rate([MASTER], plan, "asterisk")
    legs = result.rated.filter(pl.col("call_id").str.starts_with("1790842000.110-"))
    assert legs.get_column("billable_s").to_list() == [9, 50]


def test_the_same_row_in_master_and_account_file_is_billed_once(plan: RatingPlan) -> None:
    result = rate([MASTER, FIXTURES / "ACME.csv"], plan, "asterisk")
    assert result.rated.height == 8
    assert rejected(result) == [(1, "duplicate"), (2, "duplicate")]
    assert set(result.rejects.get_column("file")) == {str(FIXTURES / "ACME.csv")}


def test_feeding_a_file_twice_bills_nothing_twice(plan: RatingPlan, tmp_path: Path) -> None:
    again = shutil.copy(MASTER, tmp_path / "again.csv")
    once = rate([MASTER], plan, "asterisk")
    twice = rate([MASTER, Path(again)], plan, "asterisk")
    assert twice.rated.equals(once.rated)
    assert twice.rejects.get_column("reason").to_list() == ["duplicate"] * 8


@pytest.mark.parametrize(
    "fixture",
    [
        "asterisk_Master.csv",
        "asterisk_16_columns.csv",
        "freeswitch_example.csv",
        "cgrates_cdrs.csv",
    ],
)
def test_every_format_bills_a_repeated_file_once(
    plan: RatingPlan, tmp_path: Path, fixture: str
) -> None:
    again = Path(shutil.copy(FIXTURES / fixture, tmp_path / fixture))
    once = rate([FIXTURES / fixture], plan)
    twice = rate([FIXTURES / fixture, again], plan)
    assert twice.rated.select("call_id", "charge").equals(once.rated.select("call_id", "charge"))
    second = twice.rejects.filter(pl.col("file") == str(again))
    # The second copy is rejected whole: its good rows as duplicates, the others for
    # the reason they had the first time.
    assert second.height == once.read
    first_reasons = dict(once.rejects.select("line", "reason").rows())
    for line, reason in second.select("line", "reason").rows():
        assert reason == first_reasons.get(line, "duplicate")


def test_asterisk_call_id_rule(plan: RatingPlan) -> None:
    """``<uniqueid>-<low 32 bits of the fingerprint of the leg fields, 8 hex digits>``."""
    result = rate([MASTER], plan, "asterisk")
    for line, call_id in result.rated.select("line", "call_id").rows():
        fields = _master_fields(line)
        leg = fingerprint_reference([fields[index] for index in LEG_FIELDS])
        assert call_id == f"{fields[16]}-{leg & 0xFFFFFFFF:08x}"


def test_asterisk_call_id_without_uniqueid(plan: RatingPlan) -> None:
    import csv

    path = FIXTURES / "asterisk_16_columns.csv"
    result = rate([path], plan, "asterisk")
    lines = list(csv.reader(path.read_text().splitlines()))
    for line, call_id in result.rated.select("line", "call_id").rows():
        whole = fingerprint_reference([lines[line - 1][index] for index in ROW_FIELDS])
        assert call_id == f"ast-{whole:016x}"


def test_call_ids_are_pinned(plan: RatingPlan) -> None:
    """The fingerprint must never change: stored calls are matched by their call_id."""
    assert fingerprint_reference([]) == 0xE220A8397B1DCDAF
    assert fingerprint_reference(["2026-10-01 09:00:00", "ANSWERED", "SIP/a-0001"]) == (
        0xF8D1399D66BEE55E
    )
    frame = pl.DataFrame({"a": ["2026-10-01 09:00:00"], "b": ["ANSWERED"], "c": ["SIP/a-0001"]})
    assert fingerprint(frame, ["a", "b", "c"]).item() == 0xF8D1399D66BEE55E
    result = rate([MASTER], plan, "asterisk")
    assert result.rated.item(0, "call_id") == "1790838000.101-0dbbdfc9"


def test_vectorised_fingerprint_matches_the_reference() -> None:
    rng = random.Random(3)
    alphabet = 'ab,"é€\x00\x1f 😀'
    rows = [
        [
            None if rng.random() < 0.1 else "".join(rng.choices(alphabet, k=rng.randint(0, 90)))
            for _ in range(3)
        ]
        for _ in range(500)
    ]
    rows.append(["x" * 400, None, "y"])  # longer than the 256 bytes that are read
    rows.append(["x" * 400, None, "z"])
    frame = pl.DataFrame(rows, schema=["a", "b", "c"], orient="row")
    got = fingerprint(frame, ["a", "b", "c"]).to_list()
    assert got == [fingerprint_reference(values) for values in rows]


def test_hex_digits() -> None:
    frame = pl.DataFrame({"h": [0, 0xDEADBEEF12345678]}, schema={"h": pl.UInt64})
    assert frame.select(hex_digits(pl.col("h"), 8)).to_series().to_list() == [
        "00000000",
        "12345678",
    ]
    assert frame.select(hex_digits(pl.col("h"), 16)).item(1, 0) == "deadbeef12345678"


def test_freeswitch_legs_have_their_own_uuid(plan: RatingPlan) -> None:
    result = rate([FIXTURES / "freeswitch_example.csv"], plan, "freeswitch")
    a_leg, b_leg = list(charges(result))[:2]
    assert (a_leg, b_leg) == (
        "6f1e9a52-0c1d-4e8b-9a61-1d2f3a4b5c60",
        "6f1e9a52-0c1d-4e8b-9a61-1d2f3a4b5c61",
    )
