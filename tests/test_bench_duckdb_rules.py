"""The DuckDB SQL baseline (benchmarks/duckdb_rating.sql) prices hand-made calls exactly
as the engine does: one call for each rule the benchmark sheet relies on, plus rejects.

The per-call Python baseline is held to the same result, so the three raters of
``bench_baselines.py`` are known to agree before any of them is timed.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from sheetfactory import WEEKDAYS, BandWindow, SheetSpec, row, write_sheet

pytest.importorskip("duckdb")

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def baselines(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("bench_baselines")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sheet_spec(method: str = "half_up", decimals: int = 4) -> SheetSpec:
    return SheetSpec(
        sheet_id="duck",
        timezone="Europe/Berlin",
        grace_s=3,
        holidays=["2026-10-14"],
        holiday_band="weekend",
        decimals=decimals,
        method=method,
        bands={
            "peak": [BandWindow(WEEKDAYS, "08:00", "18:00")],
            # Sunday from 02:30: the clocks go back on 2026-10-25 at 03:00, so that
            # night 02:29 comes twice and so does the change to this band.
            "weekend": [BandWindow(["sat"]), BandWindow(["sun"], "02:30", "24:00")],
        },
        rows=[
            # nested prefixes; 4915 has its own peak row besides the all-bands one
            row("49", "0.10", increments="60/60", destination="Germany"),
            row("4915", "0.30", band="peak", increments="30/6"),
            row("4915", "0.20", increments="30/6"),
            row("49151", "0.40", increments="1/1"),
            # a longer prefix priced for peak only: other bands fall back to 49
            row("4930", "0.05", band="peak"),
            # a longer prefix that is not yet in force before the 20th
            row("4989", "0.90", effective_from="2026-10-20"),
            # tiered with a connect fee (ARCHITECTURE.md 5.2: d = 120 costs 0.7)
            row("33", "0.2", from_s=0, increment_s=60, connect_fee="0.4"),
            row("33", "0.1", from_s=60, increment_s=1),
            # capped
            row("44", "1.00", connect_fee="0.05", max_cost="0.50"),
            # a price change at local midnight of the 15th
            row("43", "0.10", effective_to="2026-10-15"),
            row("43", "0.20", effective_from="2026-10-15"),
            # per second, many decimals; an exact half in the last places
            row("41", "0.0012345", unit_s=1),
            row("36", "0.125", increments="60/60"),
            row("+39", "0.0123", increments="30/6"),
        ],
    )


CALLS = [
    # call_id, callee, start (UTC), duration, disposition
    ("nested-peak", "+4915234567", "2026-10-12T08:00:00", 31, "ANSWERED"),
    ("nested-offpeak", "+4915234567", "2026-10-12T16:00:00", 31, "ANSWERED"),
    ("nested-longest", "+49151234567", "2026-10-12T08:00:00", 61, "ANSWERED"),
    ("peak-only-before", "004930123456", "2026-10-12T05:59:59", 10, "ANSWERED"),
    ("peak-only-at", "0049 (0)30 123-456", "2026-10-12T06:00:00", 10, ""),
    ("peak-end", "+4915234567", "2026-10-12T15:59:59", 40, "ANSWERED"),
    ("after-peak", "+4915234567", "2026-10-12T16:00:00", 40, "ANSWERED"),
    ("holiday-peak-hours", "+4915234567", "2026-10-14T09:00:00", 40, "ANSWERED"),
    ("not-yet", "+49891234", "2026-10-19T21:59:59", 60, "ANSWERED"),
    ("in-force", "+49891234", "2026-10-19T22:00:00", 60, "ANSWERED"),
    ("increments-up", "+4930123", "2026-10-17T12:00:00", 61, "ANSWERED"),
    ("tiered", "+33123456", "2026-10-12T12:00:00", 120, "ANSWERED"),
    ("tiered-short", "+33123456", "2026-10-12T12:00:00", 59, "ANSWERED"),
    ("capped", "+44123456", "2026-10-12T12:00:00", 3600, "ANSWERED"),
    ("under-cap", "+44123456", "2026-10-12T12:00:00", 20, "ANSWERED"),
    ("old-price", "+43123456", "2026-10-14T21:59:59", 90, "ANSWERED"),
    ("new-price", "+43123456", "2026-10-14T22:00:00", 90, "ANSWERED"),
    ("per-second", "+41123456", "2026-10-12T12:00:00", 7, "ANSWERED"),
    ("half", "+36123456", "2026-10-12T12:00:00", 60, "ANSWERED"),
    ("thirty-six", "+39123456", "2026-10-12T12:00:00", 37, "ANSWERED"),
    # 2026-10-25, Sunday: 00:29Z = 02:29 CEST, 00:30Z = 02:30 CEST,
    # 01:29Z = 02:29 CET (offpeak again), 01:30Z = 02:30 CET
    ("dst-0229-cest", "+4915234567", "2026-10-25T00:29:59", 40, "ANSWERED"),
    ("dst-0230-cest", "+4915234567", "2026-10-25T00:30:00", 40, "ANSWERED"),
    ("dst-0229-cet", "+4915234567", "2026-10-25T01:29:59", 40, "ANSWERED"),
    ("dst-0230-cet", "+4915234567", "2026-10-25T01:30:00", 40, "ANSWERED"),
    ("grace", "+4930123", "2026-10-12T12:00:00", 3, "ANSWERED"),
    ("past-grace", "+4930123", "2026-10-12T12:00:00", 4, "ANSWERED"),
    ("unanswered", "+4915234567", "2026-10-12T12:00:00", 30, "NO ANSWER"),
    ("unanswered-fee", "+33123456", "2026-10-12T12:00:00", 30, "NO ANSWER"),
    ("grace-fee", "+44123456", "2026-10-12T12:00:00", 2, "ANSWERED"),
    ("no-rate", "+99912345", "2026-10-12T12:00:00", 30, "ANSWERED"),
    ("no-rate-unanswered", "+99912345", "2026-10-12T12:00:00", 0, "BUSY"),
    ("bad-number", "*21#", "2026-10-12T12:00:00", 30, "ANSWERED"),
    ("bad-duration", "+4930123", "2026-10-12T12:00:00", -5, "ANSWERED"),
    ("bad-time", "+4930123", None, 30, "ANSWERED"),
    ("", "+4930123", "2026-10-12T12:00:00", 30, "ANSWERED"),
    # re-delivered: the first copy wins, whatever the later ones say
    ("tiered", "+33123456", "2026-10-12T12:00:00", 999, "ANSWERED"),
    ("no-rate", "+4930123", "2026-10-12T12:00:00", 30, "ANSWERED"),
    # a corrupt first copy does not hide the good one after it
    ("late-good", "*bad", "2026-10-12T12:00:00", 30, "ANSWERED"),
    ("late-good", "+4930123", "2026-10-12T12:00:00", 30, "ANSWERED"),
]


def write_calls(path: Path) -> Path:
    frame = pl.DataFrame(
        [
            (call_id, "A1", "+4930111", callee, start and utc(start), duration, disposition)
            for call_id, callee, start, duration, disposition in CALLS
        ],
        schema={
            "call_id": pl.String,
            "account": pl.String,
            "caller": pl.String,
            "callee": pl.String,
            "start": pl.Datetime("us", "UTC"),
            "duration": pl.Int64,
            "disposition": pl.String,
        },
        orient="row",
    )
    frame.write_parquet(path)
    return path


@pytest.mark.parametrize(
    ("method", "decimals"), [("half_up", 4), ("half_even", 2), ("up", 4), ("down", 3)]
)
def test_duckdb_and_per_call_price_every_rule_as_the_engine(
    baselines: ModuleType, tmp_path: Path, method: str, decimals: int
) -> None:
    sheet = write_sheet(tmp_path, sheet_spec(method, decimals))
    calls = write_calls(tmp_path / "calls.parquet")

    engine = baselines.engine_outcome([calls], sheet)
    duckdb = baselines.duckdb_outcome([calls], sheet)
    per_call = baselines.per_call_outcome([calls], sheet)

    assert baselines.differences(engine, duckdb, "duckdb") == []
    assert baselines.differences(engine, per_call, "per-call") == []
    assert duckdb == engine
    # The calls exercise what they are named after (the engine is the oracle).
    rejects = {(call_id, reason) for _, call_id, reason in engine.rejects}
    assert rejects == {
        ("no-rate", "no_rate"),
        ("no-rate-unanswered", "no_rate"),
        ("bad-number", "bad_number"),
        ("bad-duration", "bad_duration"),
        ("bad-time", "bad_time"),
        (None, "parse_error"),
        ("tiered", "duplicate"),
        ("no-rate", "duplicate"),
        ("late-good", "bad_number"),
    }
    rated = {call_id: (prefix, band) for call_id, (_, _, prefix, band) in engine.rated.items()}
    assert rated["nested-peak"] == ("4915", "peak")
    assert rated["nested-offpeak"] == ("4915", "offpeak")
    assert rated["nested-longest"] == ("49151", "peak")
    assert rated["peak-only-before"] == ("49", "offpeak")
    assert rated["peak-only-at"] == ("4930", "peak")
    assert rated["peak-end"][1] == "peak"
    assert rated["after-peak"][1] == "offpeak"
    assert rated["holiday-peak-hours"] == ("4915", "weekend")
    assert rated["not-yet"][0] == "49"
    assert rated["in-force"][0] == "4989"
    assert [rated[f"dst-{c}"][1] for c in ("0229-cest", "0230-cest", "0229-cet", "0230-cet")] == [
        "offpeak",
        "weekend",
        "offpeak",
        "weekend",
    ]
    assert rated["late-good"] == ("4930", "peak")


def test_duckdb_charges_match_the_worked_examples(baselines: ModuleType, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path, sheet_spec("up", 4))
    calls = write_calls(tmp_path / "calls.parquet")

    rated = baselines.duckdb_outcome([calls], sheet).rated

    def charge(call_id: str) -> Decimal:
        value: Decimal = rated[call_id][0]
        return value

    assert rated["tiered"][:2] == (Decimal("0.7"), 120)  # 0.4 + 0.2 + 0.1, the first copy
    assert rated["tiered-short"][:2] == (Decimal("0.6"), 60)
    assert rated["capped"][:2] == (Decimal("0.50"), 3600)
    assert charge("under-cap") == Decimal("0.3834")  # 0.05 + 20 / 60, rounded up
    assert rated["increments-up"][:2] == (Decimal("0.2"), 120)  # two whole minutes of 0.10
    assert rated["thirty-six"][1] == 42  # 30/6: 37 s bill 42
    assert charge("old-price") == Decimal("0.15")
    assert charge("new-price") == Decimal("0.30")
    assert charge("per-second") == Decimal("0.0087")  # 0.0086415 rounded up
    assert rated["grace"][:2] == (Decimal(0), 0)
    assert rated["unanswered"][:2] == (Decimal(0), 0)
    assert rated["unanswered-fee"][:2] == (Decimal(0), 0)  # no connect fee either
    assert rated["grace-fee"][:2] == (Decimal(0), 0)
    assert rated["past-grace"][1] == 4


def test_duckdb_refuses_split_mode(baselines: ModuleType, tmp_path: Path) -> None:
    spec = sheet_spec()
    spec.band_mode = "split"
    sheet = write_sheet(tmp_path, spec)
    calls = write_calls(tmp_path / "calls.parquet")

    with pytest.raises(ValueError, match="band_mode"):
        baselines.duckdb_outcome([calls], sheet)


def test_a_disagreement_names_the_calls(baselines: ModuleType) -> None:
    outcome = baselines.Outcome
    engine = outcome(
        rated={"a": (Decimal("0.1"), 60, "49", "peak"), "b": (Decimal(0), 0, "49", "peak")},
        rejects={(3, "c", "no_rate")},
    )
    other = outcome(
        rated={"a": (Decimal("0.1000"), 60, "49", "peak"), "b": (Decimal("0.01"), 0, "49", "peak")},
        rejects={(3, "c", "duplicate")},
    )

    found = baselines.differences(engine, other, "duckdb")

    assert len(found) == 3
    assert found[0].startswith("b: engine")
    assert any("only engine rejects it as no_rate" in line for line in found)
