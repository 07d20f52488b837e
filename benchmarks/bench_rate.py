"""Rating throughput against the Parquet I/O floor (ARCHITECTURE.md section 11).

For each size it times, best of ``--runs`` interleaved runs, each in its own child
process:

* ``floor (eager)``: Polars reads the input Parquet and writes an output Parquet with
  the engine's output schema and as many rows as the input (up to 10M calls only: above
  that it would hold the whole input in memory);
* ``floor (streaming)``: the same as a ``scan_parquet`` -> ``sink_parquet`` pipeline;
* ``engine``: ``cdr-rating rate INPUT... --sheet SHEET --out OUT``.

A dataset of several Parquet parts (``generate.py`` splits above 10M calls) is read
whole: the floor reads every part and writes one output, the engine gets every part.
The floor is the faster of the floor variants; the target is engine <= 2x floor.
Peak RSS is the child's ``ru_maxrss`` and CPU its user + system time, both as reported
by ``wait4``; ``--rss-limit-mib`` stops a child whose memory passes the limit (it is
reported, not measured). The markdown table is printed and appended to
``benchmarks/HISTORY.md`` with a description of the machine; ``--json FILE`` also
writes the measurements as JSON (what ``harness.py`` reads).

Example::

    python benchmarks/bench_rate.py --calls 1000000 10000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate

BENCH_DIR = Path(__file__).resolve().parent
HISTORY_MD = BENCH_DIR / "HISTORY.md"
DEFAULT_WORKDIR = Path("/tmp/cdr-bench")
SCHEMA_SAMPLE_CALLS = 2_000
RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "Appended by `bench_rate.py`, newest last; README.md says what each column means.\n\n"
)
FLOOR_MODES = ("eager", "streaming")
# Above this many calls the eager floor is not run: it holds the whole input in memory.
EAGER_FLOOR_MAX_CALLS = 10_000_000
WATCH_INTERVAL_S = 0.1

# Output columns of the engine that are computed from an input column of another name.
DERIVED_FROM = {
    "duration_s": "duration",
    "billable_s": "duration",
    "number": "callee",
    "caller_number": "caller",
    "duration_ms": "duration",
    "prefix": "callee",
    "destination": "callee",
}


@dataclass
class Measurement:
    """Wall times and peak memory of repeated runs of one command.

    ``stopped`` is set when a run passed the RSS limit and was killed: its times are
    then those of an unfinished run, and no further run of the command is made.
    """

    name: str
    calls: int
    command: list[str]
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_rss_bytes: int = 0
    last_stderr: str = ""
    stopped: bool = False

    @property
    def best_s(self) -> float:
        return min(self.wall_s)

    @property
    def best_cpu_s(self) -> float:
        return min(self.cpu_s)

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.best_s

    def as_row(self, floor_s: float | None) -> dict[str, Any]:
        """The JSON row of this measurement (``harness.py`` reads these)."""
        return {
            "measurement": self.name,
            "calls": self.calls,
            "wall_s": self.best_s,
            "cpu_s": self.best_cpu_s,
            "peak_rss_mib": self.peak_rss_bytes / 2**20,
            "calls_per_s": self.calls_per_s,
            "runs": len(self.wall_s),
            "wall_s_of_runs": self.wall_s,
            "vs_floor": None if floor_s is None or self.stopped else self.best_s / floor_s,
            "stopped_over_rss_limit": self.stopped,
        }


@dataclass(frozen=True)
class ChildRun:
    """One finished child process.

    ``stopped`` means it was killed because its RSS passed the limit it was run with.
    """

    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int
    stderr: str
    stdout: str = ""
    stopped: bool = False


class BenchmarkError(RuntimeError):
    """A measured command failed."""


def current_rss_bytes(pid: int) -> int:
    """Resident memory of a live process (``VmRSS``), 0 when it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class RssWatchdog:
    """Kills a child whose resident memory passes ``limit_bytes``, checking every 0.1 s.

    Protects a shared machine from a run that does not fit (the kernel's OOM killer
    might pick another process). The child is only signalled while it is unreaped:
    the caller waits with ``WNOWAIT`` first and calls :meth:`stop` before reaping.
    """

    def __init__(self, pid: int, limit_bytes: int) -> None:
        self.pid = pid
        self.limit_bytes = limit_bytes
        self.fired = False
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(WATCH_INTERVAL_S):
            if current_rss_bytes(self.pid) > self.limit_bytes:
                with self._lock:
                    if not self._done.is_set():
                        os.kill(self.pid, signal.SIGKILL)
                        self.fired = True
                return

    def stop(self) -> bool:
        """Stop watching; whether the child was killed."""
        with self._lock:
            self._done.set()
        self._thread.join()
        return self.fired


def run_child(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    capture_stdout: bool = False,
    rss_limit_bytes: int | None = None,
) -> ChildRun:
    """Run ``command``, timing it and reading its own peak RSS and CPU from ``wait4``.

    Peak RSS and CPU cover the child and every descendant it waited for. stdout (with
    ``capture_stdout``, else discarded) and stderr go to temporary files rather than
    pipes, so a chatty child cannot block. With ``rss_limit_bytes`` the child is killed
    when its resident memory passes the limit, and the result says so.
    """
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        began = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdout=stdout if capture_stdout else subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
        watchdog = RssWatchdog(process.pid, rss_limit_bytes) if rss_limit_bytes else None
        if watchdog is not None:
            # Wait without reaping, so the watchdog never signals a recycled pid.
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
            wall_s = time.perf_counter() - began
            stopped = watchdog.stop()
        _, status, usage = os.wait4(process.pid, 0)
        if watchdog is None:
            wall_s = time.perf_counter() - began
            stopped = False
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        return ChildRun(
            wall_s=wall_s,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_bytes=usage.ru_maxrss * 1024,
            returncode=process.returncode,
            stderr=stderr.read().decode(errors="replace"),
            stdout=stdout.read().decode(errors="replace"),
            stopped=stopped,
        )


def measure(measurements: list[Measurement], runs: int, rss_limit_bytes: int | None = None) -> None:
    """Run every command ``runs`` times, interleaved, recording into ``measurements``.

    Interleaving (A B C A B C ...) exposes every command to the same background load,
    which keeps the ratios meaningful on a shared machine. A command stopped for passing
    ``rss_limit_bytes`` is recorded as stopped and not run again. Raises
    :class:`BenchmarkError` when a run fails.
    """
    for _ in range(runs):
        for measurement in measurements:
            if measurement.stopped:
                continue
            child = run_child(measurement.command, rss_limit_bytes=rss_limit_bytes)
            if child.returncode != 0 and not child.stopped:
                raise BenchmarkError(
                    f"{measurement.name} exited with {child.returncode}: "
                    f"{shlex.join(measurement.command)}\n{child.stderr.strip()[-3000:]}"
                )
            measurement.wall_s.append(child.wall_s)
            measurement.cpu_s.append(child.cpu_s)
            measurement.peak_rss_bytes = max(measurement.peak_rss_bytes, child.peak_rss_bytes)
            measurement.last_stderr = child.stderr
            measurement.stopped = child.stopped


# ---------------------------------------------------------------------------------------
# The I/O floor
# ---------------------------------------------------------------------------------------


def floor_frame(
    calls: pl.LazyFrame, input_schema: pl.Schema, schema: pl.Schema, input_name: str = ""
) -> pl.LazyFrame:
    """A frame with ``schema`` and one row per input call, built by cheap column copies.

    Columns the input has are cast; the others are derived from a similar input column
    (so they have realistic cardinality for the Parquet encoder), falling back to a
    value of the right type. ``file`` and ``line`` (input provenance) are the input's
    name and the row number.
    """
    calls = calls.with_row_index("__line", offset=1)
    expressions = []
    for name, dtype in schema.items():
        if name == "file" and (dtype == pl.String or isinstance(dtype, pl.Categorical)):
            source = pl.lit(input_name)
        elif name == "line" and dtype.is_integer():
            source = pl.col("__line")
        elif name in input_schema:
            source = pl.col(name)
        elif name in DERIVED_FROM and DERIVED_FROM[name] in input_schema:
            source = pl.col(DERIVED_FROM[name])
            if name == "prefix":
                source = source.str.slice(1, 5)
            elif name == "destination":
                source = pl.format("Destination {}", source.str.slice(1, 4))
        else:
            source = _stand_in(dtype, input_schema)
        expressions.append(_cast_like(source, dtype).alias(name))
    return calls.select(expressions)


def _stand_in(dtype: pl.DataType, input_schema: pl.Schema) -> pl.Expr:
    if dtype.is_numeric() and "duration" in input_schema:
        return pl.col("duration")
    if isinstance(dtype, pl.Datetime) and "start" in input_schema:
        return pl.col("start")
    if dtype == pl.String and "callee" in input_schema:
        return pl.col("callee").str.slice(1, 2)
    if dtype == pl.Boolean and "duration" in input_schema:
        return pl.col("duration") > 0
    return pl.lit(None)


def _cast_like(source: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Enum):
        return pl.lit(dtype.categories[0] if len(dtype.categories) else None, dtype=dtype)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return source.cast(pl.Datetime(dtype.time_unit, "UTC")).dt.convert_time_zone(
            dtype.time_zone
        )
    return source.cast(dtype, strict=False)


def floor_copy(inputs: Sequence[Path], output_path: Path, schema_source: Path, mode: str) -> None:
    """Read every file of ``inputs``, write one ``output_path`` with the schema of
    ``schema_source`` (``file`` and ``line`` per input file, as the engine writes them).
    """
    schema = pl.Schema(pl.read_parquet_schema(schema_source))
    if mode == "eager":
        frames = [pl.read_parquet(path) for path in inputs]
        lazy = [
            floor_frame(calls.lazy(), calls.schema, schema, path.name)
            for calls, path in zip(frames, inputs, strict=True)
        ]
        pl.concat(lazy).collect().write_parquet(output_path)
    elif mode == "streaming":
        scans = [pl.scan_parquet(path) for path in inputs]
        lazy = [
            floor_frame(scan, scan.collect_schema(), schema, path.name)
            for scan, path in zip(scans, inputs, strict=True)
        ]
        pl.concat(lazy).sink_parquet(output_path)
    else:
        raise ValueError(f"unknown floor mode {mode!r}; use one of {FLOOR_MODES}")


def floor_command(
    inputs: Sequence[Path], output_path: Path, schema_source: Path, mode: str
) -> list[str]:
    """The child command that runs :func:`floor_copy`."""
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--floor-child",
        mode,
        str(output_path),
        str(schema_source),
        *map(str, inputs),
    ]


def floor_modes(calls: int) -> tuple[str, ...]:
    """The floors measured at ``calls``: no eager one above ``EAGER_FLOOR_MAX_CALLS``."""
    if calls > EAGER_FLOOR_MAX_CALLS:
        return tuple(mode for mode in FLOOR_MODES if mode != "eager")
    return FLOOR_MODES


# ---------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------


def find_engine() -> list[str]:
    """The installed ``cdr-rating`` console script (on PATH or beside this Python)."""
    beside_python = Path(sys.executable).parent / "cdr-rating"
    found = shutil.which("cdr-rating") or (str(beside_python) if beside_python.exists() else None)
    if found is None:
        raise BenchmarkError("cdr-rating is not installed; run `pip install -e .` first")
    return [found]


def engine_command(
    engine: list[str], inputs: Sequence[Path], sheet: Path, output: Path
) -> list[str]:
    return [*engine, "rate", *map(str, inputs), "--sheet", str(sheet), "--out", str(output)]


def engine_schema_sample(engine: list[str], cdrs: Path, sheet: Path, work: Path) -> Path:
    """Rate the first calls of ``cdrs`` and return the output file (for its schema)."""
    sample_in = work / "schema-sample-in.parquet"
    sample_out = work / "schema-sample-out.parquet"
    pl.scan_parquet(cdrs).head(SCHEMA_SAMPLE_CALLS).sink_parquet(sample_in)
    child = run_child(engine_command(engine, [sample_in], sheet, sample_out))
    if child.returncode != 0 or not sample_out.exists():
        raise BenchmarkError(
            f"the engine failed on a {SCHEMA_SAMPLE_CALLS}-call sample (exit "
            f"{child.returncode}):\n{child.stderr.strip()[-3000:]}"
        )
    return sample_out


def parquet_rows(paths: Path | Sequence[Path]) -> int:
    sources = [paths] if isinstance(paths, Path) else list(paths)
    return int(pl.scan_parquet(sources).select(pl.len()).collect().item())


# ---------------------------------------------------------------------------------------
# One size, end to end
# ---------------------------------------------------------------------------------------


@dataclass
class SizeResult:
    """All measurements of one input size."""

    dataset: generate.Dataset
    calls: int
    floors: list[Measurement]
    engine: Measurement
    rated_rows: int
    startup: Measurement
    load_average: tuple[float, float] = (0.0, 0.0)

    @property
    def floor(self) -> Measurement:
        finished = [measurement for measurement in self.floors if not measurement.stopped]
        return min(finished or self.floors, key=lambda measurement: measurement.best_s)

    @property
    def ratio(self) -> float:
        return self.engine.best_s / self.floor.best_s


def ensure_dataset(
    workdir: Path,
    calls: int,
    *,
    prefixes: int,
    seed: int,
    accounts: int,
    band_mode: str,
    part_calls: int = generate.PART_CALLS,
) -> generate.Dataset:
    """The generated sheet and CDR parts of this size, generating whichever is missing."""
    options: dict[str, Any] = {
        "prefixes": prefixes,
        "seed": seed,
        "accounts": accounts,
        "band_mode": band_mode,
        "part_calls": part_calls,
    }
    paths = generate.dataset_paths(workdir, calls, **options)
    if paths.sheet.exists() and all(part.exists() for part in paths.parts):
        return paths
    print(f"generating {calls:,} calls into {workdir}", file=sys.stderr)
    return generate.generate(workdir, calls, **options)


def bench_size(
    dataset: generate.Dataset,
    engine: list[str],
    runs: int,
    work: Path,
    keep_outputs: bool = False,
    rss_limit_bytes: int | None = None,
) -> SizeResult:
    """Measure the floors and the engine on one dataset (all of its parts)."""
    load_before = os.getloadavg()[0]
    inputs = dataset.parts
    calls = parquet_rows(inputs)
    schema_source = engine_schema_sample(engine, inputs[0], dataset.sheet, work)
    modes = floor_modes(calls)
    floor_outputs = [work / f"floor-{mode}-{calls}.parquet" for mode in modes]
    floors = [
        Measurement(f"floor ({mode})", calls, floor_command(inputs, output, schema_source, mode))
        for mode, output in zip(modes, floor_outputs, strict=True)
    ]
    engine_out = work / f"engine-{calls}.parquet"
    engine_run = Measurement(
        "engine", calls, engine_command(engine, inputs, dataset.sheet, engine_out)
    )
    startup = Measurement("engine start-up", calls, [*engine, "--help"])
    measure([*floors, engine_run, startup], runs, rss_limit_bytes)

    for floor, output in zip(floors, floor_outputs, strict=True):
        if not floor.stopped and parquet_rows(output) != calls:
            raise BenchmarkError(f"{floor.name} wrote {parquet_rows(output)} rows, not {calls}")
    rated_rows = 0 if engine_run.stopped else parquet_rows(engine_out)
    if not keep_outputs:
        for output in [*floor_outputs, engine_out]:
            output.unlink(missing_ok=True)
    return SizeResult(
        dataset,
        calls,
        floors,
        engine_run,
        rated_rows,
        startup,
        (load_before, os.getloadavg()[0]),
    )


# ---------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------


def machine_description() -> str:
    """Cores, memory, CPU model, Python and Polars versions and the date, on one line."""
    cpu_model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory = "unknown memory"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024**2:.1f} GiB RAM"
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cores} cores ({cpu_model}), {memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, Polars {pl.__version__}, "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def markdown_table(results: list[SizeResult], runs: int) -> str:
    """One row per measurement; ``vs floor`` divides by the faster floor of the size."""
    lines = [
        f"| calls | measurement | best of {runs} (s) | calls/s | CPU (s) | peak RSS (MiB) "
        "| vs floor |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for measurement in [*result.floors, result.engine]:
            ratio = (
                "stopped"
                if measurement.stopped
                else f"{measurement.best_s / result.floor.best_s:.2f}x"
            )
            lines.append(
                f"| {result.calls:,} | {measurement.name} | {measurement.best_s:.2f} | "
                f"{measurement.calls_per_s:,.0f} | {measurement.best_cpu_s:.2f} | "
                f"{measurement.peak_rss_bytes / 2**20:,.0f} | {ratio} |"
            )
    return "\n".join(lines)


def _inputs_label(dataset: generate.Dataset) -> str:
    parts = dataset.parts
    if len(parts) == 1:
        return f"`{parts[0].name}`"
    return f"{len(parts)} parts, `{parts[0].name}` to `{parts[-1].name}`"


def _size_note(result: SizeResult, rss_limit_bytes: int | None) -> str:
    inputs = f"{_inputs_label(result.dataset)}, sheet `{result.dataset.sheet.name}`"
    if result.engine.stopped:
        limit = (rss_limit_bytes or 0) / 2**20
        return (
            f"- {result.calls:,} calls ({inputs}): the engine was **stopped** when its "
            f"memory passed the limit of {limit:,.0f} MiB, after {result.engine.best_s:.0f} s; "
            f"engine / floor not measured"
        )
    eager = "" if "eager" in floor_modes(result.calls) else " (no eager floor above 10M calls)"
    return (
        f"- {result.calls:,} calls ({inputs}): engine wrote {result.rated_rows:,} rated rows "
        f"({result.calls - result.rated_rows:,} not in the output); "
        f"engine / floor = **{result.ratio:.2f}x** wall (target <= 2x), "
        f"{result.engine.best_cpu_s / result.floor.best_cpu_s:.2f}x CPU{eager}; "
        f"engine said `{_first_line(result.engine.last_stderr)}`; "
        f"engine start-up (`--help`) {result.startup.best_s:.2f} s; load average "
        f"{result.load_average[0]:.1f} before, {result.load_average[1]:.1f} after"
    )


def results_section(
    results: list[SizeResult],
    runs: int,
    engine: list[str],
    rss_limit_bytes: int | None = None,
) -> str:
    """The markdown appended to HISTORY.md: machine, table and per-size notes."""
    notes = [_size_note(result, rss_limit_bytes) for result in results]
    sizes = ", ".join(f"{result.calls:,}" for result in results)
    return "\n".join(
        [
            f"## {datetime.now(UTC).strftime('%Y-%m-%d')}: {sizes} calls",
            "",
            f"Machine: {machine_description()}.",
            f"Engine: `{shlex.join([Path(engine[0]).name, *engine[1:]])} rate IN.parquet "
            "--sheet SHEET.toml --out OUT.parquet`.",
            "",
            markdown_table(results, runs),
            "",
            *notes,
            "",
        ]
    )


def json_report(
    results: list[SizeResult],
    runs: int,
    engine: list[str],
    rss_limit_bytes: int | None = None,
) -> dict[str, Any]:
    """The measurements as JSON: one row per measurement and size, one entry per size."""
    rows = []
    sizes = []
    for result in results:
        floor_s = result.floor.best_s
        rows += [measurement.as_row(floor_s) for measurement in [*result.floors, result.engine]]
        finished = not result.engine.stopped
        sizes.append(
            {
                "calls": result.calls,
                "inputs": [str(path) for path in result.dataset.parts],
                "sheet": str(result.dataset.sheet),
                "floor": result.floor.name,
                "floor_s": floor_s,
                "engine_s": result.engine.best_s,
                "engine_over_floor": result.ratio if finished else None,
                "engine_cpu_over_floor_cpu": (
                    result.engine.best_cpu_s / result.floor.best_cpu_s if finished else None
                ),
                "engine_stopped_over_rss_limit": result.engine.stopped,
                "rated_rows": result.rated_rows,
                "engine_said": _first_line(result.engine.last_stderr),
                "startup_s": result.startup.best_s,
                "load_average": list(result.load_average),
            }
        )
    return {
        "benchmark": "rating",
        "runs": runs,
        "engine": shlex.join([Path(engine[0]).name, *engine[1:]]),
        "rss_limit_mib": None if rss_limit_bytes is None else rss_limit_bytes / 2**20,
        "machine": machine_description(),
        "rows": rows,
        "sizes": sizes,
    }


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def append_results(section: str, path: Path = HISTORY_MD) -> None:
    """Append ``section`` to ``path``, creating it with a title when it does not exist."""
    header = "" if path.exists() else RESULTS_HEADER
    with path.open("a", encoding="utf-8") as results:
        results.write(header + section + "\n")


def run_benchmark(
    sizes: list[int],
    *,
    runs: int = 3,
    workdir: Path = DEFAULT_WORKDIR,
    prefixes: int = 12_000,
    seed: int = 1,
    accounts: int = 10_000,
    band_mode: str = "start",
    part_calls: int = generate.PART_CALLS,
    engine: list[str] | None = None,
    keep_outputs: bool = False,
    rss_limit_bytes: int | None = None,
) -> list[SizeResult]:
    """Generate (when missing) and measure every size."""
    engine = engine or find_engine()
    work = workdir / "runs"
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for calls in sizes:
        dataset = ensure_dataset(
            workdir,
            calls,
            prefixes=prefixes,
            seed=seed,
            accounts=accounts,
            band_mode=band_mode,
            part_calls=part_calls,
        )
        print(f"measuring {calls:,} calls, {runs} runs each", file=sys.stderr)
        results.append(bench_size(dataset, engine, runs, work, keep_outputs, rss_limit_bytes))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--prefixes", type=int, default=12_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--band-mode", choices=("start", "split"), default="start")
    parser.add_argument(
        "--part-calls",
        type=int,
        default=generate.PART_CALLS,
        help="calls per Parquet part of the generated input (generate.py --part-calls)",
    )
    parser.add_argument(
        "--engine", help="engine command instead of the installed cdr-rating (shell words)"
    )
    parser.add_argument("--results", type=Path, default=HISTORY_MD, help="markdown to append to")
    parser.add_argument("--no-results", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON here")
    parser.add_argument(
        "--rss-limit-mib",
        type=float,
        metavar="MIB",
        help="stop a child whose resident memory passes this (reported as stopped)",
    )
    parser.add_argument("--keep-outputs", action="store_true")
    parser.add_argument("--floor-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.floor_child:
        mode, output_path, schema_source, *inputs = args.floor_child
        floor_copy([Path(path) for path in inputs], Path(output_path), Path(schema_source), mode)
        return 0

    engine = shlex.split(args.engine) if args.engine else find_engine()
    rss_limit = None if args.rss_limit_mib is None else int(args.rss_limit_mib * 2**20)
    try:
        results = run_benchmark(
            args.calls,
            runs=args.runs,
            workdir=args.workdir,
            prefixes=args.prefixes,
            seed=args.seed,
            accounts=args.accounts,
            band_mode=args.band_mode,
            part_calls=args.part_calls,
            engine=engine,
            keep_outputs=args.keep_outputs,
            rss_limit_bytes=rss_limit,
        )
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    section = results_section(results, args.runs, engine, rss_limit)
    print(section)
    if args.json:
        report = json_report(results, args.runs, engine, rss_limit)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.no_results:
        append_results(section, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
