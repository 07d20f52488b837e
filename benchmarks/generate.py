"""Synthetic, deterministic benchmark inputs: a realistic rate sheet and CDRs.

The rate sheet (TOML + CSV, the format of ARCHITECTURE.md section 4) has nested country,
mobile and geographic prefixes, peak/offpeak/weekend bands, tiered rates, the three
common increment shorthands, connect fees, caps and a mid-month price change on a tenth
of the prefixes. The CDRs (canonical Parquet, section 6) follow a daily and weekly
traffic curve over the billing period 2026-10, with heavy-tailed durations, 20%
unanswered calls, a few percent of numbers that match no prefix and about 1% of calls
delivered twice. With ``--asterisk`` the same calls are also written as Asterisk
``Master.csv`` files.

Everything depends only on ``--seed``: the sheet is drawn with :mod:`random`, the call
columns are built by Polars from a counter and a SplitMix64 hash written as UInt64
expressions (wrapping arithmetic, unlike ``Expr.hash`` stable across Polars versions),
so 10 million calls take seconds and the same seed gives the same files. Above
``--part-calls`` rows the CDRs are written as several files, one at a time, so memory
stays that of one part however many calls there are.

Example::

    python benchmarks/generate.py --calls 1000000 --out /tmp/cdr-bench --asterisk
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

PERIOD_START = datetime(2026, 10, 1)
PERIOD_DAYS = 31
PRICE_CHANGE = date(2026, 10, 15)
SHEET_TIMEZONE = "Europe/Berlin"
HOME_COUNTRY = "49"
NO_RATE_PREFIX = "999"
SLOT_S = 300
SLOTS_PER_DAY = 24 * 3600 // SLOT_S
WEEKEND_VOLUME = 0.45
UNANSWERED_SHARE = 0.20
NO_RATE_SHARE = 0.03
LONG_CALL_SHARE = 0.03
MAX_DURATION_S = 4 * 3600
DUPLICATE_SHARE = 0.01
PART_CALLS = 10_000_000
# A fixed row group size: otherwise Polars cuts groups where the collected frame's chunks
# end, which depends on thread scheduling, and the same data gives different bytes.
ROW_GROUP_ROWS = 262_144

REPO_ROOT = Path(__file__).resolve().parents[1]
TIME_CURVE_CSV = REPO_ROOT.parent / "shared" / "real_formats" / "call_time_distribution_5min.csv"

SHEET_CSV_COLUMNS = (
    "prefix",
    "destination",
    "band",
    "rate",
    "unit_s",
    "increment_s",
    "increments",
    "from_s",
    "connect_fee",
    "max_cost",
    "effective_from",
    "effective_to",
)

COUNTRY_NAMES = {
    "1": "North America",
    "7": "Russia",
    "20": "Egypt",
    "27": "South Africa",
    "30": "Greece",
    "31": "Netherlands",
    "32": "Belgium",
    "33": "France",
    "34": "Spain",
    "36": "Hungary",
    "39": "Italy",
    "40": "Romania",
    "41": "Switzerland",
    "43": "Austria",
    "44": "United Kingdom",
    "45": "Denmark",
    "46": "Sweden",
    "47": "Norway",
    "48": "Poland",
    "49": "Germany",
    "51": "Peru",
    "52": "Mexico",
    "54": "Argentina",
    "55": "Brazil",
    "56": "Chile",
    "57": "Colombia",
    "60": "Malaysia",
    "61": "Australia",
    "62": "Indonesia",
    "63": "Philippines",
    "64": "New Zealand",
    "65": "Singapore",
    "66": "Thailand",
    "81": "Japan",
    "82": "South Korea",
    "84": "Vietnam",
    "86": "China",
    "90": "Turkey",
    "91": "India",
    "92": "Pakistan",
    "94": "Sri Lanka",
    "98": "Iran",
}

# Two-digit groups whose codes are three digits long; together with the one- and two-digit
# codes above they form a prefix-free set of country codes, as E.164 does.
THREE_DIGIT_GROUPS = (
    "21", "22", "23", "24", "25", "26", "28", "29", "35", "37", "38", "42", "50",
    "53", "58", "59", "67", "68", "69", "85", "88", "93", "95", "96", "97", "99",
)  # fmt: skip

MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Sheet:
    """A generated rate sheet.

    Attributes:
        sheet_id: the sheet's ``id``.
        band_mode: ``"start"`` or ``"split"``.
        rates: the CSV rows, every column a string, empty cells as null.
        prefixes: one row per distinct prefix with its traffic ``weight`` (for CDRs).
    """

    sheet_id: str
    band_mode: str
    rates: pl.DataFrame
    prefixes: pl.DataFrame


@dataclass(frozen=True)
class Dataset:
    """Where a generated sheet and its CDR files live.

    Attributes:
        sheet: the rate sheet's TOML (its CSV is beside it, same stem).
        parts: the canonical Parquet CDR files, in order (one unless the dataset has
            more calls than a part holds).
        asterisk: the same calls as Asterisk ``Master.csv`` files, one per Parquet part
            and in the same order; empty unless they were asked for.
    """

    sheet: Path
    parts: tuple[Path, ...]
    asterisk: tuple[Path, ...] = ()

    @property
    def cdrs(self) -> Path:
        """The Parquet CDR file of a single-part dataset.

        Raises:
            ValueError: the dataset has several parts (use ``parts``).
        """
        if len(self.parts) != 1:
            raise ValueError(
                f"this dataset has {len(self.parts)} CDR files ({self.parts[0].name}, ...); "
                "use Dataset.parts"
            )
        return self.parts[0]


# ---------------------------------------------------------------------------------------
# Rate sheet
# ---------------------------------------------------------------------------------------


def country_codes() -> list[str]:
    """Prefix-free country codes: the named ones plus three-digit codes of other groups."""
    codes = list(COUNTRY_NAMES)
    codes += [group + digit for group in THREE_DIGIT_GROUPS for digit in "0123456789"]
    return [code for code in codes if not NO_RATE_PREFIX.startswith(code)]


def _money(units: int, decimals: int) -> str:
    whole, fraction = divmod(units, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}"


def _allocate(total: int, weights: list[float], minimum: int) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights``, each >= ``minimum``."""
    spare = total - minimum * len(weights)
    if spare < 0:
        raise ValueError(f"need at least {minimum * len(weights)} prefixes, got {total}")
    weight_sum = sum(weights)
    counts = [minimum + int(spare * weight / weight_sum) for weight in weights]
    by_weight = sorted(range(len(weights)), key=lambda index: -weights[index])
    for step in range(total - sum(counts)):
        counts[by_weight[step % len(weights)]] += 1
    return counts


def _country_prefixes(rng: random.Random, code: str, count: int) -> list[tuple[str, bool]]:
    """``count`` distinct nested prefixes under ``code``, each with an is-mobile flag."""
    mobile_digits = rng.sample("123456789", k=2 if count > 20 else 1)
    chosen = [code, *[code + digit for digit in mobile_digits][: count - 1]]
    seen = set(chosen)
    max_length = min(15, len(code) + 6)
    while len(chosen) < count:
        parent = rng.choice(chosen)
        if len(parent) >= max_length:
            continue
        child = parent + str(rng.randrange(10))
        if child not in seen:
            seen.add(child)
            chosen.append(child)
    return [
        (prefix, len(prefix) > len(code) and prefix[len(code)] in mobile_digits)
        for prefix in chosen
    ]


def _destination(code: str, prefix: str, mobile: bool) -> str:
    name = COUNTRY_NAMES.get(code, f"Zone +{code}")
    if prefix == code:
        return name
    kind = "Mobile" if mobile else "Fixed"
    rest = prefix[len(code) + 1 :]
    return f"{name} {kind} {rest}" if rest else f"{name} {kind}"


def _rate_rows(rng: random.Random, prefix: str, destination: str, mobile: bool) -> list[dict]:
    """The CSV rows of one prefix: bands, tiers, fees, caps and an optional price change."""
    base = rng.randint(2_000, 25_000) if mobile else rng.randint(300, 6_000)
    if rng.random() < 0.01:
        base = rng.randint(50_000, 200_000)
    band_pick = rng.random()
    if band_pick < 0.35:
        bands = [("peak", 1.0), ("offpeak", 0.7), ("weekend", 0.5)]
    elif band_pick < 0.45:
        bands = [("peak", 1.2), ("", 1.0)]
    else:
        bands = [("", 1.0)]
    tiered = rng.random() < 0.15
    increments = rng.choice(["60/60", "30/6", "30/6", "1/1", "1/1", ""])
    per_second = not tiered and rng.random() < 0.05
    connect_fee = _money(rng.randint(100, 1_000), 5) if rng.random() < 0.2 else ""
    max_cost = f"{rng.randint(2, 20)}.00" if rng.random() < 0.02 else ""
    change = rng.random() < 0.10
    change_factor = rng.choice([0.8, 0.9, 1.1, 1.25])

    rows: list[dict] = []
    windows = (
        [("", PRICE_CHANGE.isoformat(), 1.0), (PRICE_CHANGE.isoformat(), "", change_factor)]
        if change
        else [("", "", 1.0)]
    )
    for effective_from, effective_to, window_factor in windows:
        for band, band_factor in bands:
            rate = max(1, round(base * band_factor * window_factor))
            common = {
                "prefix": prefix,
                "destination": destination,
                "band": band,
                "effective_from": effective_from,
                "effective_to": effective_to,
            }
            if tiered:
                rows.append(
                    common
                    | {
                        "rate": _money(rate, 5),
                        "increment_s": "60",
                        "from_s": "0",
                        "connect_fee": connect_fee,
                        "max_cost": max_cost,
                    }
                )
                rows.append(
                    common
                    | {
                        "rate": _money(max(1, rate * 4 // 5), 5),
                        "increment_s": rng.choice(["1", "6"]),
                        "from_s": "60",
                    }
                )
            elif per_second:
                rows.append(
                    common
                    | {
                        "rate": _money(rate * 100 // 60, 7),
                        "unit_s": "1",
                        "connect_fee": connect_fee,
                        "max_cost": max_cost,
                    }
                )
            else:
                rows.append(
                    common
                    | {
                        "rate": _money(rate, 5),
                        "increments": increments,
                        "connect_fee": connect_fee,
                        "max_cost": max_cost,
                    }
                )
    return rows


def sheet_toml(sheet: Sheet, rates_file: str) -> str:
    """The TOML half of the benchmark sheet, naming ``rates_file`` as its CSV."""
    return f"""\
id = "{sheet.sheet_id}"
currency = "EUR"
timezone = "{SHEET_TIMEZONE}"
rates = "{rates_file}"
band_mode = "{sheet.band_mode}"
grace_s = 0
default_band = "offpeak"
holidays = ["2026-10-03", "2026-12-25", "2026-12-26"]
holiday_band = "weekend"

[rounding]
decimals = 4
method = "half_up"

[bands.peak]
days = ["mon", "tue", "wed", "thu", "fri"]
from = "08:00"
to = "18:00"

[bands.weekend]
days = ["sat", "sun"]
"""


def build_sheet(
    prefixes: int = 12_000, seed: int = 1, sheet_id: str = "bench", band_mode: str = "start"
) -> Sheet:
    """Draw a rate sheet with exactly ``prefixes`` distinct prefixes.

    The home country (Germany, ``49``) carries about half of the traffic; the other
    countries share the rest in proportion to a heavy-tailed size that also decides how
    many prefixes they get.
    """
    rng = random.Random(seed)
    codes = country_codes()
    countries = min(len(codes), max(1, prefixes // 3))
    if countries < len(codes):
        others = [code for code in codes if code != HOME_COUNTRY]
        kept = {HOME_COUNTRY, *rng.sample(others, countries - 1)}
        codes = [code for code in codes if code in kept]
    sizes = [min(rng.paretovariate(1.1), 60.0) for _ in codes]
    sizes[codes.index(HOME_COUNTRY)] = max(sizes) * 1.5
    counts = _allocate(prefixes, sizes, minimum=2)
    home_traffic = 0.5
    other_size = sum(size for code, size in zip(codes, sizes, strict=True) if code != HOME_COUNTRY)

    rows: list[dict] = []
    prefix_rows: list[tuple[str, float]] = []
    for code, size, count in zip(codes, sizes, counts, strict=True):
        share = home_traffic if code == HOME_COUNTRY else (1 - home_traffic) * size / other_size
        for prefix, mobile in _country_prefixes(rng, code, count):
            rows.extend(_rate_rows(rng, prefix, _destination(code, prefix, mobile), mobile))
            prefix_rows.append((prefix, share / count))

    rates = pl.DataFrame(
        {column: [row.get(column, "") for row in rows] for column in SHEET_CSV_COLUMNS},
        schema=dict.fromkeys(SHEET_CSV_COLUMNS, pl.String),
    ).with_columns(pl.all().replace("", None))
    prefix_frame = pl.DataFrame(
        prefix_rows, schema={"prefix": pl.String, "weight": pl.Float64}, orient="row"
    )
    return Sheet(sheet_id, band_mode, rates, prefix_frame)


def write_sheet(sheet: Sheet, toml_path: Path) -> Path:
    """Write the sheet as ``toml_path`` and the CSV beside it (same stem); return the TOML."""
    toml_path.parent.mkdir(parents=True, exist_ok=True)
    csv_path = toml_path.with_suffix(".csv")
    sheet.rates.write_csv(csv_path)
    toml_path.write_text(sheet_toml(sheet, csv_path.name), encoding="utf-8")
    return toml_path


# ---------------------------------------------------------------------------------------
# Traffic curve
# ---------------------------------------------------------------------------------------


def smooth_time_curve() -> pl.DataFrame:
    """Built-in daily curve (5-minute slots): quiet nights, a morning and afternoon peak."""
    hours = [slot * SLOT_S / 3600 for slot in range(SLOTS_PER_DAY)]

    def bump(hour: float, centre: float, width: float) -> float:
        return math.exp(-(((hour - centre) / width) ** 2))

    weekday = [
        0.05 + bump(h, 10.5, 2.2) + 0.9 * bump(h, 15.0, 2.5) + 0.3 * bump(h, 20, 2) for h in hours
    ]
    weekend = [0.08 + 0.6 * bump(h, 12.0, 3.5) + 0.5 * bump(h, 19.0, 3.0) for h in hours]
    return _normalised_curve(weekday, weekend)


def _normalised_curve(weekday: list[float], weekend: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "slot": list(range(SLOTS_PER_DAY)),
            "weekday": [value / sum(weekday) for value in weekday],
            "weekend": [value / sum(weekend) for value in weekend],
        }
    )


def load_time_curve(path: Path | None = TIME_CURVE_CSV) -> pl.DataFrame:
    """Per-5-minute start probabilities for weekdays and weekends.

    Read from ``call_time_distribution_5min.csv`` (``time;probability;TimeName``) when it
    is present, else :func:`smooth_time_curve`.
    """
    if path is None or not path.is_file():
        return smooth_time_curve()
    raw = pl.read_csv(path, separator=";", schema_overrides={"probability": pl.Float64})
    by_kind = {
        kind: raw.filter(pl.col("TimeName") == kind)["probability"].to_list()
        for kind in ("Weekday", "Weekend")
    }
    if any(len(values) != SLOTS_PER_DAY for values in by_kind.values()):
        return smooth_time_curve()
    return _normalised_curve(by_kind["Weekday"], by_kind["Weekend"])


def period_slot_weights(curve: pl.DataFrame, holidays: frozenset[date]) -> pl.Series:
    """Cumulative start probability of every 5-minute slot of the billing period."""
    weights: list[float] = []
    weekday = curve["weekday"].to_list()
    weekend = curve["weekend"].to_list()
    for day in range(PERIOD_DAYS):
        day_date = date(PERIOD_START.year, PERIOD_START.month, 1 + day)
        quiet = day_date.weekday() >= 5 or day_date in holidays
        if quiet:
            weights.extend(value * WEEKEND_VOLUME for value in weekend)
        else:
            weights.extend(weekday)
    total = sum(weights)
    return pl.Series("cumulative", weights).cum_sum() / total


# ---------------------------------------------------------------------------------------
# CDRs
# ---------------------------------------------------------------------------------------


def _splitmix_constant(seed: int, stream: int) -> int:
    state = (seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & MASK64
    state = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    state = ((state ^ (state >> 27)) * 0x94D049BB133111EB) & MASK64
    return state ^ (state >> 31)


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


RANDOM_STREAMS = (
    "slot",
    "second",
    "answered",
    "normal_a",
    "normal_b",
    "long",
    "no_rate",
    "prefix",
    "length",
    "digits",
    "account",
    "format",
    # Added after the others so that their stream numbers, and the calls, stay the same.
    "duplicate",
)
# The Asterisk fields that canonical CDRs lack (ring time, trunk) are drawn from the
# call's number, on streams numbered from here.
ASTERISK_STREAMS = ("ring", "trunk")
ASTERISK_FIRST_STREAM = 64


def with_uniforms(
    frame: pl.LazyFrame,
    counter: str,
    seed: int,
    streams: tuple[str, ...] = RANDOM_STREAMS,
    first_stream: int = 0,
) -> pl.LazyFrame:
    """Add one column ``u_<stream>`` per stream: a float in [0, 1).

    Each is the SplitMix64 finaliser of (``counter``, seed, stream number) on UInt64
    columns with wrapping arithmetic; the streams are numbered from ``first_stream`` in
    the order given. The rounds are separate ``with_columns`` steps so that the
    expression tree stays linear instead of doubling with every reference to the state.
    """
    state = {name: f"u_{name}" for name in streams}
    frame = frame.with_columns(
        (pl.col(counter) * _u64(0x9E3779B97F4A7C15) + _u64(_splitmix_constant(seed, stream))).alias(
            column
        )
        for stream, column in enumerate(state.values(), start=first_stream)
    )
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        frame = frame.with_columns(
            ((pl.col(column) ^ (pl.col(column) // _u64(1 << shift))) * _u64(multiplier)).alias(
                column
            )
            for column in state.values()
        )
    return frame.with_columns(
        ((pl.col(column) ^ (pl.col(column) // _u64(1 << 31))) // _u64(1 << 11)).cast(pl.Float64)
        * (1.0 / (1 << 53))
        for column in state.values()
    )


# What a re-delivered row copies from the row before it: every column the canonical
# columns are built from, the row number (hence the call_id) included.
CALL_SOURCE_COLUMNS = (
    "row",
    "start",
    "duration",
    "no_rate",
    "prefix_index",
    "account_index",
    "u_length",
    "u_digits",
    "u_format",
)


def build_cdrs(
    calls: int,
    sheet: Sheet,
    seed: int = 1,
    accounts: int = 10_000,
    curve: pl.DataFrame | None = None,
    *,
    first: int = 0,
    duplicate_share: float = DUPLICATE_SHARE,
) -> pl.LazyFrame:
    """``calls`` canonical CDRs for the billing period 2026-10, sorted by start time.

    Columns: ``call_id``, ``account``, ``caller``, ``callee``, ``start`` (UTC),
    ``duration`` (whole billable seconds, 0 for unanswered calls), ``disposition``.

    The calls are drawn from the counters ``first`` to ``first + calls - 1`` (one part of
    a dataset) and numbered, in start order, from ``first``: parts that cover adjacent
    counter ranges have distinct call_ids.

    Re-deliveries: a row whose ``duplicate`` draw is below ``duplicate_share`` (and whose
    predecessor's is not) is replaced by an exact copy of the row before it, call_id
    included; the call it replaces is not in the output. So the output has exactly
    ``calls`` rows, the copy directly follows its original (the same start keeps the
    order), no call is delivered three times, and every other row is the same as with
    ``duplicate_share = 0``.
    """
    if curve is None:
        curve = load_time_curve()
    cumulative_slots = period_slot_weights(curve, frozenset({date(2026, 10, 3)}))
    prefixes = sheet.prefixes["prefix"]
    cumulative_prefixes = sheet.prefixes["weight"].cum_sum() / sheet.prefixes["weight"].sum()

    counter = "i"
    u = {name: pl.col(f"u_{name}") for name in RANDOM_STREAMS}
    slot = (
        pl.lit(cumulative_slots)
        .search_sorted(u["slot"], side="right")
        .clip(upper_bound=len(cumulative_slots) - 1)
        .cast(pl.Int64)
    )
    local_start = pl.lit(PERIOD_START) + pl.duration(
        seconds=slot * SLOT_S + (u["second"] * SLOT_S).floor().cast(pl.Int64)
    )
    normal = (-2.0 * (1.0 - u["normal_a"]).log()).sqrt() * (2 * math.pi * u["normal_b"]).cos()
    talk = (math.log(75.0) + 0.9 * normal).exp()
    long_talk = 300.0 * (1.0 - u["long"] / LONG_CALL_SHARE).pow(-1 / 1.3)
    answered = u["answered"] >= UNANSWERED_SHARE
    duration = (
        pl.when(~answered)
        .then(0.0)
        .when(u["long"] < LONG_CALL_SHARE)
        .then(long_talk.clip(upper_bound=MAX_DURATION_S))
        .otherwise(talk.clip(1.0, MAX_DURATION_S))
        .ceil()
        .cast(pl.Int64)
    )
    prefix_index = (
        pl.lit(cumulative_prefixes)
        .search_sorted(u["prefix"], side="right")
        .clip(upper_bound=len(prefixes) - 1)
    )
    prefix = (
        pl.when(pl.col("no_rate"))
        .then(pl.lit(NO_RATE_PREFIX))
        .otherwise(pl.lit(prefixes).gather(pl.col("prefix_index")))
    )
    national_length = 10 + (pl.col("u_length") * 4).floor().cast(pl.Int64)
    suffix_length = pl.max_horizontal(
        pl.lit(3, dtype=pl.Int64), national_length - pl.col("prefix").str.len_chars()
    )
    random_digits = (
        (pl.col("u_digits") * 10**15).floor().cast(pl.Int64).cast(pl.String).str.zfill(15)
    )
    callee = pl.format(
        "{}{}{}",
        pl.when(pl.col("u_format") < 0.9).then(pl.lit("+")).otherwise(pl.lit("00")),
        pl.col("prefix"),
        random_digits.str.slice(0, suffix_length),
    )
    caller_digits = (pl.col("account_index") * 7919 + 1_234_567) % 9_000_000 + 1_000_000
    resent = pl.col("resent")
    copy = pl.col("copy")

    # Sort the numeric columns by start first; the strings are built afterwards.
    return (
        with_uniforms(
            pl.LazyFrame().select(
                pl.int_range(first, first + calls, dtype=pl.UInt64).alias(counter)
            ),
            counter,
            seed,
        )
        .select(
            local_start.dt.replace_time_zone(
                SHEET_TIMEZONE, ambiguous="earliest", non_existent="null"
            )
            .dt.convert_time_zone("UTC")
            .alias("start"),
            duration.alias("duration"),
            (u["no_rate"] < NO_RATE_SHARE).alias("no_rate"),
            prefix_index.alias("prefix_index"),
            (u["account"].pow(2.5) * accounts).floor().cast(pl.Int64).alias("account_index"),
            u["length"],
            u["digits"],
            u["format"],
            (u["duplicate"] < duplicate_share).alias("resent"),
        )
        .sort("start", maintain_order=True)
        .with_row_index("row", offset=first)
        .with_columns(copy=resent & ~resent.shift(1, fill_value=True))
        .with_columns(
            pl.when(copy).then(pl.col(column).shift(1)).otherwise(pl.col(column)).alias(column)
            for column in CALL_SOURCE_COLUMNS
        )
        .with_columns(prefix.alias("prefix"))
        .select(
            pl.format(f"bench{seed}-{{}}", pl.col("row").cast(pl.String).str.zfill(9)).alias(
                "call_id"
            ),
            pl.format("A{}", pl.col("account_index").cast(pl.String).str.zfill(5)).alias("account"),
            pl.format("+4930{}", caller_digits.cast(pl.String)).alias("caller"),
            callee.alias("callee"),
            pl.col("start"),
            pl.col("duration"),
            pl.when(pl.col("duration") > 0)
            .then(pl.lit("ANSWERED"))
            .otherwise(pl.lit("NO ANSWER"))
            .alias("disposition"),
        )
    )


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that becomes ``path`` when the block succeeds, so
    that a file under its final name is always complete (names are reused)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_cdrs(cdrs: pl.LazyFrame, path: Path, csv: bool = False) -> list[Path]:
    """Write the CDRs as Parquet (``path``) and, with ``csv``, canonical CSV beside it."""
    with _replacing(path) as partial:
        cdrs.collect().write_parquet(partial, row_group_size=ROW_GROUP_ROWS)
    written = [path]
    if csv:
        written.append(write_canonical_csv(path, path.with_suffix(".csv")))
    return written


def write_canonical_csv(parquet: Path, path: Path) -> Path:
    """The canonical CDRs of ``parquet`` as CSV (``start`` as ``...Z``), streamed."""
    with _replacing(path) as partial:
        pl.scan_parquet(parquet).with_columns(
            pl.col("start").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        ).sink_csv(partial)
    return path


# ---------------------------------------------------------------------------------------
# Asterisk Master.csv
# ---------------------------------------------------------------------------------------

# One cdr_csv line: accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp,
# lastdata, start, answer, end, duration, billsec, disposition, amaflags, uniqueid,
# userfield. Text is quoted (a quote inside doubled), numbers and an empty answer time
# are not, as Asterisk writes them.
ASTERISK_LINE = (
    '"{}","{}","{}","from-internal","""{}"" <{}>","SIP/{}-{}","SIP/carrier{}-{}","Dial",'
    '"SIP/carrier{}/{},60,tT","{}",{},"{}",{},{},"{}","DOCUMENTATION","{}.{}",""'
)


def asterisk_lines(cdrs: pl.LazyFrame, seed: int = 1) -> pl.LazyFrame:
    """Canonical CDRs (as :func:`build_cdrs` writes them) as Asterisk ``Master.csv``
    lines, one column ``line``, in the same order.

    The server writes UTC (``usegmtime=yes``), which is how the reader takes naive
    times by default. An answered call rang for 3 to 22 s before its answer (the
    canonical start, where billing starts) and lasts ``billsec`` (the canonical
    duration); an unanswered one rang 5 to 60 s, has no answer time and billsec 0.
    Everything a row adds to the canonical columns (ring time, trunk, channel numbers,
    uniqueid) is drawn from the number in its call_id, so a re-delivered row is again an
    exact copy, and distinct calls have distinct uniqueids.
    """
    number = "n"
    u = {name: pl.col(f"u_{name}") for name in ASTERISK_STREAMS}
    answered = pl.col("disposition") == "ANSWERED"
    ring = (
        pl.when(answered)
        .then(3 + (u["ring"] * 20).floor())
        .otherwise(5 + (u["ring"] * 56).floor())
        .cast(pl.Int64)
    )
    begin = pl.col("start") - pl.duration(seconds=pl.when(answered).then(ring).otherwise(0))
    total = ring + pl.col("duration")

    def clock(instant: pl.Expr) -> pl.Expr:
        return instant.dt.strftime("%Y-%m-%d %H:%M:%S")

    def channel_number(offset: int) -> pl.Expr:
        # Each call opens two channels; Asterisk numbers them with one 8-digit counter.
        sequence = (pl.col(number) * 2 + offset) % 100_000_000
        return sequence.cast(pl.String).str.zfill(8)

    trunk = (1 + (u["trunk"] * 4).floor()).cast(pl.Int64)
    line = pl.format(
        ASTERISK_LINE,
        pl.col("account"),
        pl.col("caller"),
        pl.col("callee"),
        pl.col("account"),
        pl.col("caller"),
        pl.col("caller").str.strip_prefix("+"),
        channel_number(0),
        trunk,
        channel_number(1),
        trunk,
        pl.col("callee"),
        clock(begin),
        pl.when(answered).then(pl.format('"{}"', clock(pl.col("start")))).otherwise(pl.lit("")),
        clock(begin + pl.duration(seconds=total)),
        total,
        pl.col("duration"),
        pl.col("disposition"),
        begin.dt.epoch("s"),
        pl.col(number),
    )
    with_number = cdrs.with_columns(
        pl.col("call_id").str.extract(r"(\d+)$").cast(pl.UInt64).alias(number)
    )
    return with_uniforms(
        with_number, number, seed, ASTERISK_STREAMS, first_stream=ASTERISK_FIRST_STREAM
    ).select(line.alias("line"))


def write_asterisk(parquet: Path, path: Path, seed: int = 1) -> Path:
    """The calls of a canonical Parquet file as an Asterisk ``Master.csv`` (no header),
    streamed so that memory stays small."""
    with _replacing(path) as partial:
        asterisk_lines(pl.scan_parquet(parquet), seed).sink_csv(
            partial, include_header=False, quote_style="never"
        )
    return path


# ---------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------


def part_ranges(calls: int, part_calls: int = PART_CALLS) -> list[tuple[int, int]]:
    """``(first counter, rows)`` of every part: ``part_calls`` rows each, the last one
    the rest."""
    if part_calls < 1:
        raise ValueError(f"part_calls must be at least 1, got {part_calls}")
    ranges = [(first, min(part_calls, calls - first)) for first in range(0, calls, part_calls)]
    return ranges or [(0, 0)]


def dataset_paths(
    out_dir: Path,
    calls: int,
    *,
    prefixes: int = 12_000,
    seed: int = 1,
    accounts: int = 10_000,
    band_mode: str = "start",
    asterisk: bool = False,
    part_calls: int = PART_CALLS,
) -> Dataset:
    """File names that encode every generation parameter, so outputs can be reused.

    One part: ``cdrs-<calls>-a<accounts>-p<prefixes>-s<seed>.parquet``. Several: the
    same stem plus ``-partNN`` (numbered from 01, as wide as needed so that the names
    sort), with ``-by<part_calls>`` before it when the part size is not the default.
    The Asterisk file of a part has the part's stem plus ``-asterisk.csv``.
    """
    mode = "" if band_mode == "start" else f"-{band_mode}"
    stem = f"cdrs-{calls}-a{accounts}-p{prefixes}-s{seed}"
    count = len(part_ranges(calls, part_calls))
    if count == 1:
        stems = [stem]
    else:
        size = "" if part_calls == PART_CALLS else f"-by{part_calls}"
        width = max(2, len(str(count)))
        stems = [f"{stem}{size}-part{part:0{width}d}" for part in range(1, count + 1)]
    return Dataset(
        sheet=out_dir / f"bench-p{prefixes}-s{seed}{mode}.toml",
        parts=tuple(out_dir / f"{name}.parquet" for name in stems),
        asterisk=tuple(out_dir / f"{name}-asterisk.csv" for name in stems) if asterisk else (),
    )


def generate(
    out_dir: Path,
    calls: int,
    *,
    prefixes: int = 12_000,
    seed: int = 1,
    accounts: int = 10_000,
    csv: bool = False,
    band_mode: str = "start",
    asterisk: bool = False,
    part_calls: int = PART_CALLS,
) -> Dataset:
    """Write whichever files of the dataset are missing into ``out_dir`` (see
    :func:`dataset_paths`); files that exist are kept as they are.

    Parts are built and written one at a time. The canonical CSV (``csv``) and the
    Asterisk files are converted from the Parquet parts.
    """
    paths = dataset_paths(
        out_dir,
        calls,
        prefixes=prefixes,
        seed=seed,
        accounts=accounts,
        band_mode=band_mode,
        asterisk=asterisk,
        part_calls=part_calls,
    )
    missing = [
        (first, rows, part)
        for (first, rows), part in zip(part_ranges(calls, part_calls), paths.parts, strict=True)
        if not part.exists()
    ]
    if missing or not paths.sheet.exists():
        sheet = build_sheet(prefixes, seed, band_mode=band_mode)
        if not paths.sheet.exists():
            write_sheet(sheet, paths.sheet)
        curve = load_time_curve()
        for first, rows, part in missing:
            write_cdrs(build_cdrs(rows, sheet, seed, accounts, curve, first=first), part)
    for index, part in enumerate(paths.parts):
        if csv and not part.with_suffix(".csv").exists():
            write_canonical_csv(part, part.with_suffix(".csv"))
        if asterisk and not paths.asterisk[index].exists():
            write_asterisk(part, paths.asterisk[index], seed)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calls", type=int, default=1_000_000, help="CDR rows in all, re-deliveries included"
    )
    parser.add_argument("--prefixes", type=int, default=12_000, help="distinct sheet prefixes")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--band-mode", choices=("start", "split"), default="start")
    parser.add_argument("--csv", action="store_true", help="also write canonical CSV")
    parser.add_argument(
        "--asterisk", action="store_true", help="also write Asterisk Master.csv files"
    )
    parser.add_argument(
        "--part-calls",
        type=int,
        default=PART_CALLS,
        help="most rows per CDR file; more calls are written as several parts",
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/cdr-bench"))
    args = parser.parse_args(argv)
    if args.part_calls < 1:
        parser.error("--part-calls must be at least 1")

    began = time.perf_counter()
    paths = generate(
        args.out,
        args.calls,
        prefixes=args.prefixes,
        seed=args.seed,
        accounts=args.accounts,
        csv=args.csv,
        band_mode=args.band_mode,
        asterisk=args.asterisk,
        part_calls=args.part_calls,
    )
    elapsed = time.perf_counter() - began
    print(f"sheet {paths.sheet}", file=sys.stderr)
    for path in (*paths.parts, *paths.asterisk):
        print(f"cdrs  {path}", file=sys.stderr)
    print(f"{args.calls:,} calls in {len(paths.parts)} part(s), {elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
