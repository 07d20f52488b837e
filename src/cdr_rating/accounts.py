"""The accounts file: which sheet rates each account's calls, from when, and its numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from cdr_rating.cdrs.numbers import NumberRules
from cdr_rating.errors import ConfigError, SheetError
from cdr_rating.names import NAME_RULE, bad_name
from cdr_rating.sheets import RateSheet, load_sheet
from cdr_rating.tables import FALSE_WORDS, TRUE_WORDS, format_lines, read_config_table

REQUIRED = ("account", "sheet")
KNOWN = (
    "account",
    "name",
    "sheet",
    "effective_from",
    "tax_rate",
    "numbers",
    "email",
    "address",
    "itemised",
    "minimum_commitment",
    "currency",
)


def load_sheets(directory: Path) -> list[RateSheet]:
    """Every ``*.toml`` sheet in ``directory``; all their problems reported together."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: sheets directory not found")
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise ConfigError(f"{directory}: no *.toml rate sheets in this directory")
    sheets, problems = [], []
    for path in paths:
        try:
            sheets.append(load_sheet(path))
        except SheetError as exc:
            problems += exc.problems
    if problems:
        raise SheetError(problems)
    return sheets


def load_accounts(
    path: Path, sheets: list[RateSheet], numbers: NumberRules | None = None
) -> pl.DataFrame:
    """Validated accounts: one row per plan version, ``effective_from`` in epoch seconds.

    Columns: ``account``, ``name``, ``sheet``, ``effective_from``, ``tax_rate`` (text,
    exact), ``numbers`` (normalised caller numbers), ``email``, ``address``,
    ``itemised``, ``minimum_commitment`` (text, exact; empty: none), ``line``.
    """
    raw = read_config_table(path, REQUIRED, KNOWN)
    by_id = {sheet.id: sheet for sheet in sheets}
    problems: list[str] = []
    effective: list[int | None] = []
    rows = raw.select("line", "account", "sheet", "effective_from", "currency").rows()
    for line, account, sheet_id, since, currency in rows:
        where = f"{path}:{line}"
        if not account:
            problems.append(f"{where}: column 'account': is empty")
        sheet = by_id.get(sheet_id)
        if sheet is None:
            known = ", ".join(sorted(by_id)) or "none"
            problems.append(
                f"{where}: column 'sheet': no sheet with id {sheet_id!r} (loaded: {known})"
            )
        elif currency and currency != sheet.currency:
            problems.append(
                f"{where}: column 'currency': account {account} is billed in {currency} but "
                f"sheet {sheet_id!r} prices in {sheet.currency}; use a {currency} sheet"
            )
        epoch, reason = _effective_epoch(since, sheet.zone if sheet else ZoneInfo("UTC"))
        if reason:
            problems.append(f"{where}: column 'effective_from': {since!r} {reason}")
        effective.append(epoch)
    frame = raw.with_columns(effective_from=pl.Series(effective, dtype=pl.Int64))
    problems += _check_columns(frame, path)
    problems += _check_plan_history(frame, path, by_id)
    rules = numbers or NumberRules()
    owned = (
        rules.normalise(
            frame.select("line", number=pl.col("numbers").str.split(" ")).explode("number").lazy(),
            "number",
            "digits",
        )
        .drop_nulls("digits")
        .group_by("line")
        .agg(numbers=pl.col("digits"))
        .collect()
    )
    frame = (
        frame.drop("numbers")
        .join(owned, on="line", how="left")
        .with_columns(
            pl.col("numbers").fill_null([]),
            itemised=~pl.col("itemised").str.to_lowercase().is_in(FALSE_WORDS),
        )
    )
    problems += _check_numbers(frame, path)
    if problems:
        raise ConfigError(problems)
    return frame.select(*(c for c in KNOWN if c != "currency"), "line")


def _effective_epoch(text: str, zone: ZoneInfo) -> tuple[int | None, str]:
    if not text:
        return None, ""
    try:
        moment = (
            dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
            if len(text) == 10
            else dt.datetime.fromisoformat(text)
        )
    except ValueError:
        return None, "is not a date (2026-10-15) or datetime (2026-10-15T08:00)"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp()), ""


def _check_columns(frame: pl.DataFrame, path: Path) -> list[str]:
    bad_tax = frame.filter(
        (pl.col("tax_rate") != "") & (~pl.col("tax_rate").str.contains(r"^0?\.\d+$|^0$|^1$"))
    )
    bad_itemised = frame.filter(
        (pl.col("itemised") != "")
        & ~pl.col("itemised").str.to_lowercase().is_in([*TRUE_WORDS, *FALSE_WORDS])
    )
    bad_commitment = frame.filter(
        (pl.col("minimum_commitment") != "")
        & ~pl.col("minimum_commitment").str.contains(r"^\d+(\.\d+)?$")
    )
    bad_account = frame.filter(bad_name("account") & (pl.col("account") != ""))
    where = pl.lit(str(path))
    return (
        format_lines(
            bad_account,
            f"{{}}:{{}}: column 'account': '{{}}' is not a valid account id: {NAME_RULE}",
            where,
            "line",
            "account",
        )
        + format_lines(
            bad_commitment,
            "{}:{}: column 'minimum_commitment': '{}' is not an amount (write 50.00, or leave "
            "it empty for none)",
            where,
            "line",
            "minimum_commitment",
        )
        + format_lines(
            bad_tax,
            "{}:{}: column 'tax_rate': '{}' is not a fraction between 0 and 1 (write 0.19 for 19%)",
            where,
            "line",
            "tax_rate",
        )
        + format_lines(
            bad_itemised,
            "{}:{}: column 'itemised': '{}' is not true or false",
            where,
            "line",
            "itemised",
        )
    )


def _check_plan_history(frame: pl.DataFrame, path: Path, sheets: dict[str, RateSheet]) -> list[str]:
    repeated = frame.filter(
        pl.struct("account", "effective_from").is_duplicated() & (pl.col("account") != "")
    )
    problems = format_lines(
        repeated,
        "{}:{}: account {} has two plans starting at the same time; give the later one a "
        "later effective_from",
        pl.lit(str(path)),
        "line",
        "account",
    )
    currencies = (
        frame.filter(pl.col("sheet").is_in(list(sheets)))
        .with_columns(
            currency=pl.col("sheet").replace_strict(
                {sheet_id: s.currency for sheet_id, s in sheets.items()}
            )
        )
        .group_by("account")
        .agg(pl.col("currency").unique().sort(), pl.col("line").max())
        .filter(pl.col("currency").list.len() > 1)
        .sort("line")
    )
    problems += format_lines(
        currencies,
        "{}:{}: account {} changes between sheets in different currencies ({}); an account "
        "is billed in one currency",
        pl.lit(str(path)),
        "line",
        "account",
        pl.col("currency").list.join(", "),
    )
    return problems


def _check_numbers(frame: pl.DataFrame, path: Path) -> list[str]:
    owners = (
        frame.select("account", "line", "numbers")
        .explode("numbers")
        .drop_nulls("numbers")
        .group_by("numbers")
        .agg(pl.col("account").unique().sort(), pl.col("line").max())
        .filter(pl.col("account").list.len() > 1)
        .sort("line")
    )
    return format_lines(
        owners,
        "{}:{}: number {} belongs to several accounts ({}); a caller number identifies one account",
        pl.lit(str(path)),
        "line",
        "numbers",
        pl.col("account").list.join(", "),
    )
