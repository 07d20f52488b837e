"""Every benchmark in one command; writes ``benchmarks/RESULTS.md``.

Runs each benchmark script of this folder in a child process with ``--json`` and writes
one report: the machine, a table per workload (wall time, CPU time, calls per second,
peak RSS), the targets of ARCHITECTURE.md section 11 (and of the scripts) with the
margin by which each is met or missed, and the command line used. The report replaces
``RESULTS.md``; hand-collected older measurements are in ``HISTORY.md``.

Workloads and sizes (``--sizes``, default 1M 10M 100M; a size runs only when the
machine's available memory fits it):

* start-up: ``bench_startup.py``, ``python -c "import polars"`` against
  ``cdr-rating --help``, ``python -m cdr_rating --help`` and ``cdr-rating rate --help``
  (median of 10; no size; first, while the machine is quiet);
* rating: ``bench_rate.py``, the I/O floor and ``cdr-rating rate``, at every size (above
  10M as Parquet parts of 10M calls, for the streaming engine, without the eager floor);
* baselines: ``bench_baselines.py``, the engine against per-call Python and DuckDB SQL
  (DuckDB only when installed: ``pip install -e '.[bench]'``), up to 10M;
* loading Asterisk CSV: ``bench_load.py``, up to 10M;
* a nightly run: ``bench_nightly.py``, one night of ``cdr-rating run`` (24 hourly CSV
  files, one night stored before), up to 10M calls per night;
* period close and re-rating a month: ``bench_period.py`` (ingest ``cdr-rating run``,
  bill, rerate preview ``cdr-rating rerate``) at every size: above 10M the restructured
  jobs work through the month in bounded slices, so it gets a fixed 12 GiB allowance
  like streamed rating, and every step is stopped past 90% of the available memory
  (a "failed: reason" row, not a crash);
* invoice rendering: ``bench_render.py``, an itemised invoice of 5,000 calls and 10,000
  summary invoices;
* the test suite: ``bench_suite.py``, ``python -m pytest -q -p no:cacheprovider`` once,
  only with ``--suite`` (never with ``--smoke``).

Targets: those of ARCHITECTURE.md section 11, of the scripts, and of issue 12: bill at
most 0.5x and rerate at most 1.5x the ingest's rating time (the largest month up to
10M); a 100M-call month completes every step with peak RSS at most 1.5x that at 10M;
``cdr-rating --help`` and ``cdr-rating rate --help`` start in at most 1.3x ``import
polars``; the suite in under 8 minutes. README.md lists each with the JSON it is
computed from.

The full run takes about 50 minutes on 2 cores (the per-call baseline at 10M and the
10,000 invoices take about 10 minutes each); ``--quick`` runs the per-call baseline up
to 1M only and renders 1,000 summary invoices (the time for 10,000 extrapolated), about
30 minutes. ``--smoke`` runs everything on tiny inputs in a minute or two (the test
suite does) and writes to ``--results`` (default ``WORKDIR/RESULTS-smoke.md``, never
``benchmarks/RESULTS.md``).

Generated data goes to ``--workdir`` (default ``/tmp/cdr-bench``, never the
repository), where the other scripts look for it too: files are generated once and
reused.

Example::

    python benchmarks/harness.py                      # everything that fits
    python benchmarks/harness.py --quick --sizes 1M 10M
    python benchmarks/harness.py --smoke --workdir /tmp/cdr-smoke --results /tmp/smoke.md
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_MD = BENCH_DIR / "RESULTS.md"
DEFAULT_WORKDIR = Path("/tmp/cdr-bench")
DEFAULT_SIZES = (1_000_000, 10_000_000, 100_000_000)
# Sizes up to this run every workload; larger ones only those that work in bounded
# slices: rating (the streaming engine) and a period (ingest, bill, rerate).
EVERYTHING_UP_TO = 10_000_000
BOUNDED = ("rating", "period")
QUICK_PER_CALL_UP_TO = 1_000_000
PREFIXES = 12_000
CHECK_CALLS = 20_000
ITEMISED_CALLS = 5_000
SUMMARY_INVOICES = 10_000
QUICK_SUMMARY_INVOICES = 1_000
NIGHTLY_PRIOR_DAYS = 1
# --smoke: tiny inputs that run everything in well under a minute.
SMOKE_SIZES = (2_000,)
SMOKE_PREFIXES = 300
SMOKE_CHECK = 200
SMOKE_ITEMISED = 100
SMOKE_SUMMARY = 50
SMOKE_PRIOR_DAYS = 0
# bench_startup.py: timed runs of each command (median), and untimed warm-up rounds.
STARTUP_RUNS = 10
STARTUP_WARMUP = 1
SMOKE_STARTUP_RUNS = 1
SMOKE_STARTUP_WARMUP = 0

# Peak RSS of each workload per million calls, from the measurements of 2026-11-22 in
# HISTORY.md (rounded up): the rating engine 4,986 MiB at 10M, bench_period's rerate
# 18,824 MiB at 10M, a nightly run like an ingest (6,383 MiB). Baselines and loading
# are estimates of the same order. A size runs when its estimate fits in 95% of the
# memory available at the start.
MIB_PER_MILLION = {
    "rating": 520,
    "baselines": 900,
    "load": 800,
    "nightly": 700,
    "period": 1_900,
}
BASE_MIB = 300
# Above EVERYTHING_UP_TO, rating streams in bounded slices and a period is ingested,
# billed and re-rated in bounded slices (the restructured jobs): each is given this much
# memory, whatever the size (the streamed 100M rating peaked at 10 GiB). Every child of
# rating and period is stopped (reported, not measured) past 90% of what is available.
BOUNDED_MIB = {"rating": 12_288, "period": 12_288}
RSS_LIMIT_SHARE = 0.9
# Disk for generated inputs, outputs, stores and CSV copies, per call. period, measured
# at 1M calls: the canonical Parquet 16 bytes (shared with rating), the store's rated
# Parquet 52, its index 8, rejects 4.4, so 81, and 100 with room to spare (10 GB at 100M).
DISK_BYTES_PER_CALL = {
    "rating": 80,
    "baselines": 60,
    "load": 350,
    "nightly": 300,
    "period": 100,
}

TARGET_MACHINE_GIB = 24
WORKLOADS = ("startup", "rating", "baselines", "load", "nightly", "period", "render")
# Run only when asked for (--suite), never with --smoke: the test suite, once.
SUITE = "suite"
TITLES = {
    "startup": "Start-up of a command that renders nothing",
    "rating": "Rating: `cdr-rating rate` against the I/O floor",
    "baselines": "Rating baselines: per-call Python and DuckDB SQL",
    "load": "Loading Asterisk CSV",
    "nightly": "A nightly run",
    "period": "Period close",
    "rerate": "Re-rating a month",
    "render": "Invoice rendering",
    "suite": "The test suite",
}
SCRIPTS = {
    "startup": "bench_startup.py",
    "rating": "bench_rate.py",
    "baselines": "bench_baselines.py",
    "load": "bench_load.py",
    "nightly": "bench_nightly.py",
    "period": "bench_period.py",
    "render": "bench_render.py",
    "suite": "bench_suite.py",
}


# ---------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``2000``, ``2_000``, ``2,000``, ``2k``, ``1M``, ``1.5M``, ``1G`` -> calls."""
    match = re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMgG]?)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2000, 50k, 1M, 100M)")
    number = float(match.group(1).replace("_", "").replace(",", ""))
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[match.group(2).lower()]
    calls = round(number * scale)
    if calls < 1:
        raise argparse.ArgumentTypeError(f"a size must be at least 1 call: {text!r}")
    return calls


def size_label(calls: int) -> str:
    """``1,000,000`` -> ``1M``, ``2,000`` -> ``2k``; other numbers with separators."""
    for unit, scale in (("M", 10**6), ("k", 10**3)):
        if calls >= scale and calls % scale == 0:
            return f"{calls // scale}{unit}"
    return f"{calls:,}"


@dataclass
class Settings:
    """What to run, after ``--smoke`` and ``--quick`` are applied."""

    sizes: list[int]
    workloads: list[str]
    runs: int
    quick: bool
    smoke: bool
    workdir: Path
    results: Path
    prefixes: int = PREFIXES
    check: int = CHECK_CALLS
    itemised: int = ITEMISED_CALLS
    summary: int = SUMMARY_INVOICES
    prior_days: int = NIGHTLY_PRIOR_DAYS
    startup_runs: int = STARTUP_RUNS
    startup_warmup: int = STARTUP_WARMUP
    suite: bool = False
    workers: int | None = None
    argv: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        """Where the harness keeps its own files (JSON of each run, logs)."""
        return self.workdir / "harness"


def settings_from(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        metavar="N",
        help="calls, e.g. 1M 10M 100M (default); above 10M rating and period only",
    )
    parser.add_argument(
        "--only", nargs="+", choices=WORKLOADS, metavar="WORKLOAD", help=", ".join(WORKLOADS)
    )
    parser.add_argument("--runs", type=int, help="best of this many runs (default 3; 100M: 1)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"per-call baseline up to {size_label(QUICK_PER_CALL_UP_TO)} only, "
        f"{QUICK_SUMMARY_INVOICES:,} summary invoices",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny inputs, to check that everything runs"
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="generated data")
    parser.add_argument(
        "--results",
        type=Path,
        help="report to write (default benchmarks/RESULTS.md; with --smoke "
        "WORKDIR/RESULTS-smoke.md)",
    )
    parser.add_argument("--workers", type=int, help="rendering processes (default: every core)")
    parser.add_argument(
        "--suite",
        action="store_true",
        help="also time the test suite once (python -m pytest -q; not with --smoke)",
    )
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.suite and args.smoke:
        parser.error("--suite times the whole test suite, which runs --smoke itself")
    workdir = args.workdir.resolve()
    if args.smoke:
        settings = Settings(
            sizes=list(args.sizes or SMOKE_SIZES),
            workloads=list(args.only or WORKLOADS),
            runs=args.runs or 1,
            quick=args.quick,
            smoke=True,
            workdir=workdir,
            results=args.results or workdir / "RESULTS-smoke.md",
            prefixes=SMOKE_PREFIXES,
            check=SMOKE_CHECK,
            itemised=SMOKE_ITEMISED,
            summary=SMOKE_SUMMARY,
            prior_days=SMOKE_PRIOR_DAYS,
            startup_runs=SMOKE_STARTUP_RUNS,
            startup_warmup=SMOKE_STARTUP_WARMUP,
        )
    else:
        settings = Settings(
            sizes=list(args.sizes or DEFAULT_SIZES),
            workloads=list(args.only or WORKLOADS),
            runs=args.runs or 3,
            quick=args.quick,
            smoke=False,
            workdir=workdir,
            results=args.results or RESULTS_MD,
            summary=QUICK_SUMMARY_INVOICES if args.quick else SUMMARY_INVOICES,
        )
    settings.sizes = sorted(set(settings.sizes))
    settings.workers = args.workers
    settings.suite = args.suite
    settings.argv = list(argv)
    return settings


# ---------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------


def _proc_value(path: str, key: str) -> str | None:
    """The value of ``key:`` in a ``/proc`` file such as ``/proc/meminfo``."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def memory_mib() -> tuple[float, float]:
    """Total and available memory in MiB (``/proc/meminfo``; 0 when unknown)."""
    total = _proc_value("/proc/meminfo", "MemTotal")
    available = _proc_value("/proc/meminfo", "MemAvailable")
    return (
        int(total.split()[0]) / 1024 if total else 0.0,
        int(available.split()[0]) / 1024 if available else 0.0,
    )


def package_version(name: str) -> str:
    """The installed version of a distribution, or ``not installed``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def duckdb_installed() -> bool:
    return importlib.util.find_spec("duckdb") is not None


def font_subsetting() -> str:
    """Which font subsetting WeasyPrint uses (HarfBuzz, or the slow fontTools)."""
    try:
        from weasyprint.text.ffi import harfbuzz_subset
    except Exception:  # any failure only means "unknown" here
        return "unknown"
    return "HarfBuzz" if harfbuzz_subset else "fontTools (libharfbuzz-subset0 missing)"


def operating_system() -> str:
    pretty = None
    os_release = Path("/etc/os-release")
    if os_release.is_file():
        for line in os_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    kernel = f"{platform.system()} {platform.release()}"
    return f"{pretty}, kernel {kernel}" if pretty else kernel


def machine() -> dict[str, Any]:
    """Cores, memory, CPU, OS, versions and date, as measured when the run starts."""
    total, available = memory_mib()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    duckdb = package_version("duckdb")
    if duckdb != "not installed" and not duckdb_installed():
        duckdb = "not importable"
    return {
        "cores": cores or 1,
        "cpu": _proc_value("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "memory_total_mib": total,
        "memory_available_mib": available,
        "os": operating_system(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "polars": package_version("polars"),
        "pyarrow": package_version("pyarrow"),
        "weasyprint": package_version("weasyprint"),
        "font_subsetting": font_subsetting(),
        "duckdb": duckdb,
        "cdr_rating": package_version("cdr-rating"),
        "started": datetime.now(UTC),
        "load_start": os.getloadavg()[0],
    }


# ---------------------------------------------------------------------------------------
# Jobs: one child process of one script each
# ---------------------------------------------------------------------------------------


@dataclass
class Job:
    """One run of a benchmark script, and what came of it."""

    workload: str
    size: int | None
    arguments: list[str]
    note: str = ""
    data: dict[str, Any] | None = None
    error: str | None = None
    wall_s: float = 0.0

    @property
    def name(self) -> str:
        return self.workload if self.size is None else f"{self.workload}-{self.size}"

    def command(self, json_path: Path) -> list[str]:
        script = BENCH_DIR / SCRIPTS[self.workload]
        return [sys.executable, str(script), *self.arguments, "--json", str(json_path)]

    def shown(self) -> str:
        """The command as a reader would type it, from the repository root."""
        return shlex.join(
            ["python", f"benchmarks/{SCRIPTS[self.workload]}", *self.arguments, "--json", "FILE"]
        )

    def rows(self, measurement: str | None = None) -> list[dict[str, Any]]:
        rows = list(self.data["rows"]) if self.data else []
        return [row for row in rows if measurement is None or row["measurement"] == measurement]

    def row(self, measurement: str) -> dict[str, Any] | None:
        found = self.rows(measurement)
        return found[0] if found else None


@dataclass
class Skipped:
    """A workload at a size that is not run, and why."""

    workload: str
    size: int | None
    reason: str


@dataclass
class Plan:
    jobs: list[Job]
    skipped: list[Skipped]
    sizes_to_generate: list[int]
    rss_limit_mib: float


def needed_mib(workload: str, calls: int) -> float:
    """Estimated peak memory of ``workload`` at ``calls``: ``MIB_PER_MILLION`` up to
    ``EVERYTHING_UP_TO``, the bounded allowance (``BOUNDED_MIB``) above it."""
    if workload in BOUNDED_MIB and calls > EVERYTHING_UP_TO:
        return BOUNDED_MIB[workload]
    return BASE_MIB + MIB_PER_MILLION[workload] * calls / 1e6


def fit_reason(
    workload: str, calls: int, available_mib: float, free_disk: int, smoke: bool
) -> str | None:
    """Why ``workload`` cannot run at ``calls`` on this machine, or None when it fits."""
    if calls > EVERYTHING_UP_TO and workload not in BOUNDED:
        return f"above {size_label(EVERYTHING_UP_TO)} only {' and '.join(BOUNDED)} run"
    if smoke:
        return None
    need = needed_mib(workload, calls)
    if available_mib and need > 0.95 * available_mib:
        return (
            f"needs about {need / 1024:,.1f} GiB of memory, "
            f"{available_mib / 1024:,.1f} GiB available"
        )
    disk = DISK_BYTES_PER_CALL[workload] * calls
    if disk > free_disk:
        return f"needs about {disk / 2**30:,.0f} GB of disk, {free_disk / 2**30:,.0f} GB free"
    return None


def make_plan(settings: Settings, available_mib: float, free_disk: int | None = None) -> Plan:
    """The jobs to run, in order, and what is left out and why.

    ``available_mib`` is the memory available now and ``free_disk`` the free bytes where
    the data goes (default: measured on ``settings.workdir``).
    """
    if free_disk is None:
        settings.workdir.mkdir(parents=True, exist_ok=True)
        free_disk = shutil.disk_usage(settings.workdir).free
    jobs: list[Job] = []
    skipped: list[Skipped] = []
    has_duckdb = duckdb_installed()
    rss_limit = RSS_LIMIT_SHARE * available_mib if available_mib else 0.0
    workdir = str(settings.workdir)
    prefixes = ["--prefixes", str(settings.prefixes)]

    def sized(workload: str, build: Callable[[int], Job | None]) -> None:
        if workload not in settings.workloads:
            return
        for calls in settings.sizes:
            reason = fit_reason(workload, calls, available_mib, free_disk, settings.smoke)
            if reason is None:
                job = build(calls)
                if job is not None:
                    jobs.append(job)
            elif calls <= EVERYTHING_UP_TO or workload in BOUNDED:
                skipped.append(Skipped(workload, calls, reason))

    def rating(calls: int) -> Job:
        runs = 1 if calls > EVERYTHING_UP_TO else settings.runs
        arguments = ["--calls", str(calls), "--runs", str(runs), "--workdir", workdir]
        arguments += [*prefixes, "--no-results"]
        if rss_limit:
            arguments += ["--rss-limit-mib", f"{rss_limit:.0f}"]
        return Job("rating", calls, arguments)

    def baselines(calls: int) -> Job:
        raters = ["engine"]
        notes = []
        if settings.quick and calls > QUICK_PER_CALL_UP_TO:
            notes.append(f"per-call Python not run above {size_label(QUICK_PER_CALL_UP_TO)} "
                         "(--quick)")  # fmt: skip
        else:
            raters.append("per-call")
        if has_duckdb:
            raters.append("duckdb")
        else:
            notes.append("DuckDB not installed")
        check = min(settings.check, calls)
        arguments = ["--calls", str(calls), "--check", str(check), "--raters", *raters]
        arguments += ["--out", workdir, *prefixes]
        return Job("baselines", calls, arguments, note="; ".join(notes))

    def load(calls: int) -> Job:
        arguments = ["--rows", str(calls), "--runs", str(settings.runs), "--workdir", workdir]
        return Job("load", calls, [*arguments, *prefixes])

    def nightly(calls: int) -> Job:
        arguments = ["--calls", str(calls), "--prior-days", str(settings.prior_days)]
        arguments += ["--runs", str(settings.runs), *prefixes]
        arguments += ["--workdir", str(settings.workdir / f"nightly-{calls}")]
        return Job("nightly", calls, arguments)

    def period(calls: int) -> Job:
        arguments = ["--calls", str(calls), "--out", workdir, *prefixes]
        if rss_limit:
            arguments += ["--rss-limit-mib", f"{rss_limit:.0f}"]
        return Job("period", calls, arguments)

    if "startup" in settings.workloads:
        arguments = ["--runs", str(settings.startup_runs)]
        jobs.append(Job("startup", None, [*arguments, "--warmup", str(settings.startup_warmup)]))
    sized("rating", rating)
    sized("baselines", baselines)
    sized("load", load)
    sized("nightly", nightly)
    sized("period", period)
    if "render" in settings.workloads:
        arguments = ["--itemised", str(settings.itemised), "--summary", str(settings.summary)]
        if settings.workers:
            arguments += ["--workers", str(settings.workers)]
        note = ""
        if settings.summary < SUMMARY_INVOICES:
            note = f"{settings.summary:,} summary invoices, the time for 10,000 extrapolated"
            if settings.quick:
                note += " (--quick)"
        jobs.append(Job("render", None, arguments, note=note))
    for workload in WORKLOADS:
        if workload not in settings.workloads:
            skipped.append(Skipped(workload, None, "not asked for (--only)"))
    if settings.suite:
        jobs.append(Job(SUITE, None, []))
    else:
        why = "not run with --smoke" if settings.smoke else "not asked for (--suite)"
        skipped.append(Skipped(SUITE, None, why))
    canonical = {"rating", "baselines", "period"}
    generate_sizes = sorted({job.size for job in jobs if job.workload in canonical and job.size})
    return Plan(jobs, skipped, generate_sizes, rss_limit)


def log(message: str) -> None:
    print(f"[harness {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def generate_data(settings: Settings, sizes: list[int]) -> list[str]:
    """Generate (or find) the canonical datasets; one line per size for the report."""
    lines = []
    for calls in sizes:
        command = [sys.executable, str(BENCH_DIR / "generate.py"), "--calls", str(calls)]
        command += ["--prefixes", str(settings.prefixes), "--out", str(settings.workdir)]
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            lines.append(f"{calls:,} calls: generate.py failed: {_tail(done.stderr, 1)}")
            log(f"generating {calls:,} calls failed:\n{done.stderr}")
        else:
            lines.append(f"{calls:,} calls: ready in {seconds:,.1f} s (generated or reused)")
            log(f"data for {calls:,} calls ready ({seconds:,.1f} s)")
    return lines


def run_job(job: Job, settings: Settings) -> None:
    """Run ``job``'s script; its JSON goes into ``job.data``, a failure into ``job.error``."""
    json_path = settings.data / "json" / f"{job.name}.json"
    log_path = settings.data / "logs" / f"{job.name}.log"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.unlink(missing_ok=True)
    label = f"{job.workload}" + ("" if job.size is None else f" at {job.size:,} calls")
    log(f"{label}: {job.shown()}")
    began = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as output:
        done = subprocess.run(
            job.command(json_path),
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
            cwd=ROOT,
        )
    job.wall_s = time.perf_counter() - began
    if done.returncode != 0:
        job.error = f"exit status {done.returncode}: {_tail(log_path.read_text(), 12)}"
    if json_path.is_file():
        # A script that failed part-way may still have written what it measured
        # (bench_period.py: the steps that ran, and why the others failed).
        try:
            job.data = json.loads(json_path.read_text())
        except json.JSONDecodeError as error:
            job.error = job.error or f"unreadable JSON: {error}"
    elif job.error is None:
        job.error = f"no JSON written (does {SCRIPTS[job.workload]} take --json?)"
    outcome = "failed" if job.error else "done"
    log(f"{label}: {outcome} in {job.wall_s:,.1f} s (log: {log_path})")


def _tail(text: str, lines: int) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept)


# ---------------------------------------------------------------------------------------
# Numbers and verdicts
# ---------------------------------------------------------------------------------------


def num(value: float, decimals: int = 2) -> str:
    return f"{value:,.{decimals}f}"


def seconds_cell(value: float) -> str:
    """A time in seconds for a table: 2 decimals, or 2 significant digits below 0.1 s
    (a smoke run's 4 ms read shows as 0.004, not 0.00)."""
    return num(value) if value >= 0.1 else f"{value:.2g}"


def ratio(value: float) -> str:
    """``1.87x`` below 10, ``31x`` from there: the precision a ratio deserves."""
    return f"{value:,.2f}x" if value < 10 else f"{value:,.0f}x"


def at_most(value: float, limit: float, show: Callable[[float], str]) -> str:
    if value <= limit:
        return f"met, {show(limit - value)} to spare"
    return f"**missed** by {show(value - limit)}"


def at_least(value: float, limit: float, show: Callable[[float], str]) -> str:
    if value >= limit:
        return f"met, {show(value - limit)} to spare"
    return f"**missed** by {show(limit - value)}"


def more_than(value: float, limit: float, show: Callable[[float], str]) -> str:
    if value > limit:
        return f"met, {show(value - limit)} to spare"
    return f"**missed** by {show(limit - value)}"


def seconds_text(value: float) -> str:
    return f"{value:,.1f} s" if value < 120 else f"{value / 60:,.1f} min"


def mib_text(value: float) -> str:
    return f"{value / 1024:,.1f} GiB" if value >= 1024 else f"{value:,.0f} MiB"


@dataclass
class Target:
    """One row of the targets table."""

    name: str
    goal: str
    measured: str
    verdict: str
    source: str


@dataclass
class Results:
    """Everything the report is written from."""

    settings: Settings
    machine: dict[str, Any]
    plan: Plan
    data_lines: list[str]
    finished: datetime
    load_end: float
    wall_s: float

    def jobs(self, workload: str) -> list[Job]:
        return [job for job in self.plan.jobs if job.workload == workload]

    def good(self, workload: str) -> list[Job]:
        return [job for job in self.jobs(workload) if job.data is not None]

    def largest(self, workload: str, up_to: int = EVERYTHING_UP_TO) -> Job | None:
        """The job of ``workload`` with the most calls (at most ``up_to``) that worked."""
        jobs = [job for job in self.good(workload) if job.size and job.size <= up_to]
        return max(jobs, key=lambda job: job.size or 0) if jobs else None

    def skipped(self, workload: str) -> list[Skipped]:
        return [item for item in self.plan.skipped if item.workload == workload]


def _size_note(calls: int | None, wanted: int) -> str:
    if calls is None or calls == wanted:
        return ""
    return f" (at {calls:,} calls; {size_label(wanted)} not run)"


def not_measured(results: Results, workload: str, big: bool = False) -> str:
    """Why ``workload`` has no measurement (``big``: above 10M calls)."""
    for item in results.skipped(workload):
        if item.size is None or (item.size > EVERYTHING_UP_TO) == big:
            return f"not measured: {item.reason}"
    if any(job.error for job in results.jobs(workload)):
        return f"not measured: {SCRIPTS[workload]} failed (see its section)"
    if big and results.settings.smoke:
        return "not measured: not run with --smoke"
    if big:
        return "not measured: no size above 10M asked for (--sizes)"
    return "not measured"


def rating_sizes(job: Job) -> dict[str, Any]:
    sizes: list[dict[str, Any]] = (job.data or {}).get("sizes", [])
    return sizes[0] if sizes else {}


ARCHITECTURE = "ARCHITECTURE.md §11"
Measured = tuple[str, str]  # what was measured, and the verdict


def rating_target(results: Results) -> Measured:
    job = results.largest("rating")
    value = rating_sizes(job).get("engine_over_floor") if job else None
    if job is None or value is None:
        return "-", not_measured(results, "rating")
    return ratio(value) + _size_note(job.size, 10**7), at_most(value, 2.0, ratio)


def baseline_target(
    results: Results,
    measurement: str,
    check: Callable[[float, float, Callable[[float], str]], str],
    limit: float,
) -> Measured:
    """``measurement``'s time / the engine's time in the same run, at the largest size."""
    candidates = []
    for job in results.good("baselines"):
        engine, other = job.row("engine"), job.row(measurement)
        if engine and other and job.size:
            candidates.append((job.size, float(other["wall_s"]) / float(engine["wall_s"])))
    if not candidates:
        if measurement == "DuckDB SQL" and not duckdb_installed():
            return "-", "not measured: DuckDB not installed (`pip install -e '.[bench]'`)"
        why = not_measured(results, "baselines")
        if why == "not measured" and results.settings.quick:
            why = f"not measured: not run above {size_label(QUICK_PER_CALL_UP_TO)} with --quick"
        return "-", why
    calls, value = max(candidates)
    shown = f"{ratio(value)} faster" if value >= 1 else f"{ratio(value)}: the engine is slower"
    return shown + _size_note(calls, 10**7), check(value, limit, ratio)


def streaming_target(results: Results) -> Measured:
    big = [job for job in results.jobs("rating") if job.size and job.size > EVERYTHING_UP_TO]
    if not big:
        return "-", not_measured(results, "rating", big=True)
    job = max(big, key=lambda job: job.size or 0)
    engine = job.row("engine")
    if engine is None:
        return "-", f"not measured: {SCRIPTS['rating']} failed (see its section)"
    peak = float(engine["peak_rss_mib"])
    if engine.get("stopped_over_rss_limit"):
        return (
            f"over {mib_text(peak)}: stopped at the run's memory limit",
            "**missed**: did not finish in the memory of this machine",
        )
    limit = TARGET_MACHINE_GIB * 1024.0
    return mib_text(peak) + _size_note(job.size, 10**8), at_most(peak, limit, mib_text)


def itemised_target(results: Results) -> Measured:
    job = results.good("render")
    row = job[0].row("itemised invoice") if job else None
    if row is None:
        return "-", not_measured(results, "render")
    value = float(row["wall_s"])
    shown = seconds_text(value)
    if int(row["calls"]) != ITEMISED_CALLS:
        shown += f" (at {int(row['calls']):,} calls)"
    return shown, at_most(value, 5.0, seconds_text)


def summary_target(results: Results) -> Measured:
    job = results.good("render")
    row = job[0].row("summary invoices") if job else None
    if row is None:
        return "-", not_measured(results, "render")
    value = float(row["for_target_s"])
    notes = []
    if row.get("extrapolated"):
        notes.append(f"extrapolated from {int(row['invoices']):,}")
    if int(row["workers"]) != 2:
        notes.append(f"on {int(row['workers'])} workers")
    shown = seconds_text(value) + (f" ({', '.join(notes)})" if notes else "")
    return shown, at_most(value, 600.0, seconds_text)


def load_target(results: Results) -> Measured:
    job = results.largest("load")
    reader = job.row("asterisk reader") if job else None
    floor = job.row("polars read_csv") if job else None
    if job is None or reader is None or floor is None:
        return "-", not_measured(results, "load")
    value = float(reader["wall_s"]) / float(floor["wall_s"])
    return ratio(value) + _size_note(job.size, 10**7), at_most(value, 1.5, ratio)


def nightly_target(results: Results) -> Measured:
    job = results.largest("nightly")
    if job is None or not job.rows():
        return "-", not_measured(results, "nightly")
    value = float(job.rows()[0]["bookkeeping_share"]) * 100
    shown = f"{value:.1f}%" + _size_note(job.size, 10**7)
    return shown, at_most(value, 20.0, lambda points: f"{points:.1f} points")


ISSUE_12 = "issue 12"
PERIOD_STEPS = ("ingest", "bill", "rerate")
MONTH_RSS_GROWTH = 1.5  # peak RSS at 100M calls / at 10M, per step, at most


def period_target(results: Results, step: str, key: str, limit: float) -> Measured:
    """``step``'s wall time / the ingest's rating time (``key`` in bench_period.py's JSON),
    from the run of the largest month up to 10M calls."""
    job = results.largest("period")
    if job is None or job.data is None:
        return "-", not_measured(results, "period")
    value = job.data.get(key)
    if value is None:
        failed = job.data.get("failed", {})
        reason = failed.get(step) or failed.get("ingest") or f"no {key} in its JSON"
        return "-", f"not measured: {step} failed at {job.size:,} calls: {reason}"
    row, ingest = job.row(step), job.row("ingest")
    shown = ratio(float(value))
    if row and ingest:
        shown += f" = {num(float(row['wall_s']))} s / {num(float(ingest['rating_s']))} s"
    return shown + _size_note(job.size, 10**7), at_most(float(value), limit, ratio)


def month_rss_target(results: Results, step: str) -> Measured:
    """``step`` of a 100M-call month completes; its peak RSS / the same step's at 10M."""
    big = [job for job in results.jobs("period") if job.size and job.size > EVERYTHING_UP_TO]
    if not big:
        return "-", not_measured(results, "period", big=True)
    job = max(big, key=lambda job: job.size or 0)
    at = f"at {size_label(job.size or 0)}"
    row = job.row(step)
    if row is None:
        return "-", f"**missed**: {SCRIPTS['period']} failed {at} (see its section)"
    if row.get("failed"):
        peak = f"over {mib_text(float(row['peak_rss_mib']))}" if "peak_rss_mib" in row else "-"
        return peak, f"**missed**: did not complete {at}: {row['failed']}"
    peak = float(row["peak_rss_mib"])
    ten = [other for other in results.good("period") if other.size == EVERYTHING_UP_TO]
    reference = ten[0].row(step) if ten else None
    ten_label = size_label(EVERYTHING_UP_TO)
    if reference is None or reference.get("failed"):
        why = reference["failed"] if reference else "not run"
        return "-", (
            f"not measured: no {ten_label} {step} to compare with ({why}); {at}: {mib_text(peak)}"
        )
    reference_peak = float(reference["peak_rss_mib"])
    value = peak / reference_peak
    shown = f"{ratio(value)} ({mib_text(peak)} {at}, {mib_text(reference_peak)} at {ten_label})"
    return shown + _size_note(job.size, 10**8), at_most(value, MONTH_RSS_GROWTH, ratio)


STARTUP_FLOOR = "import polars"
STARTUP_LIMIT = 1.3


def startup_target(results: Results, command: str) -> Measured:
    """The median start-up of ``command`` / that of ``python -c "import polars"``."""
    jobs = results.good("startup")
    if not jobs:
        return "-", not_measured(results, "startup")
    job = jobs[0]
    row, floor = job.row(command), job.row(STARTUP_FLOOR)
    if row is None or floor is None:
        raise KeyError(command if row is None else STARTUP_FLOOR)
    value = float(row["wall_s"]) / float(floor["wall_s"])
    shown = (
        f"{ratio(value)} = {num(float(row['wall_s']), 3)} s / {num(float(floor['wall_s']), 3)} "
        f"s (medians of {int(row['runs'])})"
    )
    weasyprint = (job.data or {}).get("weasyprint_imported", {}).get(command)
    if weasyprint is not None:
        shown += "; imports WeasyPrint" if weasyprint else "; WeasyPrint not imported"
    return shown, at_most(value, STARTUP_LIMIT, ratio)


SUITE_LIMIT_S = 480.0


def suite_target(results: Results) -> Measured:
    jobs = results.good(SUITE)
    if not jobs or not jobs[0].rows():
        return "-", not_measured(results, SUITE)
    data = jobs[0].data or {}
    value = float(jobs[0].rows()[0]["wall_s"])
    counts = data.get("counts", {})
    failing = int(counts.get("failed", 0)) + int(counts.get("errors", 0))
    shown = f"{seconds_text(value)} on {data.get('cores', '?')} cores"
    if failing:
        shown += f" ({failing} failed)"
    return shown, at_most(value, SUITE_LIMIT_S, seconds_text)


TARGETS: list[tuple[str, str, str, Callable[[Results], Measured]]] = [
    ("Rating 10M calls: engine time / floor time", "≤ 2x", ARCHITECTURE, rating_target),
    (
        "Per-call Python time / engine time",
        "≥ 30x",
        ARCHITECTURE,
        lambda results: baseline_target(results, "per-call Python", at_least, 30.0),
    ),
    (
        "DuckDB SQL time / engine time",
        "> 1x",
        ARCHITECTURE,
        lambda results: baseline_target(results, "DuckDB SQL", more_than, 1.0),
    ),
    (
        "Rating 100M calls, streaming: engine peak RSS",
        f"< {TARGET_MACHINE_GIB} GiB",
        ARCHITECTURE,
        streaming_target,
    ),
    (f"Itemised invoice, {ITEMISED_CALLS:,} calls", "< 5 s", ARCHITECTURE, itemised_target),
    (
        f"{SUMMARY_INVOICES:,} summary invoices on 2 cores",
        "< 10 min",
        ARCHITECTURE,
        summary_target,
    ),
    (
        "Loading Asterisk CSV: reader time / read_csv time",
        "≤ 1.5x",
        "bench_load.py",
        load_target,
    ),
    (
        "Nightly run: bookkeeping share of the wall time",
        "< 20%",
        "bench_nightly.py",
        nightly_target,
    ),
    (
        "Billing a 10M-call month: bill time / ingest rating time",
        "≤ 0.5x",
        ISSUE_12,
        lambda results: period_target(results, "bill", "bill_over_rating", 0.5),
    ),
    (
        "Re-rating a 10M-call month: rerate preview time / ingest rating time",
        "≤ 1.5x",
        ISSUE_12,
        lambda results: period_target(results, "rerate", "rerate_over_rating", 1.5),
    ),
    *[
        (
            f"A 100M-call month completes, {step}: peak RSS at 100M / at 10M",
            f"≤ {MONTH_RSS_GROWTH}x",
            ISSUE_12,
            lambda results, step=step: month_rss_target(results, step),
        )
        for step in PERIOD_STEPS
    ],
    *[
        (
            f"Start-up, `{command}`: time / `import polars` time",
            f"≤ {STARTUP_LIMIT}x",
            ISSUE_12,
            lambda results, command=command: startup_target(results, command),
        )
        for command in ("cdr-rating --help", "cdr-rating rate --help")
    ],
    (
        "The test suite (`python -m pytest -q`) on 2 cores",
        f"< {SUITE_LIMIT_S / 60:.0f} min",
        ISSUE_12,
        suite_target,
    ),
]


def targets(results: Results) -> list[Target]:
    """Each target, its measurement and the margin by which it is met or missed.

    A script whose JSON lacks a number the target needs gives "not measured", not a
    crash: the report is still written.
    """
    found = []
    for name, goal, source, measure in TARGETS:
        try:
            measured, verdict = measure(results)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
            measured, verdict = "-", f"not measured: unexpected JSON ({error!r})"
        found.append(Target(name, goal, measured, verdict, source))
    return found


# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------


def machine_block(results: Results) -> list[str]:
    found = results.machine
    subsetting = f" (font subsetting: {found['font_subsetting']})"
    total, available = found["memory_total_mib"], found["memory_available_mib"]
    return [
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| cores | {found['cores']} |",
        f"| CPU | {found['cpu']} |",
        f"| memory | {total / 1024:,.1f} GiB, {available / 1024:,.1f} GiB available at the start |",
        f"| OS | {found['os']} |",
        f"| Python | {found['python']} |",
        f"| Polars | {found['polars']} |",
        f"| PyArrow | {found['pyarrow']} |",
        f"| WeasyPrint | {found['weasyprint']}{subsetting} |",
        f"| DuckDB | {found['duckdb']} |",
        f"| cdr-rating | {found['cdr_rating']} |",
        f"| date | {found['started']:%Y-%m-%d %H:%M} UTC |",
        f"| load average | {found['load_start']:.1f} at the start, "
        f"{results.load_end:.1f} at the end |",
    ]


ROW_HEADER = [
    "| calls | measurement | wall (s) | CPU (s) | calls/s | peak RSS (MiB) | notes |",
    "|---:|---|---:|---:|---:|---:|---|",
]


def table_row(row: dict[str, Any], note: str = "", count_key: str = "calls") -> str:
    rate_key = "invoices_per_s" if count_key == "invoices" else "calls_per_s"
    rate = float(row[rate_key])
    wall, cpu = seconds_cell(float(row["wall_s"])), seconds_cell(float(row["cpu_s"]))
    return (
        f"| {int(row[count_key]):,} | {row['measurement']} | {wall} | "
        f"{cpu} | {rate:,.0f} | {float(row['peak_rss_mib']):,.0f} | "
        f"{note} |"
    )


def failed_row(calls: Any, measurement: str, reason: str, row: dict[str, Any] | None = None) -> str:
    """A row of something that did not complete: what it reached, and why."""
    row = row or {}
    wall = seconds_cell(float(row["wall_s"])) if "wall_s" in row else "-"
    cpu = seconds_cell(float(row["cpu_s"])) if "cpu_s" in row else "-"
    peak = f"{float(row['peak_rss_mib']):,.0f}" if "peak_rss_mib" in row else "-"
    count = f"{int(calls):,}" if isinstance(calls, int | float) else "-"
    shown = " ".join(reason.split()).replace("|", "/")
    return f"| {count} | {measurement} | {wall} | {cpu} | - | {peak} | failed: {shown} |"


def rating_rows(job: Job) -> list[str]:
    lines = []
    size = rating_sizes(job)
    limit = (job.data or {}).get("rss_limit_mib")
    for row in job.rows():
        notes = [f"best of {row.get('runs', 1)}"]
        engine = row["measurement"] == "engine"
        if row.get("stopped_over_rss_limit"):
            passed = f": memory passed {mib_text(float(limit))}" if limit else ""
            notes.append(f"**stopped**{passed}, unfinished")
        elif row.get("vs_floor") is not None:
            value = ratio(float(row["vs_floor"]))
            notes.append(f"engine / floor {value}" if engine else f"{value} the fastest floor")
            if engine:
                notes.append(f"{int(size.get('rated_rows', 0)):,} rated rows written")
        parts = len(size.get("inputs", [])) if engine else 0
        if parts > 1:
            notes.append(f"input: {parts} Parquet parts")
        lines.append(table_row(row, "; ".join(notes)))
    return lines


def workload_section(results: Results, workload: str) -> list[str]:
    """The heading, what is measured, the table, and the commands of one workload."""
    source = "period" if workload == "rerate" else workload
    lines = [f"## {TITLES[workload]}", "", DESCRIPTIONS[workload], ""]
    jobs = results.jobs(source)
    body: list[str] = []
    problems = []
    for job in jobs:
        if job.data is None:
            if job.error:  # the script failed before writing what it measured
                name = "rerate" if workload == "rerate" else SCRIPTS[source]
                body.append(failed_row(job.size, name, _tail(job.error, 1)))
            continue
        try:
            body += ROW_BUILDERS[workload](job)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
            problems.append(f"- unexpected JSON from {SCRIPTS[source]}: {error!r}")
    lines += HEADERS.get(workload, ROW_HEADER)
    lines += body or ["| - | not measured | - | - | - | - | see below |"]
    lines += ["", *problems]
    if workload == "startup":
        lines += startup_notes(results)
    if workload == "rerate":
        lines += [f"- measured by the runs of {SCRIPTS[source]} under {TITLES[source]}", ""]
        return lines
    for job in jobs:
        where = "" if job.size is None else f" ({job.size:,} calls)"
        if job.error:
            lines += [f"- **failed**{where}, after {job.wall_s:,.0f} s:", "", "  ```"]
            lines += [f"  {line}" for line in job.error.splitlines()]
            lines += ["  ```"]
        if job.note:
            lines.append(f"- {job.note}{where}")
    for item in results.skipped(source):
        where = "" if item.size is None else f" at {item.size:,} calls"
        lines.append(f"- not run{where}: {item.reason}")
    if jobs:
        lines.append("- commands run, and how long each took:")
        lines += [f"  - `{job.shown()}`: {seconds_text(job.wall_s)}" for job in jobs]
    lines.append("")
    return lines


def relative_rows(job: Job, reference: str, reference_note: str, of: str) -> list[str]:
    """Rows with each measurement's time as a multiple of the ``reference`` one's."""
    base = job.row(reference)
    lines = []
    for row in job.rows():
        note = reference_note
        if base and row["measurement"] != reference:
            note = f"{ratio(float(row['wall_s']) / float(base['wall_s']))} {of}"
        lines.append(table_row(row, note))
    return lines


def baseline_rows(job: Job) -> list[str]:
    return relative_rows(
        job, "engine", "the time the baselines are divided by", "the engine's time"
    )


def load_rows(job: Job) -> list[str]:
    return relative_rows(job, "polars read_csv", "the floor", "read_csv's time")


def nightly_rows(job: Job) -> list[str]:
    lines = []
    prior = job.data.get("prior_days", 0) if job.data else 0
    files = job.data.get("files", 24) if job.data else 24
    for row in job.rows():
        note = (
            f"{files} files, {prior} night(s) stored before; "
            f"rating {num(float(row['rating_s']))} s, "
            f"bookkeeping {num(float(row['bookkeeping_s']))} s "
            f"({float(row['bookkeeping_share']):.1%} of wall), start-up "
            f"{num(float(row['startup_s']))} s; best of {row.get('runs', 1)}"
        )
        lines.append(table_row(row, note))
    return lines


def period_rows(job: Job) -> list[str]:
    lines = []
    for row in job.rows():
        if row["measurement"] in ("ingest", "bill") and row.get("failed"):
            lines.append(failed_row(row["calls"], row["measurement"], row["failed"], row))
            continue
        if row["measurement"] == "ingest":
            note = f"`run --period`; rating steps {num(float(row.get('rating_s', 0)))} s of it"
        elif row["measurement"] == "bill":
            note = (
                f"{int(row.get('bills', 0)):,} bills, "
                f"{int(row.get('covered_calls', 0)):,} calls touched by allowances"
            )
            if job.data and job.data.get("bill_over_rating") is not None:
                note += f"; {ratio(float(job.data['bill_over_rating']))} the ingest's rating time"
        else:
            continue
        lines.append(table_row(row, note))
    return lines


def rerate_rows(job: Job) -> list[str]:
    row = job.row("rerate")
    if row is None or job.data is None:
        return []
    if row.get("failed"):
        return [failed_row(row["calls"], "rerate", row["failed"], row)]
    note = (
        f"{ratio(float(job.data['rerate_over_rating']))} the ingest's rating time, "
        f"{ratio(float(job.data['rerate_over_ingest']))} the whole ingest; "
        f"{int(row.get('calls_changed', 0)):,} calls changed"
    )
    return [table_row(row, note)]


def render_rows(job: Job) -> list[str]:
    lines = []
    for row in job.rows():
        if row["measurement"] == "itemised invoice":
            note = (
                f"{int(row['calls']):,} calls, {row.get('pages', '?')} pages; HTML "
                f"{num(float(row['html_s']))} s, PDF {num(float(row['pdf_s']))} s; start-up "
                f"{num(float(row['startup_s']))} s not included"
            )
        else:
            extrapolated = " (extrapolated)" if row.get("extrapolated") else ""
            note = (
                f"{int(row['workers'])} workers (peak RSS: the largest); "
                f"{float(row['cpu_ms_per_invoice']):,.0f} ms CPU and "
                f"{float(row['pdf_kib']):,.0f} KiB each; {int(row['target_invoices']):,} in "
                f"{seconds_text(float(row['for_target_s']))}{extrapolated}, "
                f"{seconds_text(float(row['for_target_from_cpu_s']))} from CPU time"
            )
        lines.append(table_row(row, note, count_key="invoices"))
    return lines


def startup_rows(job: Job) -> list[str]:
    lines = []
    for row in job.rows():
        if row["measurement"] == STARTUP_FLOOR:
            note = "the floor: every command imports Polars"
        else:
            note = f"{ratio(float(row['vs_import_polars']))} `import polars` (medians)"
            imported = (job.data or {}).get("imports", {}).get(row["measurement"])
            if imported is not None:
                weasyprint = "imports" if "weasyprint" in imported else "does not import"
                note += f"; {weasyprint} WeasyPrint"
        lines.append(
            f"| {int(row['runs'])} | {row['measurement']} | {seconds_cell(float(row['wall_s']))} | "
            f"{seconds_cell(float(row['min_wall_s']))} | {seconds_cell(float(row['cpu_s']))} | "
            f"{float(row['peak_rss_mib']):,.0f} | {note} |"
        )
    return lines


def startup_notes(results: Results) -> list[str]:
    """Which heavy packages the commands import, and what they cost."""
    lines = []
    for job in results.good("startup"):
        data = job.data or {}
        times = data.get("import_time_ms", {})
        for command, packages in data.get("imports", {}).items():
            costs = times.get(command, {})
            shown = ", ".join(
                f"{name} ({costs[name]:,.0f} ms)" if name in costs else name for name in packages
            )
            lines.append(
                f"- `{command}` imports {shown or 'none of them'} (cumulative `-X importtime`)"
            )
    return lines


def suite_rows(job: Job) -> list[str]:
    data = job.data or {}
    lines = []
    for row in job.rows():
        note = f"`{' '.join(data.get('command', []))}`: {data.get('summary', '')}"
        wall, cpu = seconds_cell(float(row["wall_s"])), seconds_cell(float(row["cpu_s"]))
        lines.append(
            f"| {int(row['tests']):,} | {row['measurement']} | {wall} | {cpu} | "
            f"{data.get('cores', '-')} | {float(row['peak_rss_mib']):,.0f} | {note} |"
        )
    return lines


HEADERS = {
    "render": [
        "| invoices | measurement | wall (s) | CPU (s) | invoices/s | peak RSS (MiB) | notes |",
        "|---:|---|---:|---:|---:|---:|---|",
    ],
    "startup": [
        "| runs | measurement | median wall (s) | fastest (s) | median CPU (s) "
        "| peak RSS (MiB) | notes |",
        "|---:|---|---:|---:|---:|---:|---|",
    ],
    SUITE: [
        "| tests | measurement | wall (s) | CPU (s) | cores | peak RSS (MiB) | notes |",
        "|---:|---|---:|---:|---:|---:|---|",
    ],
}

ROW_BUILDERS: dict[str, Callable[[Job], list[str]]] = {
    "startup": startup_rows,
    SUITE: suite_rows,
    "rating": rating_rows,
    "baselines": baseline_rows,
    "load": load_rows,
    "nightly": nightly_rows,
    "period": period_rows,
    "rerate": rerate_rows,
    "render": render_rows,
}

DESCRIPTIONS = {
    "rating": (
        "`bench_rate.py`: Parquet in, Parquet out. The floor is Polars reading the input "
        "and writing an output of the engine's shape and size: `eager` reads it whole "
        "(up to 10M calls), `streaming` is `scan_parquet` to `sink_parquet`. The engine "
        "is `cdr-rating rate INPUT... --sheet SHEET --out OUT`; above 10M calls the input "
        "is Parquet parts of 10M and the engine streams them. Each figure is a child "
        "process, start-up included; wall and CPU are the best run, peak RSS the highest."
    ),
    "baselines": (
        "`bench_baselines.py`: the same rules rated by the engine (`rate_to_file`), by a "
        "per-call Python loop (one thread) and by DuckDB SQL, each in a child process "
        "timed after its imports, reading the Parquet input and writing Parquet. All "
        "three first agree on every charge of a sample of calls."
    ),
    "load": (
        "`bench_load.py`: Asterisk `Master.csv` of the same traffic; Polars `read_csv` "
        "(the floor), the Asterisk reader, and the reader plus `prepare_calls` "
        "(everything before rating). Timed inside a child process, imports excluded."
    ),
    "nightly": (
        "`bench_nightly.py`: one night of `cdr-rating run` (24 hourly CSV files) in a "
        "child process, with earlier nights already stored; rating versus bookkeeping "
        "(hashing, duplicate check, store, manifest, ledger). Start-up included."
    ),
    "period": (
        "`bench_period.py`: a month of calls for 10,000 accounts. `ingest` is "
        "`cdr-rating run --period 2026-10 --config CONFIG` on an empty data folder (its "
        "rating steps, `plan` + `rate` + `rejects`, from the run's manifest); `bill` "
        "reads the stored month and computes every account's bill (allowances, fees, "
        "taxes), what `run --close` does before rendering. Each step is a child process, "
        "start-up included, stopped past 90% of the memory available at the start. "
        "Targets: bill at most 0.5x the ingest's rating time; at 100M calls every step "
        "completes, its peak RSS at most 1.5x that at 10M."
    ),
    "rerate": (
        "`bench_period.py`: `cdr-rating rerate --period 2026-10 --format json --config "
        "CONFIG`, a preview: re-rate every stored call of the month and re-bill it, "
        "nothing written. Target: at most 1.5x the rating time of the ingest."
    ),
    "startup": (
        "`bench_startup.py`: commands that render nothing, each a child process run "
        '`--runs` times interleaved after a warm-up round: `python -c "import polars"` '
        "(the floor), the installed `cdr-rating --help`, `python -m cdr_rating --help` "
        "and `cdr-rating rate --help` (the start-up `cdr-rating rate` pays). Median and "
        "fastest wall time, median CPU, peak RSS; which heavy packages `cdr-rating --help` "
        "imports (WeasyPrint should not be among them). Target: at most 1.3x `import "
        "polars`."
    ),
    SUITE: (
        "`bench_suite.py` (with `--suite` only): `python -m pytest -q -p no:cacheprovider` "
        "once, from the repository root, in a child process. Target: under 8 minutes on "
        "2 cores."
    ),
    "render": (
        "`bench_render.py`: one itemised invoice (`render_pdf`, warm) and many summary "
        "invoices written to PDF by `render_pdfs` on every core, pool start included."
    ),
}


def report(results: Results) -> str:
    settings = results.settings
    started = results.machine["started"]
    sizes = ", ".join(size_label(size) for size in settings.sizes)
    modes = []
    if settings.smoke:
        modes.append("--smoke: tiny inputs, the numbers only show that everything runs")
    if settings.quick:
        modes.append(
            f"--quick: per-call Python up to {size_label(QUICK_PER_CALL_UP_TO)} only, "
            f"{settings.summary:,} summary invoices"
        )
    mode = f" ({'; '.join(modes)})" if modes else ""
    failed = [job for job in results.plan.jobs if job.error]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `benchmarks/harness.py` on {started:%Y-%m-%d}; each run replaces this "
        "file. [README.md](README.md) says what every benchmark measures; earlier, "
        "hand-collected measurements are in [HISTORY.md](HISTORY.md).",
        "",
        f"- command: `{shlex.join(['python', 'benchmarks/harness.py', *settings.argv])}`",
        f"- sizes: {sizes} calls{mode}; above {size_label(EVERYTHING_UP_TO)} "
        f"{' and '.join(BOUNDED)} only",
        f"- took {seconds_text(results.wall_s)}, from {started:%H:%M} to "
        f"{results.finished:%H:%M} UTC; data in `{settings.workdir}`",
    ]
    lines += [f"- data: {line}" for line in results.data_lines]
    if failed:
        lines.append(
            f"- **{len(failed)} benchmark(s) failed**: "
            + ", ".join(
                f"{job.workload}" + ("" if job.size is None else f" at {job.size:,}")
                for job in failed
            )
        )
    lines.append("")
    lines += machine_block(results)
    lines += [
        "",
        "## Targets",
        "",
        "Every ratio divides two wall times of the same work on the same calls and is "
        "named by what it divides: **engine time / X time** is better lower (1.8x: the "
        "engine takes 1.8 times as long as X), **X time / engine time** is better higher "
        "(31x: X takes 31 times as long, the engine is 31x faster). A margin is the "
        'distance to the target in the target\'s own unit ("missed by 0.4x" is '
        "engine / floor = 2.4x against ≤ 2x).",
        "",
        "| target | goal | measured | verdict | source |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {target.name} | {target.goal} | {target.measured} | {target.verdict} "
        f"| {target.source} |"
        for target in targets(results)
    ]
    lines.append("")
    sections = ("rating", "baselines", "load", "nightly", "period", "rerate", "render")
    for workload in (*sections, "startup", SUITE):
        lines += workload_section(results, workload)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip() + "\n"


def results_json(results: Results) -> dict[str, Any]:
    machine_info = dict(results.machine)
    machine_info["started"] = results.machine["started"].isoformat()
    return {
        "machine": machine_info,
        "argv": results.settings.argv,
        "wall_s": results.wall_s,
        "jobs": [
            {
                "workload": job.workload,
                "size": job.size,
                "command": job.shown(),
                "wall_s": job.wall_s,
                "error": job.error,
                "data": job.data,
            }
            for job in results.plan.jobs
        ],
        "skipped": [vars(item) for item in results.plan.skipped],
    }


def main(argv: Sequence[str] | None = None) -> int:
    settings = settings_from(sys.argv[1:] if argv is None else argv)
    began = time.perf_counter()
    found = machine()
    plan = make_plan(settings, found["memory_available_mib"])
    for item in plan.skipped:
        where = "" if item.size is None else f" at {item.size:,} calls"
        log(f"not running {item.workload}{where}: {item.reason}")
    data_lines = generate_data(settings, plan.sizes_to_generate)
    for job in plan.jobs:
        run_job(job, settings)
    results = Results(
        settings,
        found,
        plan,
        data_lines,
        datetime.now(UTC),
        os.getloadavg()[0],
        time.perf_counter() - began,
    )
    text = report(results)
    settings.data.mkdir(parents=True, exist_ok=True)
    settings.results.parent.mkdir(parents=True, exist_ok=True)
    partial = settings.results.with_name(f".{settings.results.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(settings.results)
    (settings.data / "results.json").write_text(
        json.dumps(results_json(results), indent=2, default=str) + "\n", encoding="utf-8"
    )
    log(f"wrote {settings.results}; the run took {seconds_text(results.wall_s)}")
    failed = [job for job in plan.jobs if job.error]
    for job in failed:
        log(f"FAILED: {job.workload} {job.size or ''}: {job.error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
