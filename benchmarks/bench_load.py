"""Loading Asterisk Master.csv: the reader against Polars' own ``read_csv``.

Generates a synthetic Master.csv (18 columns, as Asterisk writes it: quoted text,
unquoted numbers, ``,,`` for an empty answer time, commas and doubled quotes inside
fields, several legs per uniqueid) under ``--workdir`` (never in the repository), then
times, best of ``--runs``, each run in a fresh child process that reports only the
timed call (imports excluded):

* ``polars read_csv``: ``pl.read_csv(path, has_header=False, infer_schema=False)``;
* ``asterisk reader``: ``READERS["asterisk"](path).collect()``, the raw frame the
  pipeline parses (fields split and checked, call_ids derived, nothing dropped);
* ``reader + prepare``: the reader followed by ``prepare_calls`` (times and durations
  parsed, numbers normalised): everything before rating.

The target is reader <= 1.5x read_csv. Wall time is the figure of merit; CPU time
(user + system of the child) is printed too because it moves less on a busy machine.

Example::

    python benchmarks/bench_load.py --rows 10000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

MODES = ("polars read_csv", "asterisk reader", "reader + prepare")


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


def _mix(column: str, salt: int) -> pl.Expr:
    """A SplitMix64-style hash of a UInt64 column: deterministic pseudo-random bits."""
    value = (pl.col(column) + _u64(salt)) * _u64(0x9E3779B97F4A7C15)
    value = (value ^ (value // _u64(1 << 31))) * _u64(0xBF58476D1CE4E5B9)
    return value ^ (value // _u64(1 << 29))


def _quoted(value: pl.Expr) -> pl.Expr:
    return pl.lit('"') + value.str.replace_all('"', '""', literal=True) + pl.lit('"')


def _clock(seconds: pl.Expr) -> pl.Expr:
    return pl.from_epoch(seconds, time_unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")


def generate(rows: int, path: Path, seed: int = 1) -> Path:
    """Write ``rows`` Asterisk Master.csv lines to ``path`` (reused when it exists)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pl.LazyFrame().select(pl.int_range(0, rows, dtype=pl.UInt64).alias("n"))
    frame = frame.with_columns(
        r1=_mix("n", seed),
        r2=_mix("n", seed + 1),
        # Three rows in a row share a uniqueid: dial attempts and legs of one call.
        call=pl.col("n") // 3,
    )
    answered = pl.col("r1") % 10 < 7
    start = _u64(1_790_000_000) + pl.col("call") * 3 + pl.col("r2") % 5
    ring = pl.col("r1") % 20
    billsec = pl.when(answered).then(pl.col("r2") % 900).otherwise(0)
    end = start + ring + billsec
    disposition = (
        pl.when(answered)
        .then(pl.lit("ANSWERED"))
        .otherwise(
            pl.lit(["NO ANSWER", "BUSY", "FAILED", "CONGESTION"]).list.get(
                (pl.col("r2") % 4).cast(pl.Int64)
            )
        )
    )
    account = pl.format("ACC{}", pl.col("r1") % 5000)
    src = pl.format("4930{}", pl.col("r2") % 9_000_000 + 1_000_000)
    dst = pl.format("00{}", pl.col("r1") % 900_000_000_000 + 100_000_000_000)
    channel = pl.format("SIP/{}-{}", pl.col("r1") % 500, pl.col("call"))
    dstchannel = pl.format("SIP/carrier_{}-{}", pl.col("n") % 3, pl.col("n"))
    fields = [
        _quoted(account),
        _quoted(src),
        _quoted(dst),
        _quoted(pl.lit("from-internal")),
        _quoted(pl.format('"User {}" <{}>', pl.col("r2") % 700, src)),
        _quoted(channel),
        _quoted(dstchannel),
        _quoted(pl.lit("Dial")),
        _quoted(pl.format("SIP/carrier/{},60,tT", dst)),
        _quoted(_clock(start)),
        pl.when(answered).then(_quoted(_clock(start + ring))).otherwise(pl.lit("")),
        _quoted(_clock(end)),
        (ring + billsec).cast(pl.String),
        billsec.cast(pl.String),
        _quoted(disposition),
        _quoted(pl.lit("DOCUMENTATION")),
        _quoted(pl.format("1790000000.{}", pl.col("call"))),
        _quoted(pl.lit("")),
    ]
    line = pl.concat_str([field.cast(pl.String) for field in fields], separator=",")
    frame.select(line.alias("line")).sink_csv(path, include_header=False, quote_style="never")
    return path


def _timed(mode: str, path: Path) -> dict[str, float]:
    """Run one mode in this process and time it (called in the child)."""
    from cdr_rating.cdrs import InputOptions, prepare_calls
    from cdr_rating.cdrs.inputs import READERS

    wall, cpu = time.perf_counter(), time.process_time()
    if mode == MODES[0]:
        rows = pl.read_csv(path, has_header=False, infer_schema=False).height
    elif mode == MODES[1]:
        rows = READERS["asterisk"](path).collect().height
    else:
        rows = prepare_calls(READERS["asterisk"](path), InputOptions()).collect().height
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "rows": rows,
    }


@dataclass(frozen=True)
class Measurement:
    """The best run of one mode."""

    mode: str
    rows: int
    wall_s: float
    cpu_s: float


def measure(mode: str, path: Path, runs: int) -> Measurement:
    """Best of ``runs`` child processes (each reports its own timing)."""
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode, str(path)],
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
    )


def report(measurements: list[Measurement], path: Path) -> str:
    """A markdown table of the measurements, with the ratio to read_csv."""
    floor = measurements[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Asterisk Master.csv, {floor.rows:,} rows, {path.stat().st_size / 2**20:,.0f} MiB; "
        f"{os.cpu_count()} CPUs, load average {load:.1f}, Polars {pl.__version__}",
        "",
        "| mode | best wall (s) | rows/s | best CPU (s) | wall vs read_csv | CPU vs read_csv |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for item in measurements:
        lines.append(
            f"| {item.mode} | {item.wall_s:.2f} | {item.rows / item.wall_s:,.0f} | "
            f"{item.cpu_s:.2f} | {item.wall_s / floor.wall_s:.2f}x | "
            f"{item.cpu_s / floor.cpu_s:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Generate the file if needed, time every mode, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cdr-bench-load"))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_timed(args.child[0], Path(args.child[1]))))
        return
    path = generate(args.rows, args.workdir / f"Master-{args.rows}-s{args.seed}.csv", args.seed)
    modes = [MODES[0], *(mode for mode in args.modes if mode != MODES[0])]
    print(report([measure(mode, path, args.runs) for mode in modes], path))


if __name__ == "__main__":
    main()
