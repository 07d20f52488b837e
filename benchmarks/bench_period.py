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

Rendering the invoices is measured by ``bench_render.py``.

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
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate

ACCOUNTS = 10_000
ALLOWANCE = '\n[[allowances]]\nname = "national-60"\nseconds = 3600\nprefixes = ["49"]\n'


def prepare(workdir: Path, calls: int) -> Path:
    """The workspace (sheet with an allowance, accounts, fees, config, the month's CDRs
    in the inbox); reused when prepared before for the same size."""
    config, marker = workdir / "cdr-rating.toml", workdir / "prepared.json"
    if marker.is_file() and json.loads(marker.read_text()) == {"calls": calls}:
        return config
    if workdir.exists():
        shutil.rmtree(workdir)
    dataset = generate.dataset_paths(workdir.parent, calls)
    if not dataset.cdrs.is_file():
        generate.generate(workdir.parent, calls)
    (workdir / "sheets").mkdir(parents=True)
    (workdir / "inbox").mkdir()
    sheet_text = dataset.sheet.read_text(encoding="utf-8")
    rates = dataset.sheet.with_name(sheet_text.split('rates = "')[1].split('"')[0])
    shutil.copy(rates, workdir / "sheets" / rates.name)
    (workdir / "sheets" / "bench.toml").write_text(sheet_text + ALLOWANCE, encoding="utf-8")
    (workdir / "inbox" / dataset.cdrs.name).symlink_to(dataset.cdrs)
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
    marker.write_text(json.dumps({"calls": calls}))
    return config


def child(step: str, config: Path) -> dict[str, float]:
    """Run one step in a child process; its wall and CPU time and peak RSS."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--step", step, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("CDR_RATING")},
    )
    if done.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{done.stderr}")
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    measured["wall_s"] = time.perf_counter() - began
    return measured


def step(name: str, config: Path) -> dict[str, float]:
    """Inside the child: do ``name`` and return what it measured."""
    from cdr_rating.batch import RunRequest, run_batch
    from cdr_rating.billing.close import billing_setup, stored_calls
    from cdr_rating.billing.period import bill_period
    from cdr_rating.billing.rerate import rerate_period
    from cdr_rating.config import load_settings
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
        with Ledger.open(data.ledger) as ledger:
            setup = billing_setup(settings, "2026-10")
            calls = stored_calls(ledger, data, "2026-10")
            bills = bill_period(calls, setup.rules, setup.plan)
        found["calls"] = calls.height
        found["bills"] = len(bills.bills)
        found["covered_calls"] = bills.calls.filter(pl.col("allowance_s") > 0).height
    elif name == "rerate":
        with Ledger.open(data.ledger) as ledger:
            result = rerate_period(settings, ledger, "2026-10")
        found["accounts"] = len(result.accounts)
        found["calls_changed"] = result.changes.height
    found["cpu_s"] = time.process_time() - began_cpu
    found["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/cdr-bench"))
    parser.add_argument("--step", choices=("ingest", "bill", "rerate"), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(step(args.step, args.config)))
        return 0
    config = prepare(args.out / f"period-{args.calls}", args.calls)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
