"""A billing period end to end: ingest a month, bill it, re-rate it.

``--calls`` canonical CDRs of ``generate.py`` (one month, 10,000 accounts, the synthetic
12,000-prefix sheet plus a 60-minute allowance on national calls), every account with
a monthly fee and every tenth with a prorated one. Each step runs in its own child
process so that its peak memory is its own:

- ``ingest``: ``cdr-rating run --period 2026-10 --config CONFIG`` on an empty data
  folder (rate and store the month); its rating steps (``plan``, ``rate``,
  ``rejects``) are read from the run's manifest (``var/manifests/RUN.json``,
  ``timings_s``);
- ``bill``: what ``run --close`` computes before rendering: read the stored month,
  allowances in call order, fees, taxes, one bill per account (``bill_period``), in a
  child running ``bill_in_process`` (the only library call of this script);
- ``rerate``: ``cdr-rating rerate --period 2026-10 --format json --config CONFIG``, a
  preview (re-rate every stored call and re-bill the period; nothing is written).

Targets (issue 12), each ratio from one run: ``bill`` at most 0.5x and ``rerate`` at
most 1.5x the ingest's rating time (``bill_over_rating``, ``rerate_over_rating``).

Wall time, CPU time (user + system) and peak RSS are those of the child process, from
``wait4``: interpreter start-up and imports included, as a cron job pays them.
``--rss-limit-mib`` stops a step whose resident memory passes the limit; a step that
is stopped or fails is reported as failed (with the reason) and the script exits 1
after writing its table and JSON. Rendering the invoices is measured by
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
from bench_rate import ChildRun, run_child

ACCOUNTS = 10_000
DATA_DIR = "var"  # the data folder of the workspace, beside its config
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
        f'[paths]\ndata_dir = "{DATA_DIR}"\ninbox = "inbox"\nsheets = "sheets"\n'
        'accounts = "accounts.csv"\nfees = "fees.csv"\n\n'
        '[input]\ntimezone = "Europe/Berlin"\n\n[billing]\ntimezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )
    marker.write_text(json.dumps(parameters))
    return config


STEPS = ("ingest", "bill", "rerate")
RATING_STEPS = ("plan", "rate", "rejects")  # of the run's timings_s: its rating time
PERIOD = "2026-10"


def console_script() -> str:
    """The installed ``cdr-rating`` script: beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "cdr-rating"
    found = str(beside) if beside.exists() else shutil.which("cdr-rating")
    if found is None:
        raise SystemExit("cdr-rating is not installed; run `pip install -e .` first")
    return found


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CDR_RATING")}


class StepError(Exception):
    """A step's child exited with an error or was stopped at the memory limit."""

    def __init__(self, reason: str, done: ChildRun | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.done = done


def run_step(command: list[str], rss_limit_bytes: int | None) -> ChildRun:
    """Run one step's child process; :class:`StepError` when it fails or is stopped."""
    done = run_child(command, env=clean_env(), capture_stdout=True, rss_limit_bytes=rss_limit_bytes)
    if done.stopped:
        limit = (rss_limit_bytes or 0) / 2**20
        shown = f"{limit / 1024:,.1f} GiB" if limit >= 1024 else f"{limit:,.0f} MiB"
        raise StepError(f"stopped: memory passed the {shown} limit", done)
    if done.returncode != 0:
        last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:]
        tail = f": {last[0].strip()}" if last else ""
        raise StepError(f"exit status {done.returncode}{tail}", done)
    return done


def measured_child(done: ChildRun) -> dict[str, float]:
    """Wall time, CPU time (user + system) and peak RSS of a child, from ``wait4``."""
    return {
        "wall_s": done.wall_s,
        "cpu_s": done.cpu_s,
        "peak_rss_mib": done.peak_rss_bytes / 2**20,
    }


def json_output(done: ChildRun, last_line: bool = False) -> Any:
    """The JSON a step's child printed (its last line only, with ``last_line``)."""
    text = done.stdout.strip()
    try:
        return json.loads(text.splitlines()[-1] if last_line else text)
    except (IndexError, json.JSONDecodeError) as error:
        raise StepError(f"no JSON on stdout ({error})", done) from error


def ingest(config: Path, rss_limit_bytes: int | None = None) -> dict[str, float]:
    """``cdr-rating run --period 2026-10 --config CONFIG`` on an empty data folder.

    ``rating_s`` is the run's own rating steps (``plan``, ``rate``, ``rejects``) from
    its manifest (``timings_s``); ``stored_calls`` what the month holds afterwards
    (calls read less duplicates), which ``rerate`` re-rates.
    """
    data = config.parent / DATA_DIR
    if data.exists():
        shutil.rmtree(data)
    command = [console_script(), "run", "--period", PERIOD, "--config", str(config)]
    done = run_step(command, rss_limit_bytes)
    manifests = sorted((data / "manifests").glob("*.json"), key=lambda path: path.stat().st_mtime)
    if not manifests:
        raise StepError(f"no manifest in {data / 'manifests'}", done)
    manifest = json.loads(manifests[-1].read_text(encoding="utf-8"))
    counts, timings = manifest["counts"], manifest.get("timings_s", {})
    if not any(timings.get(step) for step in RATING_STEPS):
        raise StepError(f"{manifests[-1].name}: no timings_s of {', '.join(RATING_STEPS)}", done)
    duplicates = counts.get("duplicates", {})
    return {
        "calls": counts["read"],
        "rating_s": sum(timings.get(step, 0.0) for step in RATING_STEPS),
        "stored_calls": counts["read"]
        - duplicates.get("within_input", 0)
        - duplicates.get("already_stored", 0),
        **measured_child(done),
    }


def rerate(
    config: Path, stored_calls: float, rss_limit_bytes: int | None = None
) -> dict[str, float]:
    """``cdr-rating rerate --period 2026-10 --format json --config CONFIG`` (a preview:
    nothing is written). ``calls`` is the month's stored calls, every one re-rated."""
    command = [console_script(), "rerate", "--period", PERIOD, "--format", "json"]
    done = run_step([*command, "--config", str(config)], rss_limit_bytes)
    found = json_output(done)
    return {
        "calls": stored_calls,
        "accounts": len(found["accounts"]),
        "calls_changed": found["calls_changed"],
        **measured_child(done),
    }


def bill(config: Path, rss_limit_bytes: int | None = None) -> dict[str, float]:
    """The ``bill`` step in a child process (``--step bill``): what it reports, and its
    wall time, CPU time (``cpu_s``; the step's own is ``step_cpu_s``) and peak RSS."""
    command = [sys.executable, __file__, "--step", "bill", "--config", str(config)]
    done = run_step(command, rss_limit_bytes)
    measured: dict[str, float] = json_output(done, last_line=True)
    measured["step_cpu_s"] = measured.pop("cpu_s")
    child_figures = measured_child(done)
    child_figures["peak_rss_mib"] = max(measured["peak_rss_mib"], child_figures["peak_rss_mib"])
    return {**measured, **child_figures}


def bill_in_process(config: Path) -> dict[str, float]:
    """What ``run --close`` computes before rendering: the stored month a slice of
    accounts at a time, allowances in call order, fees, taxes, one bill per account.

    The one place that calls the library directly (``ingest`` and ``rerate`` run the
    commands).
    """
    from cdr_rating.billing.period import bill_period
    from cdr_rating.config import load_settings
    from cdr_rating.jobs.close import accounts_by_bucket, billed_calls
    from cdr_rating.jobs.month import StoredMonth, month_slices
    from cdr_rating.jobs.setup import billing_setup
    from cdr_rating.ledger import Ledger
    from cdr_rating.store import DataDir

    settings = load_settings(config)
    data = DataDir(settings.paths.data_dir)
    with Ledger.open(data.ledger) as ledger:
        month = StoredMonth.of(ledger, data, PERIOD)
    setup = billing_setup(settings, PERIOD)
    everyone = setup.rules.accounts.get_column("account").unique().sort().to_list()
    slices = month.slices()
    found: dict[str, float] = {"calls": 0, "bills": 0, "covered_calls": 0, "slices": slices}
    with month_slices(month, buckets=slices) as sliced:
        for bucket, accounts in accounts_by_bucket(everyone, slices).items():
            calls = billed_calls(sliced, bucket)
            bills = bill_period(calls, setup.rules, setup.plan, only=accounts)
            found["calls"] += calls.height
            found["bills"] += len(bills.bills)
            found["covered_calls"] += bills.calls.filter(pl.col("allowance_s") > 0).height
    return found


def step(name: str, config: Path) -> dict[str, float]:
    """Inside the child: do ``name`` (only ``bill`` runs in-process) and return what it
    measured, with its own CPU time and peak RSS."""
    if name != "bill":
        raise SystemExit(f"--step {name}: only bill runs in-process")
    began_cpu = time.process_time()
    found = bill_in_process(config)
    found["cpu_s"] = time.process_time() - began_cpu
    found["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return found


def run_steps(
    config: Path, calls: int, rss_limit_bytes: int | None = None
) -> dict[str, dict[str, Any]]:
    """The three steps in order. A step that fails is recorded with ``failed`` (the
    reason) and, when its child ran, its wall time and peak RSS; ``bill`` and
    ``rerate`` are not run when ``ingest`` failed."""
    results: dict[str, dict[str, Any]] = {}
    plans = {
        "ingest": lambda: ingest(config, rss_limit_bytes),
        "bill": lambda: bill(config, rss_limit_bytes),
        "rerate": lambda: rerate(config, results["ingest"]["stored_calls"], rss_limit_bytes),
    }
    for name in STEPS:
        if name != "ingest" and "failed" in results["ingest"]:
            results[name] = {"calls": calls, "failed": "not run: ingest failed"}
            continue
        try:
            results[name] = plans[name]()
        except StepError as failure:
            results[name] = {"calls": calls, "failed": failure.reason}
            if failure.done is not None:
                results[name] |= measured_child(failure.done)
                results[name]["stopped_over_rss_limit"] = failure.done.stopped
    return results


def ratio(results: dict[str, dict[str, Any]], name: str, over: str, key: str) -> float | None:
    """``results[name]["wall_s"] / results[over][key]``, None when either is missing."""
    top, bottom = results[name].get("wall_s"), results[over].get(key)
    if "failed" in results[name] or "failed" in results[over] or not top or not bottom:
        return None
    return float(top) / float(bottom)


def json_report(
    results: dict[str, dict[str, Any]], calls: int, rss_limit_bytes: int | None = None
) -> dict[str, Any]:
    """The three steps as JSON rows (a failed one with ``failed``), with the ratios to
    the ingest's rating time (None when a step failed)."""
    rows = []
    for name, measured in results.items():
        row = {"measurement": name, **measured, "calls": int(measured["calls"])}
        if "failed" not in measured:
            row["calls_per_s"] = measured["calls"] / measured["wall_s"]
        rows.append(row)
    return {
        "benchmark": "period",
        "calls": calls,
        "accounts": ACCOUNTS,
        "rows": rows,
        "failed": {name: found["failed"] for name, found in results.items() if "failed" in found},
        "rss_limit_mib": None if rss_limit_bytes is None else rss_limit_bytes / 2**20,
        "bill_over_rating": ratio(results, "bill", "ingest", "rating_s"),
        "rerate_over_rating": ratio(results, "rerate", "ingest", "rating_s"),
        "rerate_over_ingest": ratio(results, "rerate", "ingest", "wall_s"),
    }


def notes(results: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The notes column of the printed table."""
    found = {name: f"failed: {m['failed']}" for name, m in results.items() if "failed" in m}
    rating = results["ingest"].get("rating_s")
    if "ingest" not in found:
        found["ingest"] = f"rating steps {rating:.2f} s of it"
    if "bill" not in found:
        bill_ = results["bill"]
        found["bill"] = (
            f"{bill_['bills']:.0f} bills, {bill_['covered_calls']:.0f} calls touched by "
            f"allowances, {bill_['wall_s'] / rating:.2f}x the ingest's rating steps"
        )
    if "rerate" not in found:
        rerate_ = results["rerate"]
        found["rerate"] = (
            f"{rerate_['wall_s'] / results['ingest']['wall_s']:.2f}x the ingest, "
            f"{rerate_['wall_s'] / rating:.2f}x its rating steps "
            f"({rerate_['calls_changed']:.0f} calls changed)"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--prefixes", type=int, default=12_000, help="distinct sheet prefixes")
    parser.add_argument("--out", type=Path, default=Path("/tmp/cdr-bench"))
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON here")
    parser.add_argument(
        "--rss-limit-mib",
        type=float,
        metavar="MIB",
        help="stop a step whose resident memory passes this (reported as failed)",
    )
    parser.add_argument("--step", choices=("bill",), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(step(args.step, args.config)))
        return 0
    rss_limit = None if args.rss_limit_mib is None else int(args.rss_limit_mib * 2**20)
    config = prepare(args.out / f"period-{args.calls}", args.calls, args.prefixes)
    results = run_steps(config, args.calls, rss_limit)
    lines = [
        f"bench_period: {args.calls:,} calls, {ACCOUNTS:,} accounts; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, Polars {pl.__version__}",
        "",
        "| step | wall (s) | CPU (s) | peak RSS (MiB) | notes |",
        "|---|---:|---:|---:|---|",
    ]
    noted = notes(results)
    for name, measured in results.items():
        figures = [
            f"{measured[key]:.{places}f}" if key in measured else "-"
            for key, places in (("wall_s", 2), ("cpu_s", 2), ("peak_rss_mib", 0))
        ]
        lines.append(f"| {name} | {' | '.join(figures)} | {noted[name]} |")
    print("\n".join(lines))
    if args.json:
        found = json_report(results, args.calls, rss_limit)
        args.json.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return 1 if any("failed" in measured for measured in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
