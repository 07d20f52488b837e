"""benchmarks/bench_load.py still runs on the Asterisk files of generate.py."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
ROWS = 3_000
SMALL = ["--prefixes", "300", "--accounts", "50", "--seed", "5"]


@pytest.fixture
def bench_load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("bench_load")


def test_loads_the_generated_asterisk_files_without_rejects(
    bench_load: ModuleType, tmp_path: Path
) -> None:
    from cdr_rating.cdrs import InputOptions, prepare_calls
    from cdr_rating.cdrs.inputs import detect_format, read_inputs

    paths = bench_load.asterisk_files(
        ROWS, tmp_path, prefixes=300, accounts=50, seed=5, part_calls=1_000
    )
    assert len(paths) == 3
    assert {detect_format(path) for path in paths} == {"asterisk"}
    prepared = [prepare_calls(raw, InputOptions()).collect() for raw in read_inputs(paths)]
    assert sum(frame.height for frame in prepared) == ROWS
    assert all(frame.get_column("_reason").null_count() == frame.height for frame in prepared)
    # Every call has a call_id of its own; only re-delivered lines repeat one.
    for path, frame in zip(paths, prepared, strict=True):
        lines = path.read_text().splitlines()
        assert frame.get_column("call_id").n_unique() == len(set(lines)) < len(lines)


def test_main_times_every_mode_and_writes_json(
    bench_load: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "load.json"
    argv = ["--rows", str(ROWS), "--runs", "1", "--workdir", str(tmp_path), *SMALL]
    bench_load.main([*argv, "--json", str(out)])

    table = capsys.readouterr().out
    assert "| asterisk reader |" in table
    assert "3,000 calls" in table

    result = json.loads(out.read_text())
    assert result["benchmark"] == "asterisk load"
    assert [row["measurement"] for row in result["rows"]] == list(bench_load.MODES)
    for row in result["rows"]:
        assert row["calls"] == ROWS
        assert 0 < row["wall_s"] < 60
        assert row["cpu_s"] > 0
        assert 10 < row["peak_rss_mib"] < 8192
        assert row["calls_per_s"] == pytest.approx(ROWS / row["wall_s"])
    assert result["file_mib"] == pytest.approx(
        sum(path.stat().st_size for path in tmp_path.glob("*-asterisk.csv")) / 2**20
    )
