"""How much of a nightly ``cdr-rating run`` is bookkeeping rather than rating.

One night of a mid-size operator: ``--calls`` (default 2,000,000) canonical CDRs in 24
hourly CSV files, rated with the synthetic sheet of ``generate.py`` and 10,000 accounts.
``--prior-days N`` first ingests N earlier nights (not timed) so that the duplicate
check runs against a store that already holds N x calls of the same billing period.

The timed night is ``cdr-rating run`` in a child process (what cron runs), ``--runs``
times from the same stored state (best wall time reported, as in ``bench_rate.py``:
other load on a shared machine only ever adds time); its per-step timings come from
the run's JSON summary (the same numbers as the manifest).
Rating is the steps ``plan``, ``rate`` and ``rejects`` (what ``cdr-rating rate`` does
too); everything else (lock, ledger, orphan check, hashing, duplicate check, writes,
manifest) is bookkeeping. The target: bookkeeping under 20% of the wall time. The
child's CPU time and peak RSS come from ``wait4``. ``--json FILE`` also writes the
measurements as JSON (what ``harness.py`` reads).

Example::

    python benchmarks/bench_nightly.py --calls 2000000 --prior-days 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate
from bench_rate import BenchmarkError, run_child

NIGHT = date(2026, 10, 20)
RATING_STEPS = ("plan", "rate", "rejects")


def write_night(sheet: generate.Sheet, calls: int, day: date, seed: int, inbox: Path) -> None:
    """``calls`` CDRs on ``day`` (UTC), as 24 hourly canonical CSV files in ``inbox``."""
    cdrs = generate.build_cdrs(calls, sheet, seed=seed, accounts=10_000).collect()
    start = pl.col("start")
    moved = cdrs.with_columns(
        start=pl.lit(datetime(day.year, day.month, day.day)).dt.replace_time_zone("UTC")
        + (start - start.dt.truncate("1d"))
    ).sort("start", maintain_order=True)
    for (hour,), frame in moved.group_by(pl.col("start").dt.hour(), maintain_order=True):
        path = inbox / f"cdrs-{day.isoformat()}T{int(str(hour)):02d}.csv"
        frame.with_columns(start.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)


def prepare(workdir: Path, calls: int, prior_days: int, prefixes: int = 12_000) -> Path:
    """A workspace: sheet, accounts, config, the prior nights ingested into ``var/`` and
    saved as ``var-before/``, and the timed night in the inbox.

    A workspace prepared before with the same parameters is reused as it is.
    """
    config, marker = workdir / "cdr-rating.toml", workdir / "prepared.json"
    parameters = {"calls": calls, "prior_days": prior_days, "prefixes": prefixes}
    if marker.is_file() and json.loads(marker.read_text()) == parameters:
        return config
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "sheets").mkdir(parents=True)
    (workdir / "inbox").mkdir()
    sheet = generate.build_sheet(prefixes, seed=1)
    generate.write_sheet(sheet, workdir / "sheets" / "bench.toml")
    pl.DataFrame({"account": [f"A{i:05d}" for i in range(10_000)]}).with_columns(
        sheet=pl.lit("bench")
    ).write_csv(workdir / "accounts.csv")
    config.write_text(
        '[paths]\ndata_dir = "var"\ninbox = "inbox"\nsheets = "sheets"\n'
        'accounts = "accounts.csv"\n\n[billing]\ntimezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )
    for night in range(prior_days, 0, -1):
        write_night(sheet, calls, NIGHT - timedelta(days=night), 100 + night, workdir / "inbox")
        done = run(config)
        print(f"prior night {night}: {done['counts']['rated']:,} rated", file=sys.stderr)
    write_night(sheet, calls, NIGHT, 1, workdir / "inbox")
    if (workdir / "var").exists():
        shutil.copytree(workdir / "var", workdir / "var-before")
    marker.write_text(json.dumps(parameters))
    return config


def run(config: Path) -> dict[str, Any]:
    """``cdr-rating run`` in a child process: its JSON summary plus ``wall_s``, ``cpu``
    (user + system of the whole child) and ``peak_rss_mib``, from ``wait4``."""
    done = run_child(
        [
            sys.executable,
            "-m",
            "cdr_rating",
            "run",
            "--config",
            str(config),
            "--log-format",
            "json",
        ],
        env={k: v for k, v in os.environ.items() if not k.startswith("CDR_RATING")},
    )
    if done.returncode != 0:
        raise BenchmarkError(
            f"cdr-rating run exited with {done.returncode}:\n{done.stderr.strip()[-3000:]}"
        )
    summary: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    summary["wall_s"] = done.wall_s
    summary["process_cpu_s"] = done.cpu_s
    summary["peak_rss_mib"] = done.peak_rss_bytes / 2**20
    return summary


def split_time(summary: dict[str, Any]) -> dict[str, float]:
    """Wall seconds of rating, of bookkeeping and of start-up (the rest of the wall)."""
    timings = summary["timings_s"]
    rating = sum(float(t) for step, t in timings.items() if step in RATING_STEPS)
    bookkeeping = sum(float(t) for step, t in timings.items() if step not in RATING_STEPS)
    wall = float(summary["wall_s"])
    return {
        "rating_s": rating,
        "bookkeeping_s": bookkeeping,
        "startup_s": wall - rating - bookkeeping,
    }


def json_report(
    summaries: list[dict[str, Any]], calls: int, prior_days: int, prefixes: int, files: int
) -> dict[str, Any]:
    """The best run as JSON: one row for the night, the steps beside it."""
    best = min(summaries, key=lambda s: float(s["wall_s"]))
    wall = float(best["wall_s"])
    parts = split_time(best)
    counts = best["counts"]
    row = {
        "measurement": "cdr-rating run (one night)",
        "calls": int(counts["read"]),
        "wall_s": wall,
        "cpu_s": float(best["process_cpu_s"]),
        "peak_rss_mib": max(float(s["peak_rss_mib"]) for s in summaries),
        "calls_per_s": int(counts["read"]) / wall,
        **parts,
        "bookkeeping_share": parts["bookkeeping_s"] / wall,
        "runs": len(summaries),
        "wall_s_of_runs": [float(s["wall_s"]) for s in summaries],
    }
    cpu = best["cpu_s"]
    steps = [
        {
            "step": step,
            "wall_s": float(seconds),
            "cpu_s": float(cpu.get(step, 0.0)),
            "rating": step in RATING_STEPS,
        }
        for step, seconds in best["timings_s"].items()
    ]
    return {
        "benchmark": "nightly run",
        "calls": calls,
        "files": files,
        "prior_days": prior_days,
        "prefixes": prefixes,
        "counts": counts,
        "rows": [row],
        "steps": steps,
    }


def report(summary: dict[str, Any]) -> str:
    """Wall and CPU time per step, and the shares of rating and bookkeeping."""
    timings, cpu = summary["timings_s"], summary["cpu_s"]
    wall = float(summary["wall_s"])

    def total(times: dict[str, float], rating: bool) -> float:
        return sum(float(t) for step, t in times.items() if (step in RATING_STEPS) == rating)

    rating, bookkeeping = total(timings, True), total(timings, False)
    rating_cpu, bookkeeping_cpu = total(cpu, True), total(cpu, False)
    startup = wall - rating - bookkeeping
    lines = [
        "| step | wall (s) | share of wall | CPU (s) |",
        "|---|---:|---:|---:|",
        *(
            f"| {step}{' (rating)' if step in RATING_STEPS else ''} | {float(t):.2f} | "
            f"{float(t) / wall:.1%} | {float(cpu.get(step, 0)):.2f} |"
            for step, t in timings.items()
        ),
        f"| interpreter start-up and imports | {startup:.2f} | {startup / wall:.1%} | |",
        f"| **wall** | {wall:.2f} | 100% | |",
        "",
        f"rating {rating:.2f} s ({rating / wall:.1%}); bookkeeping {bookkeeping:.2f} s "
        f"(**{bookkeeping / wall:.1%}** of wall, target < 20%); bookkeeping + start-up "
        f"{(bookkeeping + startup) / wall:.1%}; bookkeeping's share of the run's CPU time "
        f"{bookkeeping_cpu / (rating_cpu + bookkeeping_cpu):.1%}; the child's CPU "
        f"{float(summary['process_cpu_s']):.2f} s, peak RSS "
        f"{float(summary['peak_rss_mib']):,.0f} MiB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2_000_000, help="calls per night")
    parser.add_argument("--prior-days", type=int, default=0, help="nights stored beforehand")
    parser.add_argument("--prefixes", type=int, default=12_000, help="distinct sheet prefixes")
    parser.add_argument("--runs", type=int, default=3, help="timed runs; the best is shown")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cdr-nightly"))
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON here")
    args = parser.parse_args(argv)

    config = prepare(args.workdir, args.calls, args.prior_days, args.prefixes)
    data_dir, saved = args.workdir / "var", args.workdir / "var-before"
    summaries = []
    for _ in range(args.runs):
        shutil.rmtree(data_dir, ignore_errors=True)
        if saved.exists():
            shutil.copytree(saved, data_dir)
        # Flush the copy now: otherwise the run's first fsync waits for it (ext4 commits
        # the whole journal), which a real night does not.
        os.sync()
        summaries.append(run(config))
    summary = min(summaries, key=lambda s: float(s["wall_s"]))
    walls = ", ".join(f"{float(s['wall_s']):.2f}" for s in summaries)
    counts = summary["counts"]
    print(
        f"{args.calls:,} calls in 24 files, {args.prior_days} nights stored before: "
        f"read {counts['read']:,}, rated {counts['rated']:,}, rejected {counts['rejected']:,}; "
        f"wall of the {args.runs} runs: {walls} s (the best is shown)"
    )
    print(report(summary))
    if args.json:
        files = len(list((args.workdir / "inbox").glob(f"cdrs-{NIGHT.isoformat()}T*.csv")))
        found = json_report(summaries, args.calls, args.prior_days, args.prefixes, files)
        args.json.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
