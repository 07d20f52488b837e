"""Reading and validating a rate sheet (TOML settings + CSV rates) into a ``RateSheet``.

Every problem is collected, not just the first, so that ``cdr-rating sheet check`` can
list them all; each is one line naming the file, the line and the column.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import ValidationError

from cdr_rating.errors import SheetError
from cdr_rating.money import RATE_DECIMALS, nano_from_text
from cdr_rating.sheets.model import RATE_ROWS_SCHEMA, RateSheet, SheetSettings
from cdr_rating.tables import TableReadError, format_lines, read_text_table
from cdr_rating.tomlfiles import parse_toml

COLUMNS = (
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
REQUIRED = ("prefix", "rate")
MAX_PREFIX_DIGITS = 15
_DECIMAL = rf"^\d+(\.\d{{1,{RATE_DECIMALS}}})?$"


def load_sheet(path: Path) -> RateSheet:
    """Load and validate the sheet at ``path`` (its TOML file).

    Raises:
        SheetError: with every problem found, each naming file, line and column.
    """
    settings = _load_settings(path)
    rates_path = (path.parent / settings.rates).resolve()
    if not rates_path.is_file():
        raise SheetError(
            [f"{path}: key 'rates': rates file {settings.rates!r} not found at {rates_path}"]
        )
    try:
        raw = read_text_table(rates_path)
    except TableReadError as exc:
        raise SheetError([str(exc)]) from exc
    rows = _typed_rows(raw, rates_path, settings)
    return RateSheet(settings=settings, rows=rows, path=path, rates_path=rates_path)


def _load_settings(path: Path) -> SheetSettings:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SheetError([f"{path}: sheet file not found"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SheetError([f"{path}: cannot read the sheet: {exc}"]) from exc
    data = parse_toml(text, path, SheetError)
    try:
        return SheetSettings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = (
                    "unknown key; check the spelling (top-level keys must come "
                    "before the first [table])"
                )
            problems.append(f"{path}: key '{key}': {message}")
        raise SheetError(problems) from exc


def _cell(name: str) -> pl.Expr:
    return pl.col(name).fill_null("").str.strip_chars()


def _problem(bad: pl.Expr, column: str, message: pl.Expr) -> pl.Expr:
    """A struct of (column, message) where ``bad``, else null."""
    return pl.when(bad).then(pl.struct(column=pl.lit(column), message=message))


def _decimal_checks(column: str, *, required: bool) -> list[pl.Expr]:
    value = _cell(column)
    checks = [
        _problem(
            value.str.starts_with("-"),
            column,
            pl.format("'{}' is negative; amounts must be 0 or more", value),
        ),
        _problem(
            (value != "") & ~value.str.starts_with("-") & ~value.str.contains(r"^\d+(\.\d+)?$"),
            column,
            pl.format(
                "'{}' is not a decimal number; write it like 0.0125 "
                "(a point, no thousands separators)",
                value,
            ),
        ),
        _problem(
            value.str.contains(r"^\d+\.\d+$") & ~value.str.contains(_DECIMAL),
            column,
            pl.format("'{}' has more than {} decimals", value, pl.lit(RATE_DECIMALS)),
        ),
    ]
    if required:
        checks.append(_problem(value == "", column, pl.lit("is empty; it is required")))
    return checks


def _whole_checks(column: str, minimum: int) -> list[pl.Expr]:
    value = _cell(column)
    return [
        _problem(
            (value != "")
            & (~value.str.contains(r"^\d+$") | (value.str.to_integer(strict=False) < minimum)),
            column,
            pl.format("'{}' is not a whole number of seconds >= {}", value, pl.lit(minimum)),
        )
    ]


def _typed_rows(raw: pl.DataFrame, rates_path: Path, settings: SheetSettings) -> pl.DataFrame:
    header_problems = [
        f"{rates_path}:1: missing required column '{name}'"
        for name in REQUIRED
        if name not in raw.columns
    ] + [
        f"{rates_path}:1: unknown column '{name}'; expected some of: {', '.join(COLUMNS)}"
        for name in raw.columns
        if name not in COLUMNS and name != "line"
    ]
    if header_problems:
        raise SheetError(header_problems)
    frame = raw.with_columns(
        pl.lit(None, pl.String).alias(name) for name in COLUMNS if name not in raw.columns
    )

    effective = _parse_effective_bounds(frame, settings.timezone)
    frame = frame.with_columns(
        effective_from_s=pl.col("effective_from")
        .fill_null("")
        .str.strip_chars()
        .replace_strict(effective.values, effective.epochs, default=None, return_dtype=pl.Int64),
        effective_to_s=pl.col("effective_to")
        .fill_null("")
        .str.strip_chars()
        .replace_strict(effective.values, effective.epochs, default=None, return_dtype=pl.Int64),
    )

    bands = settings.band_names
    prefix = _cell("prefix").str.strip_prefix("+")
    band = _cell("band")
    increments = _cell("increments")
    checks = [
        _problem(
            ~prefix.str.contains(rf"^\d{{1,{MAX_PREFIX_DIGITS}}}$"),
            "prefix",
            pl.format(
                "'{}' is not 1 to {} digits; write digits only, e.g. 4930",
                _cell("prefix"),
                pl.lit(MAX_PREFIX_DIGITS),
            ),
        ),
        _problem(
            (band != "") & ~band.is_in(bands),
            "band",
            pl.format(
                "unknown band '{}'; the sheet's bands are: {}", band, pl.lit(", ".join(bands))
            ),
        ),
        *_decimal_checks("rate", required=True),
        *_decimal_checks("connect_fee", required=False),
        *_decimal_checks("max_cost", required=False),
        *_whole_checks("unit_s", 1),
        *_whole_checks("increment_s", 1),
        *_whole_checks("from_s", 0),
        _problem(
            (increments != "") & ~increments.str.contains(r"^[1-9]\d*/[1-9]\d*$"),
            "increments",
            pl.format("'{}' is not of the form a/b with whole seconds, e.g. 30/6", increments),
        ),
        _problem(
            (increments != "") & ((_cell("from_s") != "") | (_cell("increment_s") != "")),
            "increments",
            pl.lit("is used together with from_s or increment_s; use one or the other"),
        ),
        *[
            _problem(
                (_cell(column) != "") & pl.col(f"{column}_s").is_null(),
                column,
                pl.format(
                    "'{}' is not a date (2026-10-15) or datetime (2026-10-15T08:00); {}",
                    _cell(column),
                    pl.col(column)
                    .fill_null("")
                    .str.strip_chars()
                    .replace_strict(
                        effective.values, effective.reasons, default="", return_dtype=pl.String
                    ),
                ),
            )
            for column in ("effective_from", "effective_to")
        ],
        _problem(
            pl.col("effective_to_s") <= pl.col("effective_from_s"),
            "effective_to",
            pl.format(
                "'{}' is not after effective_from '{}'",
                _cell("effective_to"),
                _cell("effective_from"),
            ),
        ),
    ]
    cell_problems = (
        frame.select("line", problem=pl.concat_list(checks))
        .explode("problem")
        .drop_nulls("problem")
        .unnest("problem")
    )
    problems = _format_cell_problems(cell_problems, rates_path)
    frame = frame.join(cell_problems.select("line").unique(), on="line", how="anti")
    rows = _expand_increments(
        frame.select(
            "line",
            prefix=prefix,
            destination=_cell("destination"),
            band=band,
            rate_nano=nano_from_text(_cell("rate")),
            unit_s=_whole_or(_cell("unit_s"), 60),
            increment_s=_whole_or(_cell("increment_s"), 1),
            from_s=_whole_or(_cell("from_s"), 0),
            increments=increments,
            connect_fee_nano=nano_from_text(_cell("connect_fee")).fill_null(0),
            max_cost_nano=nano_from_text(_cell("max_cost")),
            effective_from=pl.col("effective_from_s"),
            effective_to=pl.col("effective_to_s"),
        )
    )
    problems += _duplicate_tiers(rows, rates_path) + _tiers_without_start(rows, rates_path)
    if problems:
        raise SheetError(sorted(problems, key=_line_of))
    if rows.height == 0:
        raise SheetError([f"{rates_path}: has no rate rows; add at least one"])
    return rows.select(RATE_ROWS_SCHEMA.names()).cast(RATE_ROWS_SCHEMA)


def _line_of(problem: str) -> int:
    """The line number in a ``file:line: ...`` problem, for ordering."""
    return int(problem.split(":")[1])


def _whole_or(value: pl.Expr, default: int) -> pl.Expr:
    return pl.when(value == "").then(default).otherwise(value.str.to_integer(strict=False))


def _expand_increments(rows: pl.DataFrame) -> pl.DataFrame:
    """``increments = a/b`` becomes two tiers: from 0 by ``a``, and from ``a`` by ``b``."""
    shorthand = (
        rows.filter(pl.col("increments") != "")
        .with_columns(
            pl.col("increments").str.split_exact("/", 1).struct.rename_fields(["first", "then"])
        )
        .unnest("increments")
        .with_columns(pl.col("first", "then").cast(pl.Int64))
    )
    first_tier = shorthand.with_columns(from_s=pl.lit(0, pl.Int64), increment_s=pl.col("first"))
    later_tier = shorthand.with_columns(
        from_s=pl.col("first"),
        increment_s=pl.col("then"),
        connect_fee_nano=pl.lit(0, pl.Int64),
        max_cost_nano=pl.lit(None, pl.Int64),
    )
    plain = rows.filter(pl.col("increments") == "").drop("increments")
    columns = plain.columns
    return pl.concat([plain, first_tier.select(columns), later_tier.select(columns)]).sort(
        "line", "from_s"
    )


def _format_cell_problems(problems: pl.DataFrame, rates_path: Path) -> list[str]:
    return format_lines(
        problems.sort("line"),
        "{}:{}: column '{}': {}",
        pl.lit(str(rates_path)),
        "line",
        "column",
        "message",
    )


def _duplicate_tiers(rows: pl.DataFrame, rates_path: Path) -> list[str]:
    keys = ["prefix", "band", "from_s"]
    pairs = (
        rows.join(rows, on=keys, suffix="_other")
        .filter(
            (pl.col("line") > pl.col("line_other"))
            & _starts_before_end("effective_from", "effective_to_other")
            & _starts_before_end("effective_from_other", "effective_to")
        )
        .unique(["line", "from_s"], keep="first")
        .sort("line")
    )
    return format_lines(
        pairs,
        "{}:{}: column 'prefix': duplicate rate for prefix {}, band {}, from_s {}: its "
        "effective window overlaps line {}; end the older one with effective_to",
        pl.lit(str(rates_path)),
        "line",
        "prefix",
        _band_label,
        "from_s",
        "line_other",
    )


_band_label = pl.when(pl.col("band") == "").then(pl.lit("(all)")).otherwise(pl.col("band"))


def _starts_before_end(start: str, end: str) -> pl.Expr:
    """``start < end`` for window bounds where null means open."""
    return pl.col(start).is_null() | pl.col(end).is_null() | (pl.col(start) < pl.col(end))


def _tiers_without_start(rows: pl.DataFrame, rates_path: Path) -> list[str]:
    rates = (
        rows.group_by("prefix", "band", "effective_from", "effective_to")
        .agg(pl.col("from_s").min(), pl.col("line").min())
        .filter(pl.col("from_s") > 0)
        .sort("line")
    )
    return format_lines(
        rates,
        "{}:{}: column 'from_s': prefix {}, band {} has tiers but none starting at "
        "from_s = 0; add the first tier",
        pl.lit(str(rates_path)),
        "line",
        "prefix",
        _band_label,
    )


class _EffectiveBounds:
    """The distinct effective_from/effective_to texts of a sheet, parsed once each."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.epochs: list[int | None] = []
        self.reasons: list[str] = []


def _parse_effective_bounds(frame: pl.DataFrame, timezone: str) -> _EffectiveBounds:
    zone = ZoneInfo(timezone)
    distinct = (
        pl.concat([frame.get_column("effective_from"), frame.get_column("effective_to")])
        .fill_null("")
        .str.strip_chars()
        .unique()
        .to_list()
    )
    bounds = _EffectiveBounds()
    for text in distinct:
        epoch, reason = _local_epoch(text, zone)
        bounds.values.append(text)
        bounds.epochs.append(epoch)
        bounds.reasons.append(reason)
    return bounds


def _local_epoch(text: str, zone: ZoneInfo) -> tuple[int | None, str]:
    """Epoch seconds of a date or datetime read in the sheet's zone; ('' means open)."""
    if text == "":
        return None, ""
    try:
        if len(text) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        return None, str(exc)
    if moment.microsecond:
        return None, "fractions of a second are not supported"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp()), ""
