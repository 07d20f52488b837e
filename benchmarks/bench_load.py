"""Loading Asterisk Master.csv: the reader against Polars' own ``read_csv``.

The input is the Asterisk version of the benchmark traffic (``generate.py --asterisk``:
the same calls as the rating benchmarks, 18 columns as Asterisk writes them, about 1%
of lines delivered twice), generated under ``--workdir`` when missing and reused by
name. Each mode is timed ``--runs`` times, each run in a fresh child process that
reports only the timed work (imports excluded) and its own peak RSS:

* ``polars read_csv``: ``pl.read_csv(path, has_header=False, infer_schema=False)``;
* ``asterisk reader``: ``READERS["asterisk"](path).collect()``, the raw frame the
  pipeline parses (fields split and checked, call_ids derived, nothing dropped);
* ``reader + prepare``: the reader followed by ``prepare_calls`` (times and durations
  parsed, numbers normalised): everything before rating.

Above ``--part-calls`` calls the traffic is several files; each run loads them one
after the other (memory is that of one part). The target is reader <= 1.5x read_csv.
Wall time is the figure of merit; CPU time (user + system of the child) is reported too
because it moves less on a busy machine.

Example::

    python benchmarks/bench_load.py --rows 10000000 --runs 3 --json load.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate

MODES = ("polars read_csv", "asterisk reader", "reader + prepare")


def asterisk_files(
    calls: int,
    workdir: Path,
    *,
    prefixes: int = 12_000,
    seed: int = 1,
    accounts: int = 10_000,
    part_calls: int = generate.PART_CALLS,
) -> tuple[Path, ...]:
    """The Asterisk files of the benchmark traffic with ``calls`` rows (generated if
    missing, next to the Parquet files the rating benchmarks use)."""
    dataset = generate.generate(
        workdir,
        calls,
        prefixes=prefixes,
        seed=seed,
        accounts=accounts,
        asterisk=True,
        part_calls=part_calls,
    )
    return dataset.asterisk


def _peak_rss_mib() -> float:
    """This process's highest resident memory so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _timed(mode: str, paths: list[Path]) -> dict[str, float]:
    """Load every file in this process with one mode and time it (called in the child)."""
    from cdr_rating.cdrs import InputOptions, prepare_calls
    from cdr_rating.cdrs.inputs import READERS

    read = READERS["asterisk"]
    wall, cpu = time.perf_counter(), time.process_time()
    rows = 0
    for path in paths:
        if mode == MODES[0]:
            rows += pl.read_csv(path, has_header=False, infer_schema=False).height
        elif mode == MODES[1]:
            rows += read(path).collect().height
        else:
            rows += prepare_calls(read(path), InputOptions()).collect().height
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "rows": rows,
        "peak_rss_mib": _peak_rss_mib(),
    }


@dataclass(frozen=True)
class Measurement:
    """One mode over ``runs`` child processes: best wall and CPU time, highest peak RSS."""

    mode: str
    calls: int
    wall_s: float
    cpu_s: float
    peak_rss_mib: float

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.wall_s


def measure(mode: str, paths: tuple[Path, ...], runs: int) -> Measurement:
    """Best of ``runs`` child processes (each reports its own timing)."""
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode, *map(str, paths)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return Measurement(
        mode,
        int(results[0]["rows"]),
        min(result["wall"] for result in results),
        min(result["cpu"] for result in results),
        max(result["peak_rss_mib"] for result in results),
    )


def file_mib(paths: tuple[Path, ...]) -> float:
    """The size of the input files together."""
    return sum(path.stat().st_size for path in paths) / 2**20


def report(measurements: list[Measurement], paths: tuple[Path, ...]) -> str:
    """A markdown table of the measurements, with the ratio to read_csv."""
    floor = measurements[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    files = f"{len(paths)} files" if len(paths) > 1 else paths[0].name
    lines = [
        f"Asterisk Master.csv ({files}), {floor.calls:,} calls, {file_mib(paths):,.0f} MiB; "
        f"{os.cpu_count()} CPUs, load average {load:.1f}, Polars {pl.__version__}",
        "",
        "| mode | best wall (s) | calls/s | best CPU (s) | peak RSS (MiB) "
        "| wall vs read_csv | CPU vs read_csv |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for item in measurements:
        lines.append(
            f"| {item.mode} | {item.wall_s:.2f} | {item.calls_per_s:,.0f} | "
            f"{item.cpu_s:.2f} | {item.peak_rss_mib:,.0f} | {item.wall_s / floor.wall_s:.2f}x | "
            f"{item.cpu_s / floor.cpu_s:.2f}x |"
        )
    return "\n".join(lines)


def report_json(measurements: list[Measurement], paths: tuple[Path, ...]) -> dict[str, object]:
    """The measurements as the JSON that ``--json`` writes."""
    return {
        "benchmark": "asterisk load",
        "rows": [
            {
                "measurement": item.mode,
                "calls": item.calls,
                "wall_s": item.wall_s,
                "cpu_s": item.cpu_s,
                "peak_rss_mib": item.peak_rss_mib,
                "calls_per_s": item.calls_per_s,
            }
            for item in measurements
        ],
        "file_mib": file_mib(paths),
    }


def main(argv: list[str] | None = None) -> None:
    """Generate the files if needed, time every mode, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="calls (CDR lines)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefixes", type=int, default=12_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--part-calls", type=int, default=generate.PART_CALLS)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cdr-bench"))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--json", type=Path, help="also write the measurements as JSON here")
    parser.add_argument("--child", nargs="+", metavar="MODE PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, *paths = args.child
        print(json.dumps(_timed(mode, [Path(path) for path in paths])))
        return
    paths = asterisk_files(
        args.rows,
        args.workdir,
        prefixes=args.prefixes,
        seed=args.seed,
        accounts=args.accounts,
        part_calls=args.part_calls,
    )
    modes = [MODES[0], *(mode for mode in args.modes if mode != MODES[0])]
    measurements = [measure(mode, paths, args.runs) for mode in modes]
    print(report(measurements, paths))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report_json(measurements, paths), indent=2) + "\n")


if __name__ == "__main__":
    main()
