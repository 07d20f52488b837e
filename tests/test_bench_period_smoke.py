"""bench_period.py still runs end to end (ingest, bill, rerate) on a tiny month."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_period_runs_every_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    bench_period = importlib.import_module("bench_period")

    found_json = tmp_path / "period.json"
    arguments = ["--calls", "2000", "--out", str(tmp_path), "--json", str(found_json)]
    assert bench_period.main(arguments) == 0

    table = capsys.readouterr().out.splitlines()
    rows = {line.split("|")[1].strip(): line for line in table if line.startswith("| ")}
    assert {"ingest", "bill", "rerate"} <= set(rows)
    assert "10000 bills" in rows["bill"]
    assert "(0 calls changed)" in rows["rerate"]

    found = json.loads(found_json.read_text())
    steps = {row["measurement"]: row for row in found["rows"]}
    assert list(steps) == ["ingest", "bill", "rerate"]
    assert steps["ingest"]["calls"] == 2000
    for row in steps.values():
        assert row["wall_s"] > row.get("rating_s", 0)
        assert row["cpu_s"] > 0
        assert row["peak_rss_mib"] > 10
    assert found["rerate_over_rating"] == pytest.approx(
        steps["rerate"]["wall_s"] / steps["ingest"]["rating_s"]
    )
