"""The nightly benchmark still runs (on a tiny night)."""

from __future__ import annotations

import importlib
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
    assert bench.main(arguments) == 0

    out = capsys.readouterr().out
    assert "2,000 calls in 24 files, 0 nights stored before: read 2,000" in out
    assert "wall of the 1 runs: " in out
    for step in ("rate (rating)", "duplicates", "write", "interpreter start-up"):
        assert f"| {step}" in out
    assert "of wall, target < 20%" in out
