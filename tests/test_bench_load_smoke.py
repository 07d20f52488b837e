"""benchmarks/bench_load.py still runs, and its generated Master.csv reads cleanly."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
ROWS = 3_000


@pytest.fixture
def bench_load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("bench_load")


def test_generated_file_is_asterisk_and_reads_without_rejects(
    bench_load: ModuleType, tmp_path: Path
) -> None:
    from cdr_rating.cdrs import InputOptions, prepare_calls
    from cdr_rating.cdrs.inputs import detect_format, read_inputs

    path = bench_load.generate(ROWS, tmp_path / "Master.csv", seed=5)
    assert detect_format(path) == "asterisk"
    (raw,) = read_inputs([path])
    prepared = prepare_calls(raw, InputOptions()).collect()
    assert prepared.height == ROWS
    assert prepared.get_column("_reason").null_count() == ROWS
    # Three rows share each uniqueid, yet every row is a call of its own.
    assert prepared.get_column("call_id").n_unique() == ROWS


def test_every_mode_is_timed_and_reported(bench_load: ModuleType, tmp_path: Path) -> None:
    path = bench_load.generate(ROWS, tmp_path / "Master.csv", seed=5)
    results = [bench_load.measure(mode, path, runs=1) for mode in bench_load.MODES]
    assert [result.rows for result in results] == [ROWS] * 3
    table = bench_load.report(results, path)
    assert "| asterisk reader |" in table
    assert "3,000 rows" in table
