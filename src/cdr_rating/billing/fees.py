"""The fees file (``fees.csv``): recurring and one-off charges per account.

Columns (contract): ``account``, ``code``, ``description``, ``amount``, ``kind``
(``monthly`` | ``once``), ``date``, optional ``end_date`` (inclusive), ``taxable``
(default true); and ``prorate`` (default false): a monthly fee that starts or ends
inside a period is then charged for the days it runs, not for the whole month.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cdr_rating.errors import ConfigError
from cdr_rating.names import NAME_RULE, bad_name
from cdr_rating.tables import FALSE_WORDS, TRUE_WORDS, format_lines, read_config_table

REQUIRED = ("account", "code", "amount", "kind", "date")
KNOWN = (
    "account",
    "code",
    "description",
    "amount",
    "kind",
    "date",
    "end_date",
    "taxable",
    "prorate",
)
KINDS = ("monthly", "once")
AMOUNT = r"^-?\d+(\.\d+)?$"


def load_fees(path: Path, accounts: pl.DataFrame | None = None) -> pl.DataFrame:
    """Validated fees: ``account``, ``code``, ``description``, ``amount`` (exact text),
    ``kind``, ``date`` and ``end_date`` (Date), ``taxable``, ``prorate`` (Boolean),
    ``line``.

    Raises:
        ConfigError: one line per problem, naming the file, line and column.
    """
    text = read_config_table(path, REQUIRED, KNOWN)
    fees = text.with_columns(
        pl.col("kind").str.to_lowercase(),
        date=pl.col("date").str.to_date("%Y-%m-%d", strict=False),
        end_date=pl.col("end_date").str.to_date("%Y-%m-%d", strict=False),
        taxable=~pl.col("taxable").str.to_lowercase().is_in(FALSE_WORDS),
        prorate=pl.col("prorate").str.to_lowercase().is_in(TRUE_WORDS),
    )
    problems = _problems(text, fees, path, accounts)
    if problems:
        raise ConfigError(problems)
    return fees.with_columns(
        description=pl.when(pl.col("description") == "")
        .then(pl.col("code"))
        .otherwise(pl.col("description"))
    ).select(*KNOWN, "line")


def _problems(
    text: pl.DataFrame, fees: pl.DataFrame, path: Path, accounts: pl.DataFrame | None
) -> list[str]:
    where = pl.lit(str(path))
    both = text.with_columns(
        _date=fees.get_column("date"), _end=fees.get_column("end_date")
    ).with_row_index("_row")
    checks: list[tuple[pl.Expr, str, str]] = [
        (pl.col("account") == "", "account", "is empty; name the account the fee is for"),
        (
            (pl.col("account") != "") & bad_name("account"),
            "account",
            f"'{{}}' is not a valid account id: {NAME_RULE}",
        ),
        (pl.col("code") == "", "code", "is empty; give the fee a short code (e.g. TRUNK-10)"),
        (
            ~pl.col("amount").str.contains(AMOUNT),
            "amount",
            "'{}' is not an amount (write 19.90)",
        ),
        (~pl.col("kind").str.to_lowercase().is_in(KINDS), "kind", "'{}' is not monthly or once"),
        (pl.col("_date").is_null(), "date", "'{}' is not a date (2026-10-01)"),
        (
            (pl.col("end_date") != "") & pl.col("_end").is_null(),
            "end_date",
            "'{}' is not a date (2026-10-31)",
        ),
        (pl.col("_end") < pl.col("_date"), "end_date", "'{}' is before the fee's date"),
        (
            (pl.col("taxable") != "")
            & ~pl.col("taxable").str.to_lowercase().is_in([*TRUE_WORDS, *FALSE_WORDS]),
            "taxable",
            "'{}' is not true or false",
        ),
        (
            (pl.col("prorate") != "")
            & ~pl.col("prorate").str.to_lowercase().is_in([*TRUE_WORDS, *FALSE_WORDS]),
            "prorate",
            "'{}' is not true or false",
        ),
    ]
    if accounts is not None:
        known = accounts.get_column("account").unique().implode()
        checks.append(
            (
                (pl.col("account") != "") & ~bad_name("account") & ~pl.col("account").is_in(known),
                "account",
                "'{}' is not in the accounts file; add the account or remove the fee",
            )
        )
    found: list[tuple[int, str]] = []
    for condition, column, message in checks:
        bad = both.filter(condition.fill_null(value=False))
        values = [column] if "{}" in message else []
        found += zip(
            bad.get_column("_row").to_list(),
            format_lines(bad, f"{{}}:{{}}: column '{column}': {message}", where, "line", *values),
            strict=True,
        )
    return [message for _, message in sorted(found, key=lambda item: item[0])]
