"""The nightly run's steps, each alone: what it takes and what it returns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl

from cdr_rating.jobs.nightly import StoredPiece, count, move_stored_and_closed, scan_inbox
from cdr_rating.ledger import Ledger
from cdr_rating.rating import RatingPlan
from cdr_rating.sheets import load_sheet
from cdr_rating.store import Piece
from nightly import ROOT, make_workspace, run_here, settings_for


def rated_calls() -> pl.DataFrame:
    start = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)
    return pl.DataFrame(
        {
            "call_id": ["a", "b", "c"],
            "_period": ["2026-09", "2026-10", "2026-10"],
            "start": [start] * 3,
        }
    )


def test_move_stored_and_closed_splits_off_duplicates_and_closed_periods() -> None:
    stored = pl.DataFrame(
        {
            "_row": [2],
            "_stored_in": ["rated/period=2026-10/x.parquet"],
            "_stored_period": ["2026-10"],
        },
        schema={"_row": pl.UInt32, "_stored_in": pl.String, "_stored_period": pl.String},
    )
    kept, moved = move_stored_and_closed(rated_calls(), stored, {"2026-09"})

    assert kept.get_column("call_id").to_list() == ["b"]
    assert moved.select("call_id", "_reason").rows() == [
        ("a", "closed_period"),
        ("c", "duplicate"),
    ]
    assert "already stored for period 2026-10 (rated/period=2026-10/x.parquet)" in moved.item(
        1, "_detail"
    )


def test_nothing_to_move_keeps_every_call() -> None:
    none = pl.DataFrame(
        schema={"_row": pl.UInt32, "_stored_in": pl.String, "_stored_period": pl.String}
    )
    kept, moved = move_stored_and_closed(rated_calls(), none, set())
    assert kept.height == 3
    assert moved.is_empty()


def test_count_reconciles_pieces_and_sums_totals_exactly() -> None:
    sheet = load_sheet(ROOT / "rate_sheets" / "retail-eu.toml")
    plan = RatingPlan.from_sheets([sheet])
    rated = pl.DataFrame(
        {
            "currency": [sheet.currency] * 3,
            "billable_s": [60, 30, 0],
            "charge": [Decimal("0.1000"), Decimal("0.0500"), Decimal(0)],
        }
    )
    rejects = pl.DataFrame({"reason": ["duplicate", "no_rate", "duplicate"]})
    pieces = [
        StoredPiece.of(Piece("rated", "f" * 64, "2026-10", rated)),
        StoredPiece.of(Piece("rejects", "f" * 64, "2026-10", rejects)),
    ]
    found = count(pieces, plan, duplicates_stored=1)

    assert (found.read, found.rated, found.rejected) == (6, 3, 3)
    assert found.rejected_by_reason == {"duplicate": 2, "no_rate": 1}
    assert found.duplicates_in_input == 1
    assert found.periods == ["2026-10"]
    assert found.totals[sheet.currency].calls == 3
    assert found.totals[sheet.currency].billable_s == 90
    assert Decimal(found.totals[sheet.currency].charge) == Decimal("0.15")


def test_scan_inbox_skips_what_was_ingested_and_repeats(tmp_path: Path) -> None:
    config = make_workspace(tmp_path)
    inbox = tmp_path / "inbox"
    first = sorted(inbox.glob("*.csv"))[0]
    (inbox / "copy-of-first.csv").write_bytes(first.read_bytes())
    settings = settings_for(config)
    with Ledger.snapshot(tmp_path / "var" / "ledger.sqlite") as ledger:
        new, skipped = scan_inbox(settings, ledger, lambda *_: None)
    assert [file.name for file in new] == ["2026-10-01-a.csv", "2026-10-01-b.csv"]
    assert [(s.name, s.why) for s in skipped] == [
        ("copy-of-first.csv", "same content as 2026-10-01-a.csv in this run")
    ]

    run_here(config)
    with Ledger.snapshot(tmp_path / "var" / "ledger.sqlite") as ledger:
        new, skipped = scan_inbox(settings, ledger, lambda *_: None)
    assert new == []
    assert len(skipped) == 3
