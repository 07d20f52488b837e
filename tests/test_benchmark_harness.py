"""benchmarks/harness.py runs every benchmark on tiny inputs and writes the whole report.

The smoke run is one child process (about half a minute); the report it writes is
checked section by section. The harness's planning and verdicts are checked directly
on the module, loaded under a name of its own (``tests/harness.py`` is another module).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
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
    "Start-up of a command that renders nothing": [
        "import polars",
        "cdr-rating --help",
        "python -m cdr_rating --help",
        "cdr-rating rate --help",
    ],
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
    "Billing a 10M-call month: bill time / ingest rating time",
    "Re-rating a 10M-call month: rerate preview time / ingest rating time",
    "A 100M-call month completes, ingest: peak RSS at 100M / at 10M",
    "A 100M-call month completes, bill: peak RSS at 100M / at 10M",
    "A 100M-call month completes, rerate: peak RSS at 100M / at 10M",
    "Start-up, `cdr-rating --help`: time / `import polars` time",
    "Start-up, `cdr-rating rate --help`: time / `import polars` time",
    "The test suite (`python -m pytest -q`) on 2 cores",
)
BILL, RERATE = TARGETS[8:10]  # / the ingest's rating time, from one run of bench_period.py
MONTH_ROWS = [name for name in TARGETS if name.startswith("A 100M-call month")]
STARTUP_ROWS = [name for name in TARGETS if name.startswith("Start-up")]


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
    for name in ["Rating 100M calls, streaming: engine peak RSS", *MONTH_ROWS]:
        assert rows[name][3] == "not measured: not run with --smoke", name
    assert rows[TARGETS[-1]][3] == "not measured: not run with --smoke"  # the suite
    for name in (BILL, RERATE):
        assert re.match(r"[0-9.,]+x = [0-9.,]+ s / [0-9.,]+ s \(at 2,000", rows[name][2])
    for name in STARTUP_ROWS:  # / import polars, and whether WeasyPrint is imported
        assert re.search(r"\(medians of 1\); (imports WeasyPrint|WeasyPrint not imported)$",
                         rows[name][2])  # fmt: skip
    duckdb = rows["DuckDB SQL time / engine time"]
    if HAS_DUCKDB:
        assert duckdb[2].endswith("10M not run)"), duckdb
    else:
        assert duckdb[3].startswith("not measured: DuckDB not installed"), duckdb
    assert "engine time / X time" in sections(report)["Targets"]


def test_startup_section_says_what_the_commands_import(report: str) -> None:
    found = sections(report)["Start-up of a command that renders nothing"]
    assert "| the floor: every command imports Polars |" in found
    assert re.search(r"- `cdr-rating --help` imports [a-z0-9]+ \([0-9,]+ ms\)", found)
    assert "- `cdr-rating rate --help` imports " in found
    assert "`python benchmarks/bench_startup.py --runs 1 --warmup 0 --json FILE`" in found
    suite = sections(report)["The test suite"]
    assert "- not run: not run with --smoke" in suite


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
    # Rating and a period work in bounded slices: they alone run at 100M.
    assert {workload for workload, size in jobs if size == 10**8} == {"rating", "period"}
    assert {size for workload, size in jobs if workload == "period"} == {10**6, 10**7, 10**8}
    assert jobs["rating", 10**8].arguments[3] == "1"  # --runs 1 at 100M
    for job in (jobs["rating", 10**8], jobs["period", 10**7], jobs["period", 10**8]):
        assert "--rss-limit-mib" in job.arguments, job  # the memory guard
    assert plan.jobs[0].workload == "startup"  # cheap, first, on a quiet machine
    assert jobs["startup", None].arguments == ["--runs", "10", "--warmup", "1"]
    assert ("suite", None) not in jobs
    assert "per-call" in jobs["baselines", 10**6].arguments
    assert "per-call" not in jobs["baselines", 10**7].arguments
    assert "--quick" in jobs["baselines", 10**7].note
    assert jobs["render", None].arguments[-1] == "1000"
    assert [(item.workload, item.reason) for item in plan.skipped] == [
        ("suite", "not asked for (--suite)")
    ]

    # Enough for the bounded 100M runs (12 GiB allowance), not for re-rating 10M today.
    small = harness.make_plan(settings, available_mib=14_000, free_disk=10**12)
    reasons = {(item.workload, item.size): item.reason for item in small.skipped}
    assert set(reasons) == {("period", 10**7), ("suite", None)}
    assert reasons["period", 10**7].startswith("needs about 18.")
    assert ("period", 10**8) in {(job.workload, job.size) for job in small.jobs}
    tighter = harness.make_plan(settings, available_mib=12_000, free_disk=10**12)
    skipped = {(item.workload, item.size) for item in tighter.skipped}
    assert {("rating", 10**8), ("period", 10**8)} <= skipped

    # A 100M month needs about 10 GB of disk for its store (and the canonical input).
    full = harness.make_plan(settings, available_mib=22_000, free_disk=9 * 10**9)
    reasons = {(item.workload, item.size): item.reason for item in full.skipped}
    assert reasons["period", 10**8].startswith("needs about 9 GB of disk")
    assert ("rating", 10**8) not in reasons


def test_suite_runs_only_when_asked(harness: ModuleType, tmp_path: Path) -> None:
    argv = ["--suite", "--only", "startup", "--workdir", str(tmp_path)]
    plan = harness.make_plan(harness.settings_from(argv), available_mib=22_000, free_disk=10**12)
    assert [job.workload for job in plan.jobs] == ["startup", "suite"]
    assert plan.jobs[1].shown() == "python benchmarks/bench_suite.py --json FILE"
    with pytest.raises(SystemExit):
        harness.settings_from(["--suite", "--smoke"])


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


def period_data(calls: int, peaks: tuple[float, float, float], **failed: str) -> dict:
    """bench_period.py's JSON for a month: ingest rates in 10 s; bill 4 s, rerate 14 s."""
    rows = []
    walls = {"ingest": 15.0, "bill": 4.0, "rerate": 14.0}
    for (step, wall), peak in zip(walls.items(), peaks, strict=True):
        row = {"measurement": step, "calls": calls, "wall_s": wall, "cpu_s": wall}
        row |= {"peak_rss_mib": peak, "calls_per_s": calls / wall, "rating_s": 10.0}
        if step in failed:
            row = {"measurement": step, "calls": calls, "failed": failed[step]}
            row |= {"wall_s": 99.0, "peak_rss_mib": peak, "stopped_over_rss_limit": True}
        rows.append(row)
    ratios = {
        "bill_over_rating": None if "bill" in failed else 0.4,
        "rerate_over_rating": None if "rerate" in failed else 1.4,
    }
    return {"rows": rows, "failed": failed, "rerate_over_ingest": 0.93, **ratios}


def results_of(harness: ModuleType, tmp_path: Path, data: dict, **errors: str) -> ModuleType:
    """Results of a plan at 10M and 100M (nothing run), with ``data`` by job name."""
    argv = ["--sizes", "10M", "100M", "--workdir", str(tmp_path), "--only", "period", "startup"]
    plan = harness.make_plan(harness.settings_from(argv), available_mib=22_000, free_disk=10**12)
    for job in plan.jobs:
        job.data = data.get(job.name)
        job.error = errors.get(job.name)
    machine = harness.machine()
    return harness.Results(
        harness.settings_from(argv), machine, plan, [], machine["started"], 0.0, 1.0
    )


def test_month_targets_from_one_run_each(harness: ModuleType, tmp_path: Path) -> None:
    startup_rows = [
        {"measurement": name, "runs": 10, "wall_s": wall, "min_wall_s": wall, "cpu_s": wall}
        | {"peak_rss_mib": 90.0, "vs_import_polars": wall / 0.2}
        for name, wall in (
            ("import polars", 0.2),
            ("cdr-rating --help", 0.25),
            ("python -m cdr_rating --help", 0.25),
            ("cdr-rating rate --help", 0.3),
        )
    ]
    startup = {
        "rows": startup_rows,
        "imports": {"cdr-rating --help": ["polars", "typer"], "cdr-rating rate --help": []},
        "weasyprint_imported": {"cdr-rating --help": False, "cdr-rating rate --help": False},
        "import_time_ms": {"cdr-rating --help": {"polars": 120.0, "typer": 40.0}},
    }
    data = {
        "period-10000000": period_data(10**7, (6000.0, 5000.0, 8000.0)),
        "period-100000000": period_data(10**8, (8000.0, 9000.0, 9000.0)),
        "startup": startup,
    }
    results = results_of(harness, tmp_path, data)

    found = {target.name: target for target in harness.targets(results)}

    bill, rerate = found[BILL], found[RERATE]
    assert bill.measured == "0.40x = 4.00 s / 10.00 s"
    assert bill.verdict == "met, 0.10x to spare"
    assert rerate.measured == "1.40x = 14.00 s / 10.00 s"
    assert rerate.verdict == "met, 0.10x to spare"
    ingest, bill_rss, rerate_rss = (found[name] for name in MONTH_ROWS)
    assert ingest.measured == "1.33x (7.8 GiB at 100M, 5.9 GiB at 10M)"
    assert ingest.verdict == "met, 0.17x to spare"
    assert bill_rss.verdict == "**missed** by 0.30x"  # 9,000 / 5,000 MiB
    assert rerate_rss.verdict.startswith("met")
    help_, rate = (found[name] for name in STARTUP_ROWS)
    assert help_.measured == "1.25x = 0.250 s / 0.200 s (medians of 10); WeasyPrint not imported"
    assert help_.verdict == "met, 0.05x to spare"
    assert rate.verdict == "**missed** by 0.20x"
    assert found[TARGETS[-1]].verdict == "not measured: not asked for (--suite)"
    section = sections(harness.report(results))["Start-up of a command that renders nothing"]
    assert [row[1] for row in table(section)] == [row["measurement"] for row in startup_rows]
    assert "- `cdr-rating --help` imports polars (120 ms), typer (40 ms)" in section


def test_a_month_that_does_not_complete_is_a_miss_not_a_crash(
    harness: ModuleType, tmp_path: Path
) -> None:
    stopped = "stopped: memory passed the 20.7 GiB limit"
    data = {
        "period-10000000": period_data(10**7, (6000.0, 5000.0, 8000.0), bill="exit status 1"),
        "period-100000000": period_data(
            10**8, (8000.0, 21_200.0, 0.0), bill=stopped, rerate="not run: ingest failed"
        ),
    }
    errors = {"period-100000000": "exit status 1: bill failed", "startup": "exit status 1: x"}
    results = results_of(harness, tmp_path, data, **errors)

    found = {target.name: target for target in harness.targets(results)}
    text = harness.report(results)

    assert found[BILL].verdict == "not measured: bill failed at 10,000,000 calls: exit status 1"
    assert found[RERATE].verdict.startswith("met")  # rerate ran at 10M
    ingest, bill, rerate = (found[name] for name in MONTH_ROWS)
    assert ingest.verdict.startswith("met")
    assert bill.measured == "over 20.7 GiB"
    assert bill.verdict == f"**missed**: did not complete at 100M: {stopped}"
    assert rerate.verdict == "**missed**: did not complete at 100M: not run: ingest failed"
    assert (
        found[STARTUP_ROWS[0]].verdict == "not measured: bench_startup.py failed (see its section)"
    )
    period = sections(text)["Period close"]
    rows = {(row[0], row[1]): row for row in table(period)}
    assert rows["100,000,000", "bill"][-1] == f"failed: {stopped}"
    assert rows["100,000,000", "bill"][5] == "21,200"
    assert "**failed** (100,000,000 calls)" in period
    rerate_rows = {(row[0], row[1]): row for row in table(sections(text)["Re-rating a month"])}
    assert rerate_rows["100,000,000", "rerate"][-1] == "failed: not run: ingest failed"
    startup = table(sections(text)["Start-up of a command that renders nothing"])
    assert startup == [["-", "bench_startup.py", "-", "-", "-", "-", "failed: exit status 1: x"]]


def test_bench_suite_times_pytest_and_counts_its_tests(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    bench_suite = importlib.import_module("bench_suite")
    assert bench_suite.counts("3 failed, 120 passed, 2 deselected in 9.1s") == {
        "failed": 3,
        "passed": 120,
        "deselected": 2,
    }
    monkeypatch.chdir(tmp_path)  # bench_suite runs pytest from the repository root
    found_json = tmp_path / "suite.json"

    assert bench_suite.main(["--json", str(found_json), "--", "tests/test_numbers.py"]) == 0

    found = json.loads(found_json.read_text())
    assert found["command"][:3] == ["python", "-m", "pytest"]
    assert found["returncode"] == 0
    assert found["counts"]["passed"] > 0
    (row,) = found["rows"]
    assert row["tests"] == found["counts"]["passed"]
    assert row["wall_s"] > 0
    assert row["peak_rss_mib"] > 10
