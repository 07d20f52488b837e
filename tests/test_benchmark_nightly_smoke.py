"""The nightly benchmark still runs (on a tiny night)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_nightly_reports_every_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    bench = importlib.import_module("bench_nightly")

    workdir = str(tmp_path / "night")
    arguments = ["--calls", "2000", "--prefixes", "200", "--runs", "1", "--workdir", workdir]
    assert bench.main([*arguments, "--json", str(tmp_path / "night.json")]) == 0

    out = capsys.readouterr().out
    assert "2,000 calls in 24 files, 0 nights stored before: read 2,000" in out
    assert "wall of the 1 runs: " in out
    for step in ("rate (rating)", "duplicates", "write", "interpreter start-up"):
        assert f"| {step}" in out
    assert "of wall, target < 20%" in out

    found = json.loads((tmp_path / "night.json").read_text())
    assert found["benchmark"] == "nightly run"
    (row,) = found["rows"]
    assert row["calls"] == 2000
    assert found["files"] == 24
    assert row["wall_s"] == pytest.approx(row["rating_s"] + row["bookkeeping_s"] + row["startup_s"])
    assert row["cpu_s"] > 0
    assert row["peak_rss_mib"] > 10
    assert {step["step"] for step in found["steps"]} >= {"rate", "duplicates", "write"}
