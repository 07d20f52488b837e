"""``rate_to_file`` slice by slice: the same outputs as rating the whole input at once.

Inputs too large for memory are rated in slices (Parquet files cut by rows, other files
whole). These tests force tiny slices and compare every output with one-slice rating:
the rated calls row for row, the rejects with their reasons, messages and raw lines,
and the totals; in particular a call_id repeated across slices is a duplicate exactly
when it would be one in a single pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cdr_rating import pipeline
from cdr_rating.cli import app
from cdr_rating.pipeline import RatingSummary, input_slices, rate_to_file
from cdr_rating.rating import RatingPlan
from cdr_rating.sheets import load_sheet

SHEET = """\
id = "flat"
currency = "EUR"
timezone = "Europe/Berlin"
rates = "flat.csv"

[rounding]
decimals = 4
method = "half_up"

[bands.peak]
days = ["mon", "tue", "wed", "thu", "fri"]
from = "08:00"
to = "18:00"
"""
RATES = (
    "prefix,destination,band,rate,unit_s,increments,connect_fee\n"
    "49,Germany,,0.10,60,60/60,\n"
    "4930,Berlin,peak,0.05,60,30/6,0.01\n"
    "4930,Berlin,offpeak,0.02,60,30/6,\n"
    "44,United Kingdom,,0.20,60,1/1,\n"
)
START = datetime(2026, 10, 5, 6, 0, tzinfo=UTC)


@pytest.fixture
def plan(tmp_path: Path) -> RatingPlan:
    (tmp_path / "flat.toml").write_text(SHEET)
    (tmp_path / "flat.csv").write_text(RATES)
    return RatingPlan.from_sheets([load_sheet(tmp_path / "flat.toml")])


def calls(ids: list[str], first_minute: int = 0) -> pl.DataFrame:
    """Canonical calls with the given call_ids, one a minute, cycling destinations."""
    callees = ["+49301234567", "+4940123456", "+442071234567", "+99912345", "+4930999"]
    return pl.DataFrame(
        {
            "call_id": ids,
            "caller": ["+4930111"] * len(ids),
            "callee": [callees[i % len(callees)] for i in range(len(ids))],
            "start": [START + timedelta(minutes=first_minute + i * 7) for i in range(len(ids))],
            "duration": [(i * 37) % 400 for i in range(len(ids))],
        }
    )


def write_inputs(directory: Path) -> list[Path]:
    """Two Parquet files and a CSV file, with duplicates within and across them, a
    corrupt first copy (not a duplicate's original), no-rate numbers and bad rows."""
    first = directory / "a.parquet"
    calls([f"c{i}" for i in range(10)] + ["c3", "x1"]).write_parquet(first)
    second = directory / "b.csv"
    second.write_text(
        "call_id,caller,callee,start,duration\n"
        "c5,+4930111,+4930123,2026-10-05T10:00:00Z,60\n"  # repeats a.parquet's c5
        "bad1,+4930111,+4930123,not a time,60\n"
        "y1,+4930111,+4930123,2026-10-05T10:00:00Z,-5\n"  # rejected: its copy below counts
        "y1,+4930111,+4930123,2026-10-05T10:01:00Z,61\n"
        "x1,+4930111,+4930123,2026-10-05T10:02:00Z,62\n"  # repeats a.parquet's last row
    )
    third = directory / "c.parquet"
    calls([f"d{i}" for i in range(7)] + ["y1", "c9", "d2"], first_minute=3).write_parquet(third)
    return [first, second, third]


def rate(paths: list[Path], plan: RatingPlan, out: Path, slice_rows: int) -> RatingSummary:
    return rate_to_file(
        paths,
        plan,
        out / "rated.parquet",
        rejects_out=out / "rejects.parquet",
        slice_rows=slice_rows,
    )


def outputs(out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    return pl.read_parquet(out / "rated.parquet"), pl.read_parquet(out / "rejects.parquet")


@pytest.mark.parametrize("slice_rows", [1, 2, 3, 5, 8, 13])
def test_slices_give_the_outputs_of_one_pass(
    tmp_path: Path, plan: RatingPlan, slice_rows: int
) -> None:
    paths = write_inputs(tmp_path)
    whole = rate(paths, plan, tmp_path / "whole", slice_rows=10**6)
    sliced = rate(paths, plan, tmp_path / "sliced", slice_rows=slice_rows)
    assert whole.slices == 1
    assert sliced.slices > 1
    rated, rejects = outputs(tmp_path / "whole")
    rated_sliced, rejects_sliced = outputs(tmp_path / "sliced")
    assert rated_sliced.equals(rated)
    assert rejects_sliced.equals(rejects)
    assert (sliced.read, sliced.rated, sliced.rejected) == (whole.read, whole.rated, whole.rejected)
    assert sliced.totals.equals(whole.totals)
    assert sliced.reasons.equals(whole.reasons)


def test_duplicates_across_slices_are_rejected_once(tmp_path: Path, plan: RatingPlan) -> None:
    paths = write_inputs(tmp_path)
    summary = rate(paths, plan, tmp_path, slice_rows=2)
    rated, rejects = outputs(tmp_path)
    duplicates = rejects.filter(pl.col("reason") == "duplicate")
    # c3 (a.parquet line 11), c5 and x1 (b.csv), y1, c9 and d2 (c.parquet).
    assert sorted(duplicates.get_column("call_id").to_list()) == [
        "c3",
        "c5",
        "c9",
        "d2",
        "x1",
        "y1",
    ]
    # The good y1 of b.csv line 5 is rated: its corrupt copy on line 4 does not count.
    rated_y1 = rated.filter(pl.col("call_id") == "y1")
    assert rated_y1.height == 1
    assert rated_y1.get_column("duration_s").cast(pl.Float64).item() == 61
    assert rated.get_column("call_id").is_unique().all()
    assert summary.read == 12 + 5 + 10
    assert summary.read == summary.rated + summary.rejected
    assert rejects.get_column("raw").null_count() == 0


def test_parquet_files_are_cut_and_small_files_grouped(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path)
    layout = [len(pieces) for pieces in input_slices(paths, slice_rows=5)]
    # a.parquet (12 rows) in slices of 5, 5 and 2; b.csv (~300 bytes, about 3 rows)
    # joins the last of them; c.parquet (10 rows) in two slices.
    assert layout == [1, 1, 2, 1, 1]
    assert len(input_slices(paths, slice_rows=100)) == 1


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(st.sampled_from([f"k{i}" for i in range(12)]), min_size=1, max_size=40),
    slice_rows=st.integers(min_value=1, max_value=12),
)
def test_any_slicing_finds_the_same_duplicates(
    tmp_path_factory: pytest.TempPathFactory, plan: RatingPlan, ids: list[str], slice_rows: int
) -> None:
    directory = tmp_path_factory.mktemp("ids")
    source = directory / "calls.parquet"
    calls(ids).write_parquet(source)
    whole = rate([source], plan, directory / "whole", slice_rows=10**6)
    sliced = rate([source], plan, directory / "sliced", slice_rows=slice_rows)
    assert outputs(directory / "sliced")[0].equals(outputs(directory / "whole")[0])
    assert outputs(directory / "sliced")[1].equals(outputs(directory / "whole")[1])
    assert (
        sliced.rated
        == whole.rated
        == len(set(ids)) - sum(1 for i in set(ids) if _callee_of_first(ids, i) == "+99912345")
    )


def _callee_of_first(ids: list[str], call_id: str) -> str:
    callees = ["+49301234567", "+4940123456", "+442071234567", "+99912345", "+4930999"]
    return callees[ids.index(call_id) % len(callees)]


def test_csv_outputs_match_across_slices(tmp_path: Path, plan: RatingPlan) -> None:
    paths = write_inputs(tmp_path)
    for name, slice_rows in (("whole", 10**6), ("sliced", 3)):
        rate_to_file(
            paths,
            plan,
            tmp_path / name / "rated.csv",
            rejects_out=tmp_path / name / "rejects.csv",
            slice_rows=slice_rows,
        )
    for output in ("rated.csv", "rejects.csv"):
        whole = (tmp_path / "whole" / output).read_text()
        assert (tmp_path / "sliced" / output).read_text() == whole
        assert whole.count("\n") > 5
    header = (tmp_path / "sliced" / "rated.csv").read_text().splitlines()[0]
    assert header.startswith("call_id,")
    assert (tmp_path / "sliced" / "rated.csv").read_text().count("call_id,") == 1


def test_rate_command_streams_large_inputs(
    tmp_path: Path, plan: RatingPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "flat.toml").write_text(SHEET)
    paths = write_inputs(tmp_path)
    monkeypatch.setattr(pipeline, "SLICE_ROWS", 4)
    result = CliRunner().invoke(
        app,
        [
            "rate",
            *map(str, paths),
            "--sheet",
            str(tmp_path / "flat.toml"),
            "--out",
            str(tmp_path / "out.parquet"),
            "--rejects",
            str(tmp_path / "rej.parquet"),
        ],
    )
    assert result.exit_code == 0, result.output
    rated = pl.read_parquet(tmp_path / "out.parquet")
    rejects = pl.read_parquet(tmp_path / "rej.parquet")
    assert f"read 27 = rated {rated.height} + rejected {rejects.height}" in result.output
    assert rated.height + rejects.height == 27
    assert not list(tmp_path.glob(".*tmp*"))
