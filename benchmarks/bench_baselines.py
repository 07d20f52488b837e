"""The engine against a straightforward per-call Python rater of the same rules.

The per-call baseline is what one writes without a columnar engine: a loop over the
calls, a dict from prefix to rates searched from the longest prefix down, the band
from the call's wall clock, then the tiers, increments, connect fee, cap and rounding
of docs/rating.md (with exact fractions: it reuses the scalar rater of
``tests/reference.py`` for those, and replaces its linear rate search by the dict).

Before timing, both rate the same ``--check`` calls and must agree on every charge.
Then each rates ``--calls`` calls from the generated Parquet input (``generate.py``),
in this process, input read and output built included (no file written by either).

Example::

    python benchmarks/bench_baselines.py --calls 100000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent / "tests")]

import generate  # noqa: E402
from reference import MAX_PREFIX_DIGITS, Rate, ReferenceSheet, reference_rate  # noqa: E402

INTERNATIONAL_PREFIX = "00"  # the engine's default, stripped from dialled numbers


class DictSheet:
    """A reference sheet whose rate search is a dict lookup, longest prefix first."""

    def __init__(self, sheet: ReferenceSheet) -> None:
        self.sheet = sheet
        self.by_prefix: dict[str, list[Rate]] = {}
        for rate in sheet.rates:
            self.by_prefix.setdefault(rate.prefix, []).append(rate)
        self.longest = max(map(len, self.by_prefix), default=0)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sheet, name)

    def band_at(self, instant: object) -> str:
        return self.sheet.band_at(instant)  # type: ignore[arg-type]

    def select(self, number: str, instant: object, band: str) -> Rate | None:
        matched = number[:MAX_PREFIX_DIGITS]
        for length in range(min(len(matched), self.longest), 0, -1):
            rates = self.by_prefix.get(matched[:length])
            if not rates:
                continue
            live = [rate for rate in rates if rate.effective_at(instant)]  # type: ignore[arg-type]
            exact = [rate for rate in live if rate.band == band]
            anyband = [rate for rate in live if rate.band == ""]
            if exact or anyband:
                return (exact or anyband)[0]
        return None


def per_call(calls: pl.DataFrame, sheet: DictSheet) -> dict[str, Decimal | None]:
    """Rate every call in a Python loop: ``call_id -> charge`` (None: no rate)."""
    charges: dict[str, Decimal | None] = {}
    rows: Iterator[tuple[str, str, object, int]] = calls.select(
        "call_id", "callee", "start", "duration"
    ).iter_rows()
    for call_id, callee, start, duration in rows:
        number = "".join(ch for ch in callee if ch.isdigit())
        if number.startswith(INTERNATIONAL_PREFIX) and not callee.startswith("+"):
            number = number[len(INTERNATIONAL_PREFIX) :]
        result = reference_rate(sheet, number, start, Decimal(duration))  # type: ignore[arg-type]
        charges[call_id] = None if result is None else result.charge
    return charges


def engine(calls_path: Path, sheet_path: Path) -> dict[str, Decimal | None]:
    from cdr_rating.pipeline import rate_files
    from cdr_rating.rating import RatingPlan
    from cdr_rating.sheets import load_sheet

    plan = RatingPlan.from_sheets([load_sheet(sheet_path)])
    result = rate_files([calls_path], plan)
    charges: dict[str, Decimal | None] = dict(result.rated.select("call_id", "charge").iter_rows())
    charges.update(dict.fromkeys(result.rejects.get_column("call_id").to_list()))
    return charges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--check", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/cdr-bench"))
    args = parser.parse_args(argv)
    dataset = generate.dataset_paths(args.out, 1_000_000)
    if not dataset.cdrs.is_file():
        generate.generate(args.out, 1_000_000)
    sample = args.out / f"baseline-{args.calls}.parquet"
    pl.read_parquet(dataset.cdrs).head(args.calls).write_parquet(sample)
    check = args.out / f"baseline-check-{args.check}.parquet"
    pl.read_parquet(dataset.cdrs).gather_every(1_000_000 // args.check).write_parquet(check)
    sheet = DictSheet(ReferenceSheet.load(dataset.sheet))

    expected = engine(check, dataset.sheet)
    baseline = per_call(pl.read_parquet(check), sheet)
    differ = [key for key in expected if expected[key] != baseline.get(key)]
    if differ:
        first = differ[0]
        print(f"baselines disagree on {len(differ)} calls, e.g. {first}: "
              f"engine {expected[first]}, per-call {baseline.get(first)}")  # fmt: skip
        return 1

    began = time.perf_counter()
    engine(sample, dataset.sheet)
    engine_s = time.perf_counter() - began
    began = time.perf_counter()
    per_call(pl.read_parquet(sample), sheet)
    per_call_s = time.perf_counter() - began
    print(f"{len(expected):,} sample calls: same charges from both")
    print("| rater | calls | wall (s) | calls/s |")
    print("|---|---:|---:|---:|")
    print(
        f"| engine (rate_files) | {args.calls:,} | {engine_s:.2f} | {args.calls / engine_s:,.0f} |"
    )
    print(f"| per-call Python | {args.calls:,} | {per_call_s:.2f} | "
          f"{args.calls / per_call_s:,.0f} |")  # fmt: skip
    print(f"per-call / engine: {per_call_s / engine_s:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
