"""Rating throughput against the Parquet I/O floor (ARCHITECTURE.md section 11).

For each size it times, best of ``--runs`` interleaved runs, each in its own child
process:

* ``floor (eager)``: Polars reads the input Parquet and writes an output Parquet with
  the engine's output schema and as many rows as the input;
* ``floor (streaming)``: the same as a ``scan_parquet`` -> ``sink_parquet`` pipeline;
* ``engine``: ``cdr-rating rate INPUT --sheet SHEET --out OUT``.

The floor is the faster of the two floor variants; the target is engine <= 2x floor.
Peak RSS is the child's ``ru_maxrss`` and CPU its user + system time, both as reported
by ``wait4``. The markdown table is
printed and appended to ``benchmarks/RESULTS.md`` with a description of the machine.

Example::

    python benchmarks/bench_rate.py --calls 1000000 10000000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

import generate

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_MD = BENCH_DIR / "RESULTS.md"
DEFAULT_WORKDIR = Path("/tmp/cdr-bench")
SCHEMA_SAMPLE_CALLS = 2_000
RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "Appended by `bench_rate.py`, newest last; README.md says what each column means.\n\n"
)
FLOOR_MODES = ("eager", "streaming")

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
    """Wall times and peak memory of repeated runs of one command."""

    name: str
    calls: int
    command: list[str]
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_rss_bytes: int = 0
    last_stderr: str = ""

    @property
    def best_s(self) -> float:
        return min(self.wall_s)

    @property
    def best_cpu_s(self) -> float:
        return min(self.cpu_s)

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.best_s


@dataclass(frozen=True)
class ChildRun:
    """One finished child process."""

    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int
    stderr: str


class BenchmarkError(RuntimeError):
    """A measured command failed."""


def run_child(command: list[str]) -> ChildRun:
    """Run ``command``, timing it and reading its own peak RSS and CPU from ``wait4``.

    stderr goes to a temporary file rather than a pipe, so a chatty child cannot block.
    """
    with tempfile.TemporaryFile() as stderr:
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        return ChildRun(
            wall_s=wall_s,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_bytes=usage.ru_maxrss * 1024,
            returncode=process.returncode,
            stderr=stderr.read().decode(errors="replace"),
        )


def measure(measurements: list[Measurement], runs: int) -> None:
    """Run every command ``runs`` times, interleaved, recording into ``measurements``.

    Interleaving (A B C A B C ...) exposes every command to the same background load,
    which keeps the ratios meaningful on a shared machine. Raises
    :class:`BenchmarkError` when a run fails.
    """
    for _ in range(runs):
        for measurement in measurements:
            child = run_child(measurement.command)
            if child.returncode != 0:
                raise BenchmarkError(
                    f"{measurement.name} exited with {child.returncode}: "
                    f"{shlex.join(measurement.command)}\n{child.stderr.strip()[-3000:]}"
                )
            measurement.wall_s.append(child.wall_s)
            measurement.cpu_s.append(child.cpu_s)
            measurement.peak_rss_bytes = max(measurement.peak_rss_bytes, child.peak_rss_bytes)
            measurement.last_stderr = child.stderr


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
        if name == "file" and dtype == pl.String:
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


def floor_copy(input_path: Path, output_path: Path, schema_source: Path, mode: str) -> None:
    """Read ``input_path``, write ``output_path`` with the schema of ``schema_source``."""
    schema = pl.Schema(pl.read_parquet_schema(schema_source))
    if mode == "eager":
        calls = pl.read_parquet(input_path)
        frame = floor_frame(calls.lazy(), calls.schema, schema, str(input_path))
        frame.collect().write_parquet(output_path)
    elif mode == "streaming":
        calls_lazy = pl.scan_parquet(input_path)
        frame = floor_frame(calls_lazy, calls_lazy.collect_schema(), schema, str(input_path))
        frame.sink_parquet(output_path)
    else:
        raise ValueError(f"unknown floor mode {mode!r}; use one of {FLOOR_MODES}")


def floor_command(input_path: Path, output_path: Path, schema_source: Path, mode: str) -> list[str]:
    """The child command that runs :func:`floor_copy`."""
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--floor-child",
        mode,
        str(input_path),
        str(output_path),
        str(schema_source),
    ]


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


def engine_command(engine: list[str], input_path: Path, sheet: Path, output: Path) -> list[str]:
    return [*engine, "rate", str(input_path), "--sheet", str(sheet), "--out", str(output)]


def engine_schema_sample(engine: list[str], cdrs: Path, sheet: Path, work: Path) -> Path:
    """Rate the first calls of ``cdrs`` and return the output file (for its schema)."""
    sample_in = work / "schema-sample-in.parquet"
    sample_out = work / "schema-sample-out.parquet"
    pl.scan_parquet(cdrs).head(SCHEMA_SAMPLE_CALLS).sink_parquet(sample_in)
    child = run_child(engine_command(engine, sample_in, sheet, sample_out))
    if child.returncode != 0 or not sample_out.exists():
        raise BenchmarkError(
            f"the engine failed on a {SCHEMA_SAMPLE_CALLS}-call sample (exit "
            f"{child.returncode}):\n{child.stderr.strip()[-3000:]}"
        )
    return sample_out


def parquet_rows(path: Path) -> int:
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


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
        return min(self.floors, key=lambda measurement: measurement.best_s)

    @property
    def ratio(self) -> float:
        return self.engine.best_s / self.floor.best_s


def ensure_dataset(
    workdir: Path, calls: int, *, prefixes: int, seed: int, accounts: int, band_mode: str
) -> generate.Dataset:
    """The generated sheet and CDRs of this size, generating whichever is missing."""
    paths = generate.dataset_paths(
        workdir, calls, prefixes=prefixes, seed=seed, accounts=accounts, band_mode=band_mode
    )
    if paths.sheet.exists() and paths.cdrs.exists():
        return paths
    sheet = generate.build_sheet(prefixes, seed, band_mode=band_mode)
    if not paths.sheet.exists():
        generate.write_sheet(sheet, paths.sheet)
    if not paths.cdrs.exists():
        print(f"generating {calls:,} calls into {workdir}", file=sys.stderr)
        generate.write_cdrs(generate.build_cdrs(calls, sheet, seed, accounts), paths.cdrs)
    return paths


def bench_size(
    dataset: generate.Dataset,
    engine: list[str],
    runs: int,
    work: Path,
    keep_outputs: bool = False,
) -> SizeResult:
    """Measure both floors and the engine on one dataset."""
    load_before = os.getloadavg()[0]
    calls = parquet_rows(dataset.cdrs)
    schema_source = engine_schema_sample(engine, dataset.cdrs, dataset.sheet, work)
    floor_outputs = [work / f"floor-{mode}-{calls}.parquet" for mode in FLOOR_MODES]
    floors = [
        Measurement(
            f"floor ({mode})", calls, floor_command(dataset.cdrs, output, schema_source, mode)
        )
        for mode, output in zip(FLOOR_MODES, floor_outputs, strict=True)
    ]
    engine_out = work / f"engine-{calls}.parquet"
    engine_run = Measurement(
        "engine", calls, engine_command(engine, dataset.cdrs, dataset.sheet, engine_out)
    )
    startup = Measurement("engine start-up", calls, [*engine, "--help"])
    measure([*floors, engine_run, startup], runs)

    for floor, output in zip(floors, floor_outputs, strict=True):
        if parquet_rows(output) != calls:
            raise BenchmarkError(f"{floor.name} wrote {parquet_rows(output)} rows, not {calls}")
    rated_rows = parquet_rows(engine_out)
    if not keep_outputs:
        for output in [*floor_outputs, engine_out]:
            output.unlink()
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
            ratio = measurement.best_s / result.floor.best_s
            lines.append(
                f"| {result.calls:,} | {measurement.name} | {measurement.best_s:.2f} | "
                f"{measurement.calls_per_s:,.0f} | {measurement.best_cpu_s:.2f} | "
                f"{measurement.peak_rss_bytes / 2**20:,.0f} | "
                f"{ratio:.2f}x |"
            )
    return "\n".join(lines)


def results_section(results: list[SizeResult], runs: int, engine: list[str]) -> str:
    """The markdown appended to RESULTS.md: machine, table and per-size notes."""
    notes = [
        f"- {result.calls:,} calls (`{result.dataset.cdrs.name}`, sheet "
        f"`{result.dataset.sheet.name}`): engine wrote {result.rated_rows:,} rated rows "
        f"({result.calls - result.rated_rows:,} not in the output); "
        f"engine / floor = **{result.ratio:.2f}x** wall (target <= 2x), "
        f"{result.engine.best_cpu_s / result.floor.best_cpu_s:.2f}x CPU; "
        f"engine said `{_first_line(result.engine.last_stderr)}`; "
        f"engine start-up (`--help`) {result.startup.best_s:.2f} s; load average "
        f"{result.load_average[0]:.1f} before, {result.load_average[1]:.1f} after"
        for result in results
    ]
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


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def append_results(section: str, path: Path = RESULTS_MD) -> None:
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
    engine: list[str] | None = None,
    keep_outputs: bool = False,
) -> list[SizeResult]:
    """Generate (when missing) and measure every size."""
    engine = engine or find_engine()
    work = workdir / "runs"
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for calls in sizes:
        dataset = ensure_dataset(
            workdir, calls, prefixes=prefixes, seed=seed, accounts=accounts, band_mode=band_mode
        )
        print(f"measuring {calls:,} calls, {runs} runs each", file=sys.stderr)
        results.append(bench_size(dataset, engine, runs, work, keep_outputs))
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
        "--engine", help="engine command instead of the installed cdr-rating (shell words)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS_MD, help="markdown to append to")
    parser.add_argument("--no-results", action="store_true", help="print only")
    parser.add_argument("--keep-outputs", action="store_true")
    parser.add_argument("--floor-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.floor_child:
        mode, input_path, output_path, schema_source = args.floor_child
        floor_copy(Path(input_path), Path(output_path), Path(schema_source), mode)
        return 0

    engine = shlex.split(args.engine) if args.engine else find_engine()
    try:
        results = run_benchmark(
            args.calls,
            runs=args.runs,
            workdir=args.workdir,
            prefixes=args.prefixes,
            seed=args.seed,
            accounts=args.accounts,
            band_mode=args.band_mode,
            engine=engine,
            keep_outputs=args.keep_outputs,
        )
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    section = results_section(results, args.runs, engine)
    print(section)
    if not args.no_results:
        append_results(section, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
