"""Month stages in slices: the nightly run in groups of files, closing and re-rating in
slices of accounts, each ending exactly as one pass over everything would."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cdr_rating.jobs import month, nightly
from cdr_rating.jobs.close import accounts_by_bucket
from cdr_rating.jobs.rerate import rerate_and_apply, rerate_period
from cdr_rating.ledger import Ledger
from nightly import (
    NOVEMBER,
    ROOT,
    make_workspace,
    run_here,
    sample_rows,
    settings_for,
    store_state,
    write_cdrs,
)
from test_invoices import PERIOD, invoice_state, make_billing_workspace


def test_accounts_fall_in_exactly_one_bucket() -> None:
    accounts = [f"A{i:04d}" for i in range(500)]
    for buckets in (1, 2, 3, 7):
        found = accounts_by_bucket(accounts, buckets)
        assert sorted(name for names in found.values() for name in names) == accounts
        assert set(found) == set(range(buckets))
    forwards = accounts_by_bucket(accounts, 7)
    backwards = accounts_by_bucket(list(reversed(accounts)), 7)
    assert {k: sorted(v) for k, v in forwards.items()} == {
        k: sorted(v) for k, v in backwards.items()
    }


def one_pass_and_sliced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The store after one run over the inbox, and after the same run a file at a time
    (a duplicate across files included)."""
    config = make_workspace(tmp_path / "ws")
    _, rows = sample_rows()
    write_cdrs(tmp_path / "ws" / "inbox" / "2026-10-01-c.csv", [rows[3], rows[50], NOVEMBER])
    one = tmp_path / "one"
    report_one = run_here(config, one)
    monkeypatch.setattr(nightly, "SLICE_ROWS", 1)  # every file is a slice of its own
    sliced = tmp_path / "sliced"
    report_sliced = run_here(config, sliced)
    assert report_sliced.read == report_one.read
    assert report_sliced.rejected_by_reason == report_one.rejected_by_reason
    assert report_sliced.totals == report_one.totals
    return store_state(one), store_state(sliced)


def test_a_run_in_slices_stores_what_one_pass_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, sliced = one_pass_and_sliced(tmp_path, monkeypatch)
    assert sliced["ledger"] == one["ledger"]
    rated = {path for path in one["files"] if path.startswith("rated/")}
    assert {path: one["files"][path] for path in rated} == {
        path: sliced["files"][path] for path in rated
    }


def test_file_groups_never_cut_a_file(tmp_path: Path) -> None:
    files = []
    for name, size in (("a", 500), ("b", 50_000), ("c", 300), ("d", 300)):
        path = tmp_path / f"{name}.csv"
        path.write_bytes(b"x" * size)
        files.append(nightly.InboxFile(path, path.name, size, 0))
    groups = nightly.file_groups(files, slice_rows=10)
    assert [[file.name for file in group] for group in groups] == [
        ["a.csv"],
        ["b.csv"],
        ["c.csv", "d.csv"],
    ]


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A closed month, closed in one slice."""
    folder = tmp_path_factory.mktemp("billed")
    config = make_billing_workspace(folder / "work")
    run_here(config, period=PERIOD, close=True)
    return config, folder / "work" / "var"


def test_closing_in_slices_issues_the_same_invoices(
    billed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, data_dir = billed
    config_copy = tmp_path / "work"
    shutil.copytree(config.parent, config_copy, ignore=shutil.ignore_patterns("var"))
    monkeypatch.setattr(month, "SLICE_CALLS", 7)  # dozens of slices of accounts
    run_here(config_copy / config.name, period=PERIOD, close=True)
    sliced = invoice_state(config_copy / "var")
    one = invoice_state(data_dir)
    assert sliced["lines"] == one["lines"]
    assert [row[:-1] for row in sliced["invoices"]] == [row[:-1] for row in one["invoices"]]
    assert sliced["sequences"] == one["sequences"]


def corrected_sheets(folder: Path) -> Path:
    """The sample sheets with the German fixed peak rate lowered: calls change."""
    sheets = folder / "sheets"
    shutil.copytree(ROOT / "rate_sheets", sheets)
    rates = sheets / "retail-eu.csv"
    rates.write_text(
        rates.read_text(encoding="utf-8").replace("0.0190", "0.0170"), encoding="utf-8"
    )
    return sheets


def test_rerating_in_slices_finds_the_same_changes(
    billed: tuple[Path, Path], tmp_path: Path
) -> None:
    config, data_dir = billed
    sheets = corrected_sheets(tmp_path)
    settings = settings_for(config, data_dir)
    with Ledger.snapshot(data_dir / "ledger.sqlite") as ledger:
        whole = rerate_period(settings, ledger, PERIOD, sheets_dir=sheets)
        # Dozens of slices (the month bucketed once into a spill folder), and three
        # (each slice scanning the store for its accounts).
        for slice_calls, slices in ((5, month.SPILL_FROM_SLICES), (whole.calls // 3 + 1, 3)):
            sliced = rerate_period(
                settings, ledger, PERIOD, sheets_dir=sheets, slice_calls=slice_calls
            )
            assert sliced.slices >= slices
            assert sliced.changes.equals(whole.changes)
            assert [c.as_dict() for c in sliced.accounts] == [c.as_dict() for c in whole.accounts]
    assert whole.slices == 1
    assert not whole.changes.is_empty()


def test_applying_in_slices_writes_the_same_store_and_notes(
    billed: tuple[Path, Path], tmp_path: Path
) -> None:
    config, data_dir = billed
    sheets = corrected_sheets(tmp_path)
    found = {}
    for name, slice_calls in (("whole", None), ("sliced", 5)):
        copy = tmp_path / name
        shutil.copytree(data_dir, copy)
        settings = settings_for(config, copy)
        with Ledger.open(copy / "ledger.sqlite") as ledger:
            result, applied = rerate_and_apply(
                settings, ledger, PERIOD, "fix", sheets_dir=sheets, slice_calls=slice_calls
            )
        rated = pl.concat(
            [pl.read_parquet(path) for path in sorted((copy / "rated").rglob("*.parquet"))]
        ).sort("call_id")
        found[name] = (len(applied.notes), result.changes.height, rated)
    assert found["sliced"][:2] == found["whole"][:2]
    assert found["whole"][0] > 0
    assert found["sliced"][2].equals(found["whole"][2])


SLICED_RUN = """
import sys
from pathlib import Path
from cdr_rating.jobs import month, nightly
from nightly import run_here
nightly.SLICE_ROWS = 1  # every inbox file a slice of its own
month.SLICE_CALLS = 7  # closing in slices of a few accounts
run_here(Path(sys.argv[1]), Path(sys.argv[2]), period="2026-10", close=True)
"""


@pytest.mark.parametrize(
    "kill_at",
    [
        "partition-written#2",  # in the second slice of the inbox
        "partitions-written",
        "ledger-in-transaction",
        "appendix-written",  # every slice of the close billed, nothing saved yet
        "drafts-in-transaction",
        "finalise-in-transaction",
    ],
)
def test_a_sliced_run_and_close_killed_anywhere_ends_as_one_pass(
    billed: tuple[Path, Path], tmp_path: Path, kill_at: str
) -> None:
    """Killed inside a sliced run or close, the next (unsliced) run ends exactly as the
    uninterrupted one-pass run of the fixture."""
    config, reference = billed
    data_dir = tmp_path / "var"
    killed = subprocess.run(
        [sys.executable, "-c", SLICED_RUN, str(config), str(data_dir)],
        env={
            **os.environ,
            "CDR_RATING_TEST_KILL_AT": kill_at,
            "PYTHONPATH": str(Path(__file__).parent),
        },
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_here(config, data_dir, period=PERIOD, close=True)
    again, one = invoice_state(data_dir), invoice_state(reference)
    assert [row[:-1] for row in again["invoices"]] == [row[:-1] for row in one["invoices"]]
    assert again["lines"] == one["lines"]
    assert again["sequences"] == one["sequences"]
    assert (
        store_state(data_dir)["ledger"]["partitions"]
        == store_state(reference)["ledger"]["partitions"]
    )
