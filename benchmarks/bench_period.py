"""A billing period end to end: ingest a month, bill it, re-rate it.

``--calls`` canonical CDRs of ``generate.py`` (one month, 10,000 accounts, the synthetic
12,000-prefix sheet plus a 60-minute allowance on national calls), every account with
a monthly fee and every tenth with a prorated one. Each step runs in its own child
process so that its peak memory is its own:

- ``ingest``: ``cdr-rating run --period 2026-10`` (rate and store the month);
- ``bill``: what ``run --close`` computes before rendering: read the stored month,
  allowances in call order, fees, taxes, one bill per account (``bill_period``);
- ``rerate``: ``cdr-rating rerate --period 2026-10`` preview (re-rate every stored call
  and re-bill the period); the target is under 2x the rating time of ``ingest``.

Wall time, CPU time (user + system) and peak RSS are those of the child process, from
``wait4``: interpreter start-up and imports included, as a cron job pays them. The
rating steps of ``ingest`` are timed inside it. Rendering the invoices is measured by
``bench_render.py``. ``--json FILE`` also writes the measurements as JSON (what
``harness.py`` reads).

Example::

    python benchmarks/bench_period.py --calls 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate
from bench_rate import run_child

ACCOUNTS = 10_000
ALLOWANCE = '\n[[allowances]]\nname = "national-60"\nseconds = 3600\nprefixes = ["49"]\n'


def prepare(workdir: Path, calls: int, prefixes: int = 12_000) -> Path:
    """The workspace (sheet with an allowance, accounts, fees, config, the month's CDRs
    in the inbox); reused when prepared before for the same size.

    The CDRs are ``generate.py``'s dataset in ``workdir``'s parent (generated when
    missing, reused by the other benchmarks), linked into the inbox.
    """
    config, marker = workdir / "cdr-rating.toml", workdir / "prepared.json"
    parameters = {"calls": calls} | ({} if prefixes == 12_000 else {"prefixes": prefixes})
    if marker.is_file() and json.loads(marker.read_text()) == parameters:
        return config
    if workdir.exists():
        shutil.rmtree(workdir)
    dataset = generate.generate(workdir.parent, calls, prefixes=prefixes)
    (workdir / "sheets").mkdir(parents=True)
    (workdir / "inbox").mkdir()
    sheet_text = dataset.sheet.read_text(encoding="utf-8")
    rates = dataset.sheet.with_name(sheet_text.split('rates = "')[1].split('"')[0])
    shutil.copy(rates, workdir / "sheets" / rates.name)
    (workdir / "sheets" / "bench.toml").write_text(sheet_text + ALLOWANCE, encoding="utf-8")
    for part in dataset.parts:
        (workdir / "inbox" / part.name).symlink_to(part)
    accounts = [f"A{i:05d}" for i in range(ACCOUNTS)]
    pl.DataFrame({"account": accounts}).with_columns(
        name=pl.format("Customer {}", pl.col("account")),
        sheet=pl.lit("bench"),
        tax_rate=pl.lit("0.19"),
        itemised=pl.lit("false"),
    ).write_csv(workdir / "accounts.csv")
    monthly = pl.DataFrame({"account": accounts}).with_columns(
        code=pl.lit("TRUNK"),
        description=pl.lit("SIP trunk"),
        amount=pl.lit("9.90"),
        kind=pl.lit("monthly"),
        date=pl.lit("2026-01-01"),
        prorate=pl.lit("false"),
    )
    prorated = monthly.gather_every(10).with_columns(
        code=pl.lit("SEATS"),
        description=pl.lit("Extra seats"),
        amount=pl.lit("31.00"),
        date=pl.lit("2026-10-10"),
        prorate=pl.lit("true"),
    )
    pl.concat([monthly, prorated]).write_csv(workdir / "fees.csv")
    config.write_text(
        '[paths]\ndata_dir = "var"\ninbox = "inbox"\nsheets = "sheets"\n'
        'accounts = "accounts.csv"\nfees = "fees.csv"\n\n'
        '[input]\ntimezone = "Europe/Berlin"\n\n[billing]\ntimezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )
    marker.write_text(json.dumps(parameters))
    return config


def child(step: str, config: Path) -> dict[str, float]:
    """Run one step in a child process: what it reports, and its wall time, CPU time
    (``cpu_s``; the step's own is ``step_cpu_s``) and peak RSS from ``wait4``."""
    done = run_child(
        [sys.executable, __file__, "--step", step, "--config", str(config)],
        env={k: v for k, v in os.environ.items() if not k.startswith("CDR_RATING")},
        capture_stdout=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{done.stderr}")
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    measured["step_cpu_s"] = measured.pop("cpu_s")
    measured["wall_s"] = done.wall_s
    measured["cpu_s"] = done.cpu_s
    measured["peak_rss_mib"] = max(measured["peak_rss_mib"], done.peak_rss_bytes / 2**20)
    return measured


def step(name: str, config: Path) -> dict[str, float]:
    """Inside the child: do ``name`` and return what it measured."""
    from cdr_rating.billing.period import bill_period
    from cdr_rating.config import load_settings
    from cdr_rating.jobs.close import accounts_by_bucket, billed_calls
    from cdr_rating.jobs.month import StoredMonth
    from cdr_rating.jobs.nightly import RunRequest, run_batch
    from cdr_rating.jobs.rerate import rerate_period
    from cdr_rating.jobs.setup import billing_setup
    from cdr_rating.ledger import Ledger
    from cdr_rating.store import DataDir

    settings = load_settings(config)
    data = DataDir(settings.paths.data_dir)
    began_cpu = time.process_time()
    found: dict[str, float] = {}
    if name == "ingest":
        if data.root.exists():
            shutil.rmtree(data.root)
        report = run_batch(settings, RunRequest(period="2026-10"))
        found["calls"] = report.read
        found["rating_s"] = sum(report.timings.get(s, 0.0) for s in ("plan", "rate", "rejects"))
    elif name == "bill":
        # What close computes before rendering: every account's bill, a slice at a time.
        with Ledger.open(data.ledger) as ledger:
            month = StoredMonth.of(ledger, data, "2026-10")
        setup = billing_setup(settings, "2026-10")
        everyone = setup.rules.accounts.get_column("account").unique().sort().to_list()
        found.update(calls=0, bills=0, covered_calls=0, slices=month.slices())
        for bucket, accounts in accounts_by_bucket(everyone, month.slices()).items():
            calls = billed_calls(month, bucket, month.slices())
            bills = bill_period(calls, setup.rules, setup.plan, only=accounts)
            found["calls"] += calls.height
            found["bills"] += len(bills.bills)
            found["covered_calls"] += bills.calls.filter(pl.col("allowance_s") > 0).height
    elif name == "rerate":
        with Ledger.open(data.ledger) as ledger:
            result = rerate_period(settings, ledger, "2026-10")
        found["calls"] = result.calls
        found["accounts"] = len(result.accounts)
        found["calls_changed"] = result.changes.height
    found["cpu_s"] = time.process_time() - began_cpu
    found["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return found


def json_report(results: dict[str, dict[str, float]], calls: int) -> dict[str, Any]:
    """The three steps as JSON rows, with the re-rating ratios."""
    rating = results["ingest"]["rating_s"]
    rows = []
    for name, measured in results.items():
        rows.append(
            {
                "measurement": name,
                **measured,
                "calls": int(measured["calls"]),
                "calls_per_s": measured["calls"] / measured["wall_s"],
            }
        )
    return {
        "benchmark": "period",
        "calls": calls,
        "accounts": ACCOUNTS,
        "rows": rows,
        "rerate_over_ingest": results["rerate"]["wall_s"] / results["ingest"]["wall_s"],
        "rerate_over_rating": results["rerate"]["wall_s"] / rating,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--prefixes", type=int, default=12_000, help="distinct sheet prefixes")
    parser.add_argument("--out", type=Path, default=Path("/tmp/cdr-bench"))
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON here")
    parser.add_argument("--step", choices=("ingest", "bill", "rerate"), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(step(args.step, args.config)))
        return 0
    config = prepare(args.out / f"period-{args.calls}", args.calls, args.prefixes)
    results = {name: child(name, config) for name in ("ingest", "bill", "rerate")}
    rating = results["ingest"]["rating_s"]
    lines = [
        f"bench_period: {args.calls:,} calls, {ACCOUNTS:,} accounts; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, Polars {pl.__version__}",
        "",
        "| step | wall (s) | CPU (s) | peak RSS (MiB) | notes |",
        "|---|---:|---:|---:|---|",
    ]
    notes = {
        "ingest": f"rating steps {rating:.2f} s of it",
        "bill": f"{results['bill']['bills']:.0f} bills, "
        f"{results['bill']['covered_calls']:.0f} calls touched by allowances",
        "rerate": f"{results['rerate']['wall_s'] / results['ingest']['wall_s']:.2f}x the "
        f"ingest, {results['rerate']['wall_s'] / rating:.2f}x its rating steps "
        f"({results['rerate']['calls_changed']:.0f} calls changed)",
    }
    for name, measured in results.items():
        lines.append(
            f"| {name} | {measured['wall_s']:.2f} | {measured['cpu_s']:.2f} | "
            f"{measured['peak_rss_mib']:.0f} | {notes[name]} |"
        )
    print("\n".join(lines))
    if args.json:
        found = json_report(results, args.calls)
        args.json.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
