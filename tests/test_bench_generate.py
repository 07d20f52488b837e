"""benchmarks/generate.py: deterministic data, re-delivered duplicates, parts, and an
Asterisk version of the traffic that rates exactly like the Parquet version."""

from __future__ import annotations

import csv
import importlib
import io
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
PREFIXES = 300
ACCOUNTS = 50
CALLS = 3_000
PART_CALLS = 1_000


@pytest.fixture
def generate(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("generate")


def write_parts(generate: ModuleType, out: Path, seed: int = 1, asterisk: bool = True) -> Any:
    return generate.generate(
        out,
        CALLS,
        prefixes=PREFIXES,
        seed=seed,
        accounts=ACCOUNTS,
        asterisk=asterisk,
        csv=True,
        part_calls=PART_CALLS,
    )


def copies(frame: pl.DataFrame) -> pl.Expr:
    """Rows that repeat the whole row before them (re-deliveries)."""
    return pl.all_horizontal(pl.col(name) == pl.col(name).shift(1) for name in frame.columns)


def test_same_seed_gives_the_same_bytes(generate: ModuleType, tmp_path: Path) -> None:
    first = write_parts(generate, tmp_path / "a")
    again = write_parts(generate, tmp_path / "b")
    other = write_parts(generate, tmp_path / "c", seed=2, asterisk=False)

    names = sorted(path.name for path in (tmp_path / "a").iterdir())
    assert names == sorted(path.name for path in (tmp_path / "b").iterdir())
    assert len(names) == 2 + 3 * 3  # sheet TOML + CSV; per part Parquet, CSV, Asterisk
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    for mine, theirs in zip(first.parts, other.parts, strict=True):
        assert not pl.read_parquet(mine).equals(pl.read_parquet(theirs))
    assert again.parts == tuple(tmp_path / "b" / path.name for path in first.parts)


def test_only_missing_files_are_written(generate: ModuleType, tmp_path: Path) -> None:
    dataset = write_parts(generate, tmp_path, asterisk=False)
    last = dataset.parts[2].read_bytes()
    dataset.parts[1].write_bytes(b"kept")
    dataset.parts[2].unlink()
    write_parts(generate, tmp_path, asterisk=False)

    assert dataset.parts[1].read_bytes() == b"kept"
    assert dataset.parts[2].read_bytes() == last
    assert not list(tmp_path.glob(".*"))  # no partial files left behind


def test_names_of_one_part_and_of_several(generate: ModuleType, tmp_path: Path) -> None:
    single = generate.dataset_paths(tmp_path, 1_000_000, asterisk=True)
    assert single.cdrs == single.parts[0] == tmp_path / "cdrs-1000000-a10000-p12000-s1.parquet"
    assert single.asterisk == (tmp_path / "cdrs-1000000-a10000-p12000-s1-asterisk.csv",)
    assert single.sheet == tmp_path / "bench-p12000-s1.toml"
    assert generate.dataset_paths(tmp_path, 10).asterisk == ()

    many = generate.dataset_paths(tmp_path, 100_000_000, asterisk=True)
    assert [path.name for path in many.parts[:2]] == [
        "cdrs-100000000-a10000-p12000-s1-part01.parquet",
        "cdrs-100000000-a10000-p12000-s1-part02.parquet",
    ]
    assert len(many.parts) == len(many.asterisk) == 10
    assert many.asterisk[-1].name == "cdrs-100000000-a10000-p12000-s1-part10-asterisk.csv"
    with pytest.raises(ValueError, match=r"use Dataset\.parts"):
        _ = many.cdrs
    small = generate.dataset_paths(tmp_path, 2_500, part_calls=1_000)
    assert small.parts[-1].name == "cdrs-2500-a10000-p12000-s1-by1000-part03.parquet"


def test_redelivered_rows_copy_the_row_before(generate: ModuleType) -> None:
    sheet = generate.build_sheet(PREFIXES, seed=7)
    calls = 20_000
    plain = generate.build_cdrs(calls, sheet, seed=7, accounts=ACCOUNTS, duplicate_share=0)
    with_copies = generate.build_cdrs(calls, sheet, seed=7, accounts=ACCOUNTS).collect()
    plain = plain.collect()

    copied = with_copies.select(copies(with_copies)).to_series().fill_null(False)
    assert with_copies.height == calls
    assert 0.006 < copied.mean() < 0.014
    assert not (copied & copied.shift(1, fill_value=False)).any()  # never three times
    # Copies are the only rows that differ, and the only repeated call_ids.
    differ = plain.select(
        pl.any_horizontal(pl.col(name) != with_copies[name] for name in plain.columns)
    ).to_series()
    assert differ.equals(copied, check_names=False)
    assert with_copies["call_id"].is_duplicated().sum() == 2 * copied.sum()
    assert with_copies["start"].is_sorted()


def test_parts_are_sorted_with_distinct_call_ids(generate: ModuleType, tmp_path: Path) -> None:
    dataset = write_parts(generate, tmp_path, asterisk=False)
    parts = [pl.read_parquet(path) for path in dataset.parts]

    assert [part.height for part in parts] == [PART_CALLS] * 3
    assert all(part["start"].is_sorted() for part in parts)
    everything = pl.concat(parts)
    resent = sum(part.select(copies(part)).to_series().fill_null(False).sum() for part in parts)
    assert resent > 0
    assert everything["call_id"].n_unique() == CALLS - resent
    # The first part is what a dataset of that size holds on its own.
    alone = generate.generate(tmp_path / "alone", PART_CALLS, prefixes=PREFIXES, accounts=ACCOUNTS)
    assert pl.read_parquet(alone.cdrs).equals(parts[0])


def rate(paths: tuple[Path, ...], sheet: Path, fmt: str, out: Path) -> Any:
    from cdr_rating.pipeline import rate_to_file
    from cdr_rating.rating import RatingPlan
    from cdr_rating.sheets import load_sheet

    plan = RatingPlan.from_sheets([load_sheet(sheet)])
    return rate_to_file(list(paths), plan, out, fmt=fmt, slice_rows=PART_CALLS)


def test_asterisk_version_rates_like_the_parquet_version(
    generate: ModuleType, tmp_path: Path
) -> None:
    from cdr_rating.cdrs.inputs import detect_format

    dataset = write_parts(generate, tmp_path)
    assert all(detect_format(path) == "asterisk" for path in dataset.asterisk)
    parquet = rate(dataset.parts, dataset.sheet, "canonical", tmp_path / "parquet.parquet")
    asterisk = rate(dataset.asterisk, dataset.sheet, "asterisk", tmp_path / "asterisk.parquet")

    reasons = dict(parquet.reasons.iter_rows())
    assert set(reasons) == {"no_rate", "duplicate"}
    resent = sum(
        part.select(copies(part)).to_series().fill_null(False).sum()
        for part in map(pl.read_parquet, dataset.parts)
    )
    assert reasons["duplicate"] == resent
    assert parquet.read == asterisk.read == CALLS
    assert parquet.rated == asterisk.rated
    assert parquet.reasons.sort("reason").equals(asterisk.reasons.sort("reason"))
    assert parquet.totals.equals(asterisk.totals)
    key = ["account", "start", "callee", "duration_s", "billable_s", "prefix", "band", "charge"]
    from_parquet = pl.read_parquet(tmp_path / "parquet.parquet").select(key).sort(key)
    from_asterisk = pl.read_parquet(tmp_path / "asterisk.parquet").select(key).sort(key)
    assert from_parquet.equals(from_asterisk)


def test_asterisk_lines_look_like_asterisk(generate: ModuleType, tmp_path: Path) -> None:
    dataset = write_parts(generate, tmp_path)
    text = dataset.asterisk[0].read_text()
    calls = pl.read_parquet(dataset.parts[0])
    rows = list(csv.reader(io.StringIO(text)))

    assert len(rows) == calls.height
    assert {len(row) for row in rows} == {18}
    # Text quoted (quotes in the clid doubled), numbers and an empty answer time not.
    when = r'"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"'
    answered = re.compile(
        rf',"""A\d{{5}}"" <\+4930\d+>",.*,{when},{when},{when},\d+,\d+,"ANSWERED",'
    )
    unanswered = re.compile(rf',{when},,{when},\d+,0,"NO ANSWER",')
    lines = text.splitlines()
    assert sum(bool(answered.search(line)) for line in lines) == (calls["duration"] > 0).sum()
    assert sum(bool(unanswered.search(line)) for line in lines) == (calls["duration"] == 0).sum()
    assert all(int(row[12]) > int(row[13]) for row in rows)  # it rang before the answer
    # Row k is call k of the Parquet part: the uniqueid ends in the call's number.
    numbers = [int(row[16].split(".")[1]) for row in rows]
    assert numbers == [int(call_id.split("-")[1]) for call_id in calls["call_id"]]
