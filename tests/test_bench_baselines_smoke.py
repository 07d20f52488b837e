"""bench_baselines.py still runs: on a tiny generated input the engine, the per-call
Python baseline and the DuckDB SQL baseline agree, and the JSON results have the shape
other scripts read."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("duckdb")

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCH_DIR / "bench_baselines.py"
CALLS = 3_000
PREFIXES = 300


def test_three_raters_agree_and_are_timed(tmp_path: Path) -> None:
    results = tmp_path / "results.json"

    finished = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--calls",
            str(CALLS),
            "--prefixes",
            str(PREFIXES),
            "--accounts",
            "50",
            "--check",
            "1000",
            "--out",
            str(tmp_path),
            "--json",
            str(results),
            "--raters",
            "engine",
            "per-call,duckdb",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "engine and per-call Python and DuckDB SQL agree" in finished.stdout
    report = json.loads(results.read_text())
    assert set(report) >= {"benchmark", "rows", "checked_calls", "duckdb_version"}
    assert report["benchmark"] == "baselines"
    assert report["checked_calls"] > 1_000  # the sample plus re-delivered copies
    assert isinstance(report["duckdb_version"], str)
    assert [row["measurement"] for row in report["rows"]] == [
        "engine",
        "per-call Python",
        "DuckDB SQL",
    ]
    for row in report["rows"]:
        assert set(row) == {
            "measurement",
            "calls",
            "wall_s",
            "cpu_s",
            "peak_rss_mib",
            "calls_per_s",
        }
        assert row["calls"] == CALLS
        assert 0 < row["wall_s"] < 60
        assert row["cpu_s"] > 0
        assert 10 < row["peak_rss_mib"] < 8 * 1024
        assert row["calls_per_s"] == pytest.approx(CALLS / row["wall_s"], rel=0.01)
    # Each rater wrote its rated calls as Parquet; the same rows from the engine and DuckDB.
    runs = tmp_path / "baselines"
    engine = pl.read_parquet(runs / "engine-rated.parquet")
    duckdb = pl.read_parquet(runs / "duckdb-rated.parquet")
    assert engine.height == duckdb.height > 0.9 * CALLS
    assert engine.select("call_id", "charge").equals(duckdb.select("call_id", "charge"))


def test_a_disagreement_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    baselines = importlib.import_module("bench_baselines")
    generate = importlib.import_module("generate")
    dataset = generate.generate(tmp_path, 500, prefixes=100, seed=5, accounts=10)
    real = baselines.OUTCOMES["duckdb"]

    def off_by_one(paths: list[Path], sheet: Path) -> object:
        outcome = real(paths, sheet)
        call_id, (charge, *rest) = next(iter(outcome.rated.items()))
        outcome.rated[call_id] = (charge + 1, *rest)
        return outcome

    monkeypatch.setitem(baselines.OUTCOMES, "duckdb", off_by_one)

    assert not baselines.check(dataset.cdrs, dataset.sheet, ["per-call", "duckdb"])
    printed = capsys.readouterr().out
    assert "DuckDB SQL disagrees with the engine on 1 of the 500 sample rows" in printed
