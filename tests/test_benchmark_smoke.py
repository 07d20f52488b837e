"""The benchmark generator and bench_rate.py still run (on a tiny input, in seconds)."""

from __future__ import annotations

import importlib
import math
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
CALLS = 2_000
PREFIXES = 200


@pytest.fixture
def benchmarks(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("generate"), importlib.import_module("bench_rate")


def test_generated_sheet_is_valid_and_nested(
    benchmarks: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    from cdr_rating.sheets import load_sheet

    generate, _ = benchmarks
    sheet = generate.build_sheet(PREFIXES, seed=7)
    toml_path = generate.write_sheet(sheet, tmp_path / "sheet.toml")

    loaded = load_sheet(toml_path)

    assert loaded.id == "bench"
    prefixes = set(sheet.rates["prefix"].to_list())
    assert len(prefixes) == PREFIXES
    nested = [p for p in prefixes if any(p[:k] in prefixes for k in range(1, len(p)))]
    assert len(nested) > PREFIXES // 2
    rates = sheet.rates
    assert rates["effective_to"].is_not_null().any()
    assert set(rates["band"].drop_nulls()) == {"peak", "offpeak", "weekend"}
    assert (rates["from_s"] == "60").any()


def test_generated_cdrs_are_deterministic_and_shaped(
    benchmarks: tuple[ModuleType, ModuleType],
) -> None:
    generate, _ = benchmarks
    sheet = generate.build_sheet(PREFIXES, seed=7)

    first = generate.build_cdrs(CALLS, sheet, seed=7, accounts=50).collect()
    again = generate.build_cdrs(CALLS, sheet, seed=7, accounts=50).collect()
    other = generate.build_cdrs(CALLS, sheet, seed=8, accounts=50).collect()

    assert first.equals(again)
    assert not first.equals(other)
    assert first.columns == [
        "call_id",
        "account",
        "caller",
        "callee",
        "start",
        "duration",
        "disposition",
    ]
    # A repeated call_id is a re-delivered row: the whole row repeats.
    assert first.height == CALLS
    assert first["call_id"].n_unique() == first.unique().height < CALLS
    local = first["start"].dt.convert_time_zone(generate.SHEET_TIMEZONE)
    assert local.min() >= datetime(2026, 10, 1, tzinfo=local.min().tzinfo)
    assert local.dt.month().unique().to_list() == [10]
    unanswered = (first["duration"] == 0).mean()
    assert 0.15 < unanswered < 0.25
    assert (first.filter(pl.col("duration") == 0)["disposition"] == "NO ANSWER").all()
    assert first["callee"].str.contains(r"^(\+|00)\d{6,15}$").all()


def test_bench_rate_measures_floor_and_engine_over_parts(
    benchmarks: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    _, bench_rate = benchmarks

    results = bench_rate.run_benchmark(
        [CALLS], runs=1, workdir=tmp_path, prefixes=PREFIXES, seed=3, accounts=50, part_calls=700
    )
    section = bench_rate.results_section(results, 1, ["cdr-rating"])
    results_md = tmp_path / "RESULTS.md"
    bench_rate.append_results(section, results_md)
    report = bench_rate.json_report(results, 1, ["cdr-rating"])

    (result,) = results
    assert result.calls == CALLS
    assert len(result.dataset.parts) == 3  # the floor read them all, the engine got them all
    assert 0.9 * CALLS <= result.rated_rows <= CALLS
    for measurement in [*result.floors, result.engine]:
        assert 0 < measurement.best_s < 60
        assert measurement.best_cpu_s > 0
        assert 10 * 2**20 < measurement.peak_rss_bytes < 8 * 2**30
    assert math.isfinite(result.ratio)
    assert result.ratio > 0
    text = results_md.read_text()
    assert text.startswith("# Benchmark results")
    assert "| 2,000 | engine |" in text
    assert "Polars" in text
    assert "(3 parts, `cdrs-2000-a50-p200-s3-by700-part01.parquet` to `" in text
    rows = {row["measurement"]: row for row in report["rows"]}
    assert set(rows) == {"floor (eager)", "floor (streaming)", "engine"}
    assert rows["engine"]["calls"] == CALLS
    assert rows["engine"]["vs_floor"] == pytest.approx(result.ratio)
    assert rows["engine"]["peak_rss_mib"] > 10
    (size,) = report["sizes"]
    assert size["rated_rows"] == result.rated_rows
    assert len(size["inputs"]) == 3


def test_above_10m_calls_there_is_no_eager_floor(
    benchmarks: tuple[ModuleType, ModuleType],
) -> None:
    _, bench_rate = benchmarks
    assert bench_rate.floor_modes(10_000_000) == ("eager", "streaming")
    assert bench_rate.floor_modes(100_000_000) == ("streaming",)


def test_a_child_over_its_memory_limit_is_stopped(
    benchmarks: tuple[ModuleType, ModuleType],
) -> None:
    _, bench_rate = benchmarks
    hog = "import time; held = b'x' * 400 * 2**20; time.sleep(5)"
    child = bench_rate.run_child([sys.executable, "-c", hog], rss_limit_bytes=200 * 2**20)
    assert child.stopped
    assert child.wall_s < 4
    calm = bench_rate.run_child([sys.executable, "-c", "pass"], rss_limit_bytes=200 * 2**20)
    assert not calm.stopped
    assert calm.returncode == 0
