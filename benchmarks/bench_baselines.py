"""The engine against two baselines of the same rules: per-call Python and DuckDB SQL.

ARCHITECTURE.md section 11 asks the engine to be at least 30x faster than a
straightforward per-call Python implementation of the rating rules and faster than the
same rules written as DuckDB SQL. This script has both baselines:

- **per-call Python**: a loop over the calls, a dict from prefix to rates searched from
  the longest prefix down, the band from the call's wall clock, then the tiers,
  increments, connect fee, cap and rounding of docs/rating.md with exact fractions (it
  reuses the scalar rater of ``tests/reference.py`` and replaces its linear rate search
  by the dict);
- **DuckDB SQL**: ``duckdb_rating.sql`` run by DuckDB on the Parquet input
  (``read_parquet``), with the sheet loaded into three small tables by Python.

Both also normalise numbers, reject unreadable rows, and reject a repeated call_id as
``duplicate`` (the first good row in file order wins), as the engine does.

Before timing, the engine and the baselines rate the same ``--check`` calls (spread over
the month, plus re-delivered copies of some of them) and must agree exactly: the same
charge (Decimal equality), billable seconds, prefix and band for every rated call, and
the same rejects (line, call_id, reason). A mismatch prints the first differing calls
and exits with status 1.

Then each rater named by ``--raters`` rates the ``--calls`` input in a child process of
its own: imports happen before the clock starts; the measured part reads the sheet and
the Parquet input and writes the rated calls and the rejects as Parquet. ``--json FILE``
writes the results for other scripts.

Example::

    python benchmarks/bench_baselines.py --calls 1000000 --raters engine duckdb
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import resource
import string
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent / "tests")]

import generate  # noqa: E402
from reference import (  # noqa: E402
    MAX_PREFIX_DIGITS,
    Rate,
    ReferenceSheet,
    parse_band_windows,
    parse_bound,
    reference_rate,
)

SQL_FILE = BENCH_DIR / "duckdb_rating.sql"
# Command-line names of the raters and the names of their measurements.
MEASUREMENTS = {"engine": "engine", "per-call": "per-call Python", "duckdb": "DuckDB SQL"}
INTERNATIONAL_PREFIX = "00"  # the engine's default, stripped from dialled numbers
ANSWERED = "ANSWERED"
# What the engine strips from dialled numbers: "(0)" as a whole first, then punctuation.
NOISE = re.compile(r"\(0\)|[ \t./()-]")
NUMBER = re.compile(r"[0-9]{1,32}")
RATE_DECIMALS = 9  # rates, fees and caps have at most 9 digits after the point
MONEY_SQL_TYPE = "DECIMAL(18, 9)"
MAX_MONEY = Decimal(10) ** (18 - RATE_DECIMALS)
REDELIVERED_EVERY = 100  # the check sample repeats one call in this many at its end

# A rated call as the check compares it: charge, billable seconds, prefix, band.
Rated = tuple[Decimal, int, str, str]
# A rejected row: line (1-based, in its file), call_id (None if empty), reason.
Reject = tuple[int, str | None, str]


@dataclass(frozen=True)
class Outcome:
    """What a rater made of every input row."""

    rated: dict[str, Rated]
    rejects: set[Reject]


# ---------------------------------------------------------------------------------------
# per-call Python


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

    def band_at(self, instant: datetime) -> str:
        return self.sheet.band_at(instant)

    def select(self, number: str, instant: datetime, band: str) -> Rate | None:
        matched = number[:MAX_PREFIX_DIGITS]
        for length in range(min(len(matched), self.longest), 0, -1):
            rates = self.by_prefix.get(matched[:length])
            if not rates:
                continue
            live = [rate for rate in rates if rate.effective_at(instant)]
            exact = [rate for rate in live if rate.band == band]
            anyband = [rate for rate in live if rate.band == ""]
            if exact or anyband:
                return (exact or anyband)[0]
        return None


def normalise_number(dialled: str | None) -> str | None:
    """The engine's default number rules: punctuation out, ``00`` or ``+`` off, digits."""
    cleaned = NOISE.sub("", (dialled or "").strip())
    if cleaned.startswith(INTERNATIONAL_PREFIX):
        digits = cleaned[len(INTERNATIONAL_PREFIX) :]
    elif cleaned.startswith("+"):
        digits = cleaned[1:]
    else:
        digits = cleaned
    return digits if NUMBER.fullmatch(digits) else None


@dataclass
class PerCallResult:
    """Rated calls and rejects of the per-call rater, as columns."""

    call_id: list[str]
    number: list[str]
    billable_s: list[int]
    prefix: list[str]
    band: list[str]
    charge: list[Decimal]
    rejects: list[Reject]


def per_call(paths: Sequence[Path], sheet: DictSheet) -> PerCallResult:
    """Rate every call of the Parquet files in a Python loop, rejecting rows as the
    engine does (``line``: the row in its file, from 1)."""
    result = PerCallResult([], [], [], [], [], [], [])
    seen: set[str] = set()
    for path in paths:
        calls = pl.read_parquet(path)
        if "disposition" not in calls.columns:
            calls = calls.with_columns(disposition=pl.lit(None, pl.String))
        _per_call_file(calls, sheet, seen, result)
    return result


def _per_call_file(
    calls: pl.DataFrame, sheet: DictSheet, seen: set[str], result: PerCallResult
) -> None:
    rows = calls.select("call_id", "callee", "start", "duration", "disposition").iter_rows()
    for line, (raw_id, callee, start, duration, disposition) in enumerate(rows, start=1):
        call_id = (raw_id or "").strip()
        number = normalise_number(callee)
        reason = None
        if not call_id:
            reason = "parse_error"
        elif start is None:
            reason = "bad_time"
        elif duration is None or duration < 0:
            reason = "bad_duration"
        elif number is None:
            reason = "bad_number"
        elif call_id in seen:
            reason = "duplicate"
        if reason is not None:
            result.rejects.append((line, call_id or None, reason))
            continue
        assert number is not None
        seen.add(call_id)
        answered = ((disposition or "").strip().upper() or ANSWERED) == ANSWERED
        rated = reference_rate(
            sheet,  # type: ignore[arg-type]
            number,
            start,
            Decimal(duration if answered else 0),
        )
        if rated is None:
            result.rejects.append((line, call_id, "no_rate"))
            continue
        result.call_id.append(call_id)
        result.number.append(number)
        result.billable_s.append(rated.billable_s)
        result.prefix.append(rated.prefix)
        result.band.append(rated.band)
        result.charge.append(rated.charge)


def per_call_outcome(paths: Sequence[Path], sheet_path: Path) -> Outcome:
    result = per_call(paths, DictSheet(ReferenceSheet.load(sheet_path)))
    details = zip(result.charge, result.billable_s, result.prefix, result.band, strict=True)
    return Outcome(
        rated=dict(zip(result.call_id, details, strict=True)), rejects=set(result.rejects)
    )


def per_call_run(paths: Sequence[Path], sheet_path: Path, out_dir: Path) -> tuple[int, int]:
    """The timed run: sheet and Parquet in, loop, rated calls and rejects to Parquet."""
    sheet = ReferenceSheet.load(sheet_path)
    result = per_call(paths, DictSheet(sheet))
    pl.DataFrame(
        {
            "call_id": result.call_id,
            "number": result.number,
            "billable_s": result.billable_s,
            "prefix": result.prefix,
            "band": result.band,
            "charge": pl.Series(result.charge, dtype=pl.Decimal(38, sheet.decimals)),
        },
        schema_overrides={"billable_s": pl.Int64},
    ).write_parquet(out_dir / "per-call-rated.parquet")
    pl.DataFrame(result.rejects, schema=["line", "call_id", "reason"], orient="row").write_parquet(
        out_dir / "per-call-rejects.parquet"
    )
    return len(result.call_id), len(result.rejects)


# ---------------------------------------------------------------------------------------
# the engine


def engine_outcome(paths: Sequence[Path], sheet_path: Path) -> Outcome:
    from cdr_rating.pipeline import rate_files
    from cdr_rating.rating import RatingPlan
    from cdr_rating.sheets import load_sheet

    result = rate_files(list(paths), RatingPlan.from_sheets([load_sheet(sheet_path)]))
    rated = result.rated.select("call_id", "charge", "billable_s", "prefix", "band")
    rejects = result.rejects.select("line", "call_id", "reason")
    return Outcome(
        rated={row[0]: row[1:] for row in rated.iter_rows()},
        rejects=set(rejects.iter_rows()),
    )


def engine_run(paths: Sequence[Path], sheet_path: Path, out_dir: Path) -> tuple[int, int]:
    """The timed run: what ``cdr-rating rate IN --sheet S --out O --rejects R`` does."""
    from cdr_rating.pipeline import rate_to_file
    from cdr_rating.rating import RatingPlan
    from cdr_rating.sheets import load_sheet

    plan = RatingPlan.from_sheets([load_sheet(sheet_path)])
    summary = rate_to_file(
        list(paths),
        plan,
        out_dir / "engine-rated.parquet",
        rejects_out=out_dir / "engine-rejects.parquet",
    )
    return summary.rated, summary.rejected


# ---------------------------------------------------------------------------------------
# DuckDB SQL


class UnsupportedError(ValueError):
    """The sheet or input uses something the DuckDB baseline does not implement."""


def _money(text: str, what: str) -> str:
    """A rate, fee or cap as exact decimal text, checked to fit ``DECIMAL(18, 9)``."""
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    if not value.is_finite() or value < 0 or value >= MAX_MONEY:
        raise UnsupportedError(f"{what} {text!r} is not a decimal from 0 to {MAX_MONEY}")
    if isinstance(exponent, int) and exponent < -RATE_DECIMALS:
        raise UnsupportedError(f"{what} {text!r} has more than {RATE_DECIMALS} decimals")
    return text


@dataclass(frozen=True)
class SqlSheet:
    """A sheet read into rows for DuckDB tables: the small, per-sheet part, in Python."""

    sheet_id: str
    currency: str
    timezone: str
    default_band: str
    holiday_band: str
    grace_s: int
    decimals: int
    method: str
    tiers: pl.DataFrame  # one row per tier, money as text, bounds as epoch seconds
    windows: pl.DataFrame  # band, isodow, from_min, to_min
    holidays: pl.DataFrame  # day
    common_unit: int

    @classmethod
    def load(cls, toml_path: Path) -> SqlSheet:
        with toml_path.open("rb") as handle:
            doc = tomllib.load(handle)
        if doc.get("band_mode", "start") != "start":
            raise UnsupportedError(
                f"{toml_path}: band_mode {doc['band_mode']!r}: the DuckDB baseline implements "
                "only band_mode = 'start'"
            )
        zone = ZoneInfo(doc["timezone"])
        rounding = doc.get("rounding", {})
        decimals = int(rounding.get("decimals", 4))
        method = rounding.get("method", "half_up")
        if not 0 <= decimals <= RATE_DECIMALS or method not in ROUNDING_SQL:
            raise UnsupportedError(f"{toml_path}: rounding {rounding!r} is not supported")
        default_band = doc.get("default_band", "offpeak")
        windows = [
            (name, weekday + 1, window.start_min, window.end_min)
            for name, spec in doc.get("bands", {}).items()
            for window in parse_band_windows(spec)
            for weekday in sorted(window.weekdays)
        ]
        holidays = [
            day if isinstance(day, date) else date.fromisoformat(day)
            for day in doc.get("holidays", [])
        ]
        tiers = _sheet_tiers(toml_path.parent / doc["rates"], zone)
        return cls(
            sheet_id=doc["id"],
            currency=doc["currency"],
            timezone=doc["timezone"],
            default_band=default_band,
            holiday_band=doc.get("holiday_band", default_band),
            grace_s=int(doc.get("grace_s", 0)),
            decimals=decimals,
            method=method,
            tiers=tiers,
            windows=pl.DataFrame(
                windows,
                schema={
                    "band": pl.String,
                    "isodow": pl.Int32,
                    "from_min": pl.Int32,
                    "to_min": pl.Int32,
                },
                orient="row",
            ),
            holidays=pl.DataFrame({"day": holidays}, schema={"day": pl.Date}),
            common_unit=math.lcm(*tiers.get_column("unit_s").unique().to_list()),
        )


def _sheet_tiers(csv_path: Path, zone: ZoneInfo) -> pl.DataFrame:
    """The CSV as one row per tier, the ``increments = a/b`` shorthand expanded."""

    def cell(row: dict[str, str | None], column: str) -> str:
        return (row.get(column) or "").strip()

    def bound(text: str) -> int | None:
        return int(parse_bound(text, zone).timestamp()) if text else None

    rows: list[dict[str, Any]] = []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{csv_path}:{line}"
            common = {
                "prefix": cell(row, "prefix").removeprefix("+"),
                "band": cell(row, "band"),
                "eff_from": bound(cell(row, "effective_from")),
                "eff_to": bound(cell(row, "effective_to")),
                "destination": cell(row, "destination"),
                "unit_s": int(cell(row, "unit_s") or 60),
                "rate": _money(cell(row, "rate"), f"{where}: rate"),
                "connect_fee": _money(cell(row, "connect_fee") or "0", f"{where}: connect_fee"),
                "max_cost": (
                    _money(cell(row, "max_cost"), f"{where}: max_cost")
                    if cell(row, "max_cost")
                    else None
                ),
            }
            if cell(row, "increments"):
                first, then = (int(part) for part in cell(row, "increments").split("/"))
                rows.append(common | {"from_s": 0, "increment_s": first})
                rows.append(common | {"from_s": first, "increment_s": then})
            else:
                rows.append(
                    common
                    | {
                        "from_s": int(cell(row, "from_s") or 0),
                        "increment_s": int(cell(row, "increment_s") or 1),
                    }
                )
    return pl.DataFrame(
        rows,
        schema={
            "prefix": pl.String,
            "band": pl.String,
            "eff_from": pl.Int64,
            "eff_to": pl.Int64,
            "destination": pl.String,
            "unit_s": pl.Int64,
            "rate": pl.String,
            "connect_fee": pl.String,
            "max_cost": pl.String,
            "from_s": pl.Int64,
            "increment_s": pl.Int64,
        },
    )


# Whether to add one unit in the last place, given ``quotient`` and ``remainder`` of the
# charge divided by ``${divisor}`` (both non-negative): docs/rating.md "Rounding".
ROUNDING_SQL = {
    "half_up": "CASE WHEN 2 * remainder >= ${divisor} THEN 1 ELSE 0 END",
    "half_even": (
        "CASE WHEN 2 * remainder > ${divisor}"
        " OR (2 * remainder = ${divisor} AND quotient % 2 = 1) THEN 1 ELSE 0 END"
    ),
    "up": "CASE WHEN remainder > 0 THEN 1 ELSE 0 END",
    "down": "0",
}


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def rating_sql(sheet: SqlSheet, paths: Sequence[Path]) -> str:
    """``duckdb_rating.sql`` with its placeholders filled in for ``sheet`` and ``paths``."""
    divisor = sheet.common_unit * 10 ** (RATE_DECIMALS - sheet.decimals)
    step = format(Decimal(1).scaleb(-sheet.decimals), "f")
    values = {
        "files": "[" + ", ".join(sql_text(str(path)) for path in paths) + "]",
        "timezone": sql_text(sheet.timezone),
        "default_band": sql_text(sheet.default_band),
        "holiday_band": sql_text(sheet.holiday_band),
        "grace_ms": str(sheet.grace_s * 1000),
        "common_unit": str(sheet.common_unit),
        "decimals": str(sheet.decimals),
        "divisor": str(divisor),
        "step": f"CAST('{step}' AS DECIMAL(18, {sheet.decimals}))",
        "sheet_id": sql_text(sheet.sheet_id),
        "currency": sql_text(sheet.currency),
        "international_prefix": sql_text(INTERNATIONAL_PREFIX),
        "international_prefix_length": str(len(INTERNATIONAL_PREFIX)),
        "prefix_lengths": str(sorted(sheet.tiers.get_column("prefix").str.len_chars().unique())),
    }
    values["bump"] = string.Template(ROUNDING_SQL[sheet.method]).substitute(values)
    return string.Template(SQL_FILE.read_text(encoding="utf-8")).substitute(values)


INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}


def duckdb_rate(con: Any, paths: Sequence[Path], sheet_path: Path) -> None:
    """Rate ``paths`` into the table ``outcome`` of the DuckDB connection ``con``."""
    sheet = SqlSheet.load(sheet_path)
    con.execute("SET TimeZone = 'UTC'")  # naive Parquet times are UTC, as in the engine
    files = "[" + ", ".join(sql_text(str(path)) for path in paths) + "]"
    ((_, duration_type, *_),) = con.execute(
        f"DESCRIBE SELECT duration FROM read_parquet({files})"
    ).fetchall()
    if duration_type not in INTEGER_TYPES:
        raise UnsupportedError(
            f"duration is {duration_type}: the DuckDB baseline reads whole seconds "
            "(an integer column) only"
        )
    con.register("sheet_tiers_rows", sheet.tiers)
    con.register("band_windows_rows", sheet.windows)
    con.register("holidays_rows", sheet.holidays)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE sheet_tiers AS
        SELECT
            prefix, band, to_timestamp(eff_from) AS eff_from, to_timestamp(eff_to) AS eff_to,
            destination, from_s, increment_s, unit_s,
            CAST(rate AS {MONEY_SQL_TYPE}) AS rate,
            CAST(connect_fee AS {MONEY_SQL_TYPE}) AS connect_fee,
            CAST(max_cost AS {MONEY_SQL_TYPE}) AS max_cost
        FROM sheet_tiers_rows;
        CREATE OR REPLACE TEMP TABLE band_windows AS SELECT * FROM band_windows_rows;
        CREATE OR REPLACE TEMP TABLE holidays AS SELECT * FROM holidays_rows;
        """
    )
    for name in ("sheet_tiers_rows", "band_windows_rows", "holidays_rows"):
        con.unregister(name)
    con.execute(rating_sql(sheet, paths))


def duckdb_outcome(paths: Sequence[Path], sheet_path: Path) -> Outcome:
    import duckdb

    with duckdb.connect() as con:
        duckdb_rate(con, paths, sheet_path)
        rated = con.execute(
            "SELECT call_id, charge, billable_s, prefix, band FROM outcome WHERE reason IS NULL"
        ).fetchall()
        rejects = con.execute(
            "SELECT line, nullif(call_id, ''), reason FROM outcome WHERE reason IS NOT NULL"
        ).fetchall()
    return Outcome(rated={row[0]: tuple(row[1:]) for row in rated}, rejects=set(rejects))


def duckdb_run(paths: Sequence[Path], sheet_path: Path, out_dir: Path) -> tuple[int, int]:
    """The timed run: the SQL, then the rated calls (in input order) and the rejects
    written to Parquet by DuckDB (``COPY``), with the engine's rated columns."""
    import duckdb

    files = "[" + ", ".join(sql_text(str(path)) for path in paths) + "]"
    with duckdb.connect() as con:
        duckdb_rate(con, paths, sheet_path)
        con.execute(
            f"""
            COPY (
                SELECT
                    call_id, account, caller, callee, number, start, duration_s, billable_s,
                    sheet, prefix, destination, band, charge, currency, disposition,
                    {files}[ord >> 40] AS file, line
                FROM outcome WHERE reason IS NULL ORDER BY ord
            ) TO {sql_text(str(out_dir / "duckdb-rated.parquet"))} (FORMAT parquet);
            COPY (
                SELECT {files}[ord >> 40] AS file, line, nullif(call_id, '') AS call_id, reason
                FROM outcome WHERE reason IS NOT NULL ORDER BY ord
            ) TO {sql_text(str(out_dir / "duckdb-rejects.parquet"))} (FORMAT parquet);
            """
        )
        counts = con.execute(
            "SELECT count(*) FILTER (WHERE reason IS NULL), count(reason) FROM outcome"
        ).fetchone()
    assert counts is not None
    return int(counts[0]), int(counts[1])


def duckdb_info() -> tuple[str | None, int | None]:
    """DuckDB's version and the threads it uses by default (all cores), if installed."""
    try:
        import duckdb
    except ImportError:
        return None, None
    with duckdb.connect() as con:
        row = con.execute("SELECT current_setting('threads')").fetchone()
    return duckdb.__version__, int(row[0]) if row else None


# ---------------------------------------------------------------------------------------
# checking and timing

OUTCOMES: dict[str, Callable[[Sequence[Path], Path], Outcome]] = {
    "engine": engine_outcome,
    "per-call": per_call_outcome,
    "duckdb": duckdb_outcome,
}
RUNS: dict[str, Callable[[Sequence[Path], Path, Path], tuple[int, int]]] = {
    "engine": engine_run,
    "per-call": per_call_run,
    "duckdb": duckdb_run,
}
IMPORTS = {
    "engine": ["cdr_rating.pipeline", "cdr_rating.rating", "cdr_rating.sheets"],
    "per-call": [],
    "duckdb": ["duckdb"],
}


def differences(expected: Outcome, actual: Outcome, name: str) -> list[str]:
    """Every call on which ``actual`` differs from the engine's ``expected``, described."""
    found = []
    for call_id in sorted(expected.rated.keys() | actual.rated.keys()):
        want, got = expected.rated.get(call_id), actual.rated.get(call_id)
        if want != got:
            found.append(f"{call_id}: engine {want or 'rejected'}, {name} {got or 'rejected'}")
    for reject in sorted(expected.rejects ^ actual.rejects, key=str):
        who = "engine" if reject in expected.rejects else name
        line, rejected_id, reason = reject
        found.append(f"line {line} ({rejected_id}): only {who} rejects it as {reason}")
    return found


def build_check_sample(source: Path, calls: int, path: Path) -> int:
    """``calls`` call_ids spread evenly over ``source`` (every row of each, so repeated
    rows stay), then re-delivered copies of one in ``REDELIVERED_EVERY`` of them at the
    end, every other copy with a different duration: the first copy must win."""
    frame = pl.read_parquet(source)
    ids = frame.get_column("call_id").unique(maintain_order=True)
    chosen = ids.gather_every(max(1, ids.len() // max(1, calls))).head(calls)
    sample = frame.filter(pl.col("call_id").is_in(chosen.implode()))
    again = (
        sample.unique("call_id", keep="first", maintain_order=True)
        .gather_every(REDELIVERED_EVERY)
        .with_row_index("_copy")
        .with_columns(
            duration=pl.when(pl.col("_copy") % 2 == 1)
            .then(pl.col("duration") + 7)
            .otherwise(pl.col("duration"))
        )
        .drop("_copy")
    )
    checked = pl.concat([sample, again])
    checked.write_parquet(path)
    return checked.height


@dataclass
class Timing:
    """The measurements of one rater: best wall and CPU time, highest peak RSS."""

    rater: str
    calls: int
    wall_s: float = math.inf
    cpu_s: float = math.inf
    peak_rss_mib: float = 0.0
    rated: int = 0
    rejected: int = 0

    def row(self) -> dict[str, Any]:
        return {
            "measurement": MEASUREMENTS[self.rater],
            "calls": self.calls,
            "wall_s": round(self.wall_s, 4),
            "cpu_s": round(self.cpu_s, 4),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "calls_per_s": round(self.calls / self.wall_s, 1),
        }


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float | None:
    """This process's peak resident memory since it started its program (``VmHWM``).

    ``ru_maxrss`` (``getrusage``, ``wait4``) is kept across ``execve``: a child forked
    from this script would report at least the parent's size at the fork. Linux's
    ``VmHWM`` belongs to the new program's memory and starts afresh.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def child_main(rater: str, inputs: Sequence[Path], sheet_path: Path, out_dir: Path) -> int:
    """Import the rater's modules, then time one rating run; print the times as JSON."""
    for module in IMPORTS[rater]:
        __import__(module)
    wall, cpu = time.perf_counter(), cpu_seconds()
    rated, rejected = RUNS[rater](inputs, sheet_path, out_dir)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    report = {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mib": peak_rss_mib(),
        "rated": rated,
        "rejected": rejected,
    }
    print(json.dumps(report))
    return 0


def time_in_child(timing: Timing, inputs: Sequence[Path], sheet_path: Path, out_dir: Path) -> None:
    """One timed run in a new process: wall and CPU time of the rating itself, as the
    child measures them, and the child's peak RSS (``VmHWM``, else ``wait4``)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        timing.rater,
        "--child-input",
        *(str(path) for path in inputs),
        "--child-sheet",
        str(sheet_path),
        "--child-out",
        str(out_dir),
    ]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise RuntimeError(
                f"{MEASUREMENTS[timing.rater]} failed ({process.returncode}):\n"
                + stderr.read().decode(errors="replace")
            )
        report = json.loads(stdout.read().decode().strip().splitlines()[-1])
    timing.wall_s = min(timing.wall_s, report["wall_s"])
    timing.cpu_s = min(timing.cpu_s, report["cpu_s"])
    peak = report["peak_rss_mib"] or usage.ru_maxrss / 1024
    timing.peak_rss_mib = max(timing.peak_rss_mib, peak)
    timing.rated, timing.rejected = report["rated"], report["rejected"]


def parse_raters(values: Sequence[str]) -> list[str]:
    """``--raters engine duckdb`` or ``--raters engine,duckdb``, in the order given."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    aliases = {"per-call Python": "per-call", "percall": "per-call", "DuckDB SQL": "duckdb"}
    raters = [aliases.get(name, name) for name in names]
    unknown = [name for name in raters if name not in MEASUREMENTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown rater(s) {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}"
        )
    return list(dict.fromkeys(raters))


def print_table(timings: list[Timing], runs: int) -> None:
    engine = next((t for t in timings if t.rater == "engine"), None)
    wall = "best wall (s)" if runs > 1 else "wall (s)"
    print(f"| rater | calls | {wall} | CPU (s) | peak RSS (MiB) | calls/s | vs engine |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for timing in timings:
        ratio = f"{timing.wall_s / engine.wall_s:.1f}x" if engine else "-"
        print(
            f"| {MEASUREMENTS[timing.rater]} | {timing.calls:,} | {timing.wall_s:.2f} | "
            f"{timing.cpu_s:.2f} | {timing.peak_rss_mib:,.0f} | "
            f"{timing.calls / timing.wall_s:,.0f} | {ratio} |"
        )


def check(sample: Path, sheet: Path, raters: list[str]) -> bool:
    """Rate ``sample`` with the engine and ``raters``; print whether they all agree."""
    expected = engine_outcome([sample], sheet)
    rows = len(expected.rated) + len(expected.rejects)
    for rater in raters:
        found = differences(expected, OUTCOMES[rater]([sample], sheet), rater)
        if found:
            print(
                f"{MEASUREMENTS[rater]} disagrees with the engine on {len(found)} of the "
                f"{rows:,} sample rows; the first ones:"
            )
            for line in found[:10]:
                print(f"  {line}")
            return False
    names = " and ".join(["engine", *(MEASUREMENTS[rater] for rater in raters)])
    print(
        f"check: {rows:,} sample rows ({len(expected.rated):,} rated, "
        f"{len(expected.rejects):,} rejected): {names} agree on every charge, billable "
        "seconds, prefix, band and reject"
    )
    return True


def notes(dataset: generate.Dataset, calls: int, duckdb: tuple[str | None, int | None]) -> str:
    version, threads = duckdb
    files = ", ".join(path.name for path in dataset.parts)
    return (
        f"Input {files} ({calls:,} calls), sheet {dataset.sheet}; {os.cpu_count()} "
        f"cores, load average {os.getloadavg()[0]:.1f}. Each run is a child process; imports "
        "happen before the clock. Measured: reading the sheet and the Parquet input, "
        "rating, writing the rated calls and the rejects as Parquet. engine: rate_to_file "
        "(what `cdr-rating rate --out --rejects` does), Polars on all cores. per-call "
        "Python: one thread. DuckDB SQL: duckdb_rating.sql, then COPY ... TO parquet, "
        f"DuckDB {version} on its default {threads} threads (all cores). CPU is user + "
        "system time of the measured part, every thread; peak RSS is the child's (VmHWM)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls to time")
    parser.add_argument(
        "--check", type=int, default=20_000, help="calls to compare first (0: no check)"
    )
    parser.add_argument(
        "--raters",
        nargs="+",
        default=["engine", "per-call", "duckdb"],
        help="which raters to time: engine, per-call, duckdb (default: all three)",
    )
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each rater (best)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--out", type=Path, default=Path("/tmp/cdr-bench"), help="data folder")
    parser.add_argument("--prefixes", type=int, default=12_000, help="see generate.py")
    parser.add_argument("--accounts", type=int, default=10_000, help="see generate.py")
    parser.add_argument("--seed", type=int, default=1, help="see generate.py")
    parser.add_argument("--child", choices=list(MEASUREMENTS), help=argparse.SUPPRESS)
    parser.add_argument("--child-input", type=Path, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--child-sheet", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, args.child_input, args.child_sheet, args.child_out)
    try:
        raters = parse_raters(args.raters)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    duckdb = duckdb_info()
    if "duckdb" in raters and duckdb[0] is None:
        parser.error("the DuckDB baseline needs duckdb: pip install -e '.[bench]'")

    generated = {"prefixes": args.prefixes, "seed": args.seed, "accounts": args.accounts}
    dataset = generate.dataset_paths(args.out, args.calls, **generated)
    if not all(path.is_file() for path in [dataset.sheet, *dataset.parts]):
        generate.generate(args.out, args.calls, **generated)

    checked = 0
    if args.check > 0:
        first = dataset.parts[0]
        sample = args.out / f"baseline-check-{args.check}-{first.stem}.parquet"
        checked = build_check_sample(first, args.check, sample)
        baselines = ["per-call", "duckdb"] if duckdb[0] else ["per-call"]
        if not check(sample, dataset.sheet, baselines):
            return 1

    out_dir = args.out / "baselines"
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = [Timing(rater, args.calls) for rater in raters]
    for _ in range(args.runs):
        for timing in timings:
            time_in_child(timing, dataset.parts, dataset.sheet, out_dir)
    print()
    print_table(timings, args.runs)
    print()
    print(notes(dataset, args.calls, duckdb))
    for timing in timings:
        print(f"{MEASUREMENTS[timing.rater]}: {timing.rated:,} rated, {timing.rejected:,} rejected")
    if args.json:
        results = {
            "benchmark": "baselines",
            "rows": [timing.row() for timing in timings],
            "checked_calls": checked,
            "duckdb_version": duckdb[0],
            "duckdb_threads": duckdb[1],
            "runs": args.runs,
        }
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
