"""benchmarks/harness.py runs every benchmark on tiny inputs and writes the whole report.

The smoke run is one child process (about half a minute); the report it writes is
checked section by section. The harness's planning and verdicts are checked directly
on the module, loaded under a name of its own (``tests/harness.py`` is another module).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
HARNESS = BENCH_DIR / "harness.py"
HAS_DUCKDB = importlib.util.find_spec("duckdb") is not None
NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?$")

WORKLOAD_TABLES = {
    "Rating: `cdr-rating rate` against the I/O floor": [
        "floor (eager)",
        "floor (streaming)",
        "engine",
    ],
    "Rating baselines: per-call Python and DuckDB SQL": ["engine", "per-call Python"]
    + (["DuckDB SQL"] if HAS_DUCKDB else []),
    "Loading Asterisk CSV": ["polars read_csv", "asterisk reader", "reader + prepare"],
    "A nightly run": ["cdr-rating run (one night)"],
    "Period close": ["ingest", "bill"],
    "Re-rating a month": ["rerate"],
    "Invoice rendering": ["itemised invoice", "summary invoices"],
}
TARGETS = (
    "Rating 10M calls: engine time / floor time",
    "Per-call Python time / engine time",
    "DuckDB SQL time / engine time",
    "Rating 100M calls, streaming: engine peak RSS",
    "Itemised invoice, 5,000 calls",
    "10,000 summary invoices on 2 cores",
    "Loading Asterisk CSV: reader time / read_csv time",
    "Nightly run: bookkeeping share of the wall time",
    "Re-rating a month: rerate time / ingest rating time",
)


def sections(report: str) -> dict[str, str]:
    """The report's ``## `` sections by heading."""
    found = {}
    for block in report.split("\n## ")[1:]:
        heading, _, body = block.partition("\n")
        found[heading.strip()] = body
    return found


def table(body: str) -> list[list[str]]:
    """The data rows of the first markdown table in ``body``, cells stripped."""
    rows = [line for line in body.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def number(cell: str) -> float:
    assert NUMBER.match(cell), f"not a number: {cell!r}"
    return float(cell.replace(",", ""))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("harness")
    results = folder / "RESULTS.md"
    command = [sys.executable, str(HARNESS), "--smoke", "--workdir", str(folder / "work")]
    done = subprocess.run(
        [*command, "--results", str(results)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("CDR_RATING")},
    )
    assert done.returncode == 0, done.stderr[-6000:]
    assert (folder / "work" / "harness" / "results.json").is_file()
    return results.read_text(encoding="utf-8")


def test_report_names_the_run_and_the_machine(report: str) -> None:
    assert report.startswith("# Benchmark results\n")
    assert "- command: `python benchmarks/harness.py --smoke --workdir " in report
    machine = dict(row[:2] for row in table(sections(report)["Machine"]))
    for key in ("cores", "CPU", "memory", "OS", "Python", "Polars", "PyArrow", "WeasyPrint"):
        assert machine[key], key
    assert number(machine["cores"]) >= 1
    assert re.match(r"[0-9.,]+ GiB, [0-9.,]+ GiB available", machine["memory"])
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", machine["date"])
    assert (machine["DuckDB"] == "not installed") == (not HAS_DUCKDB)


def test_every_workload_has_a_table_of_numbers(report: str) -> None:
    found = sections(report)
    for title, measurements in WORKLOAD_TABLES.items():
        rows = table(found[title])
        assert [row[1] for row in rows] == measurements, title
        for row in rows:
            count, wall, cpu, per_second, peak = (number(row[i]) for i in (0, 2, 3, 4, 5))
            assert count >= 1, row
            assert wall > 0, row
            assert cpu >= 0, row
            assert per_second >= 0, row
            assert peak > 10, row  # MiB: every measured process holds at least Python
        assert "**failed**" not in found[title], title
        commands = "- commands run, and how long each took:\n  - `python benchmarks/"
        assert title == "Re-rating a month" or commands in found[title], title


def test_targets_are_all_judged(report: str) -> None:
    rows = {row[0]: row for row in table(sections(report)["Targets"])}
    assert set(rows) == set(TARGETS)
    for name, goal, measured, verdict, _ in rows.values():
        if verdict.startswith("not measured"):
            assert measured == "-", name
            continue
        assert re.match(r"(met, .+ to spare|\*\*missed\*\* by .+)$", verdict), verdict
        assert re.match(r"[0-9][0-9.,]*", measured), measured
        margin = re.search(r"([0-9][0-9.,]*)", verdict)
        assert margin is not None, verdict
        number(margin.group(1))
        assert goal[0] in "<>≤≥", goal
    assert rows["Rating 100M calls, streaming: engine peak RSS"][3] == (
        "not measured: not run with --smoke"
    )
    duckdb = rows["DuckDB SQL time / engine time"]
    if HAS_DUCKDB:
        assert duckdb[2].endswith("10M not run)"), duckdb
    else:
        assert duckdb[3].startswith("not measured: DuckDB not installed"), duckdb
    assert "engine time / X time" in sections(report)["Targets"]


# ---------------------------------------------------------------------------------------
# The module itself: sizes, plans, verdicts, a report with failures
# ---------------------------------------------------------------------------------------


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_harness", HARNESS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_harness", module)
    spec.loader.exec_module(module)
    return module


SIZES = {"2000": 2_000, "2_000": 2_000, "2,000": 2_000, "50k": 50_000, "1M": 10**6}
SIZES |= {"1.5M": 1_500_000, "100m": 10**8}


@pytest.mark.parametrize(("text", "calls"), SIZES.items())
def test_sizes_parse(harness: ModuleType, text: str, calls: int) -> None:
    assert harness.parse_size(text) == calls
    assert harness.parse_size(harness.size_label(calls)) == calls


def test_margins_say_by_how_much(harness: ModuleType) -> None:
    assert harness.at_most(2.4, 2.0, harness.ratio) == "**missed** by 0.40x"
    assert harness.at_most(1.8, 2.0, harness.ratio) == "met, 0.20x to spare"
    assert harness.at_least(16.9, 30.0, harness.ratio) == "**missed** by 13x"
    assert harness.more_than(1.0, 1.0, harness.ratio) == "**missed** by 0.00x"


def test_plan_fits_sizes_to_memory(harness: ModuleType, tmp_path: Path) -> None:
    argv = ["--quick", "--workdir", str(tmp_path), "--results", str(tmp_path / "R.md")]
    settings = harness.settings_from(argv)
    assert settings.sizes == [10**6, 10**7, 10**8]
    plan = harness.make_plan(settings, available_mib=22_000, free_disk=10**12)

    jobs = {(job.workload, job.size): job for job in plan.jobs}
    assert {size for workload, size in jobs if workload == "rating"} == {10**6, 10**7, 10**8}
    assert {workload for workload, size in jobs if size == 10**8} == {"rating"}
    assert jobs["rating", 10**8].arguments[3] == "1"  # --runs 1 at 100M
    assert "--rss-limit-mib" in jobs["rating", 10**8].arguments
    assert "per-call" in jobs["baselines", 10**6].arguments
    assert "per-call" not in jobs["baselines", 10**7].arguments
    assert "--quick" in jobs["baselines", 10**7].note
    assert jobs["render", None].arguments[-1] == "1000"
    assert plan.skipped == []

    # Enough for the streamed 100M rating (12 GiB allowance), not for re-rating 10M.
    small = harness.make_plan(settings, available_mib=14_000, free_disk=10**12)
    reasons = {(item.workload, item.size): item.reason for item in small.skipped}
    assert set(reasons) == {("period", 10**7)}
    assert reasons["period", 10**7].startswith("needs about 18.")
    tighter = harness.make_plan(settings, available_mib=12_000, free_disk=10**12)
    assert ("rating", 10**8) in {(item.workload, item.size) for item in tighter.skipped}


def test_report_survives_failed_and_odd_benchmarks(harness: ModuleType, tmp_path: Path) -> None:
    settings = harness.settings_from(["--smoke", "--workdir", str(tmp_path)])
    plan = harness.make_plan(settings, available_mib=22_000, free_disk=10**12)
    for job in plan.jobs:
        if job.workload == "rating":
            job.error = "exit status 1: benchmark failed: boom"
        elif job.workload == "load":
            modes = ("polars read_csv", "asterisk reader")
            job.data = {"rows": [{"measurement": mode} for mode in modes]}
    results = harness.Results(
        settings,
        harness.machine(),
        plan,
        [],
        harness.machine()["started"],
        0.0,
        1.0,
    )

    text = harness.report(results)

    found = sections(text)
    rating = found["Rating: `cdr-rating rate` against the I/O floor"]
    assert "**failed** (2,000 calls)" in rating
    assert "benchmark failed: boom" in rating
    assert "unexpected JSON from bench_load.py" in found["Loading Asterisk CSV"]
    targets = {row[0]: row for row in table(found["Targets"])}
    assert targets[TARGETS[0]][3] == "not measured: bench_rate.py failed (see its section)"
    assert targets[TARGETS[6]][3].startswith("not measured: unexpected JSON")
    assert "**1 benchmark(s) failed**: rating at 2,000" in text


def test_without_duckdb_the_baseline_is_reported_not_installed(
    harness: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "duckdb_installed", lambda: False)
    settings = harness.settings_from(["--smoke", "--workdir", str(tmp_path)])
    plan = harness.make_plan(settings, available_mib=22_000, free_disk=10**12)
    (baselines,) = [job for job in plan.jobs if job.workload == "baselines"]
    assert "duckdb" not in baselines.arguments
    assert baselines.note == "DuckDB not installed"
    row = {"calls": 2000, "wall_s": 1.0, "cpu_s": 1.0, "peak_rss_mib": 99.0}
    baselines.data = {
        "rows": [
            {"measurement": "engine", **row, "calls_per_s": 2000.0},
            {"measurement": "per-call Python", **row, "wall_s": 40.0, "calls_per_s": 50.0},
        ]
    }
    machine = harness.machine()
    results = harness.Results(settings, machine, plan, [], machine["started"], 0.0, 1.0)

    targets = {target.name: target for target in harness.targets(results)}

    duckdb = targets["DuckDB SQL time / engine time"]
    assert duckdb.verdict == "not measured: DuckDB not installed (`pip install -e '.[bench]'`)"
    per_call = targets["Per-call Python time / engine time"]
    assert per_call.measured == "40x faster (at 2,000 calls; 10M not run)"
    assert per_call.verdict == "met, 10x to spare"
    section = sections(harness.report(results))["Rating baselines: per-call Python and DuckDB SQL"]
    assert [row[1] for row in table(section)] == ["engine", "per-call Python"]
    assert "- DuckDB not installed (2,000 calls)" in section
