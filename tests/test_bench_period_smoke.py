"""bench_period.py still runs end to end (ingest, bill, rerate) on a tiny month."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_period_runs_every_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    bench_period = importlib.import_module("bench_period")

    assert bench_period.main(["--calls", "2000", "--out", str(tmp_path)]) == 0

    table = capsys.readouterr().out.splitlines()
    rows = {line.split("|")[1].strip(): line for line in table if line.startswith("| ")}
    assert {"ingest", "bill", "rerate"} <= set(rows)
    assert "10000 bills" in rows["bill"]
    assert "(0 calls changed)" in rows["rerate"]
