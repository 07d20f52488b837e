"""Exact money: integer arithmetic on Int128 numerators and one explicit rounding.

A call's exact charge is a fraction ``numerator / denominator`` with integer parts, kept
as Int128 columns so that nothing is ever rounded early and no float is ever involved.
Rates, fees and caps are read as integer nano-units (9 decimals). The charge is rounded
once, to the sheet's decimals with its method, by integer division; only then does it
become a Polars Decimal.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from cdr_rating.choices import RoundingMethod

RATE_DECIMALS = 9
NANO = 1_000_000_000  # 10**RATE_DECIMALS
MAX_DECIMALS = 9
INT128 = pl.Int128
DECIMAL_PRECISION = 38


def money_dtype(decimals: int) -> pl.Decimal:
    """The Polars dtype of an amount with ``decimals`` digits after the point."""
    return pl.Decimal(DECIMAL_PRECISION, decimals)


def nano_from_text(expr: pl.Expr) -> pl.Expr:
    """Parse non-negative decimal text (``"0.0125"``) into integer nano-units, exactly.

    The caller has already checked that the text is digits with at most
    ``RATE_DECIMALS`` fraction digits; other text yields null.
    """
    parts = expr.str.split_exact(".", 1)
    whole = parts.struct.field("field_0")
    fraction = parts.struct.field("field_1").fill_null("").str.pad_end(RATE_DECIMALS, "0")
    nano = (whole + fraction).str.to_integer(strict=False).cast(pl.Int64)
    return pl.when(expr.fill_null("") == "").then(None).otherwise(nano)


def round_quotient(numerator: pl.Expr, divisor: pl.Expr, method: pl.Expr) -> pl.Expr:
    """``numerator / divisor`` rounded to an integer with the method named per row.

    Both operands are non-negative Int128; ``method`` holds ``RoundingMethod`` values.
    """
    quotient = numerator // divisor
    remainder = numerator - quotient * divisor
    twice = remainder * 2
    one = pl.lit(1, INT128)
    zero = pl.lit(0, INT128)
    half_up = pl.when(twice >= divisor).then(one).otherwise(zero)
    odd = (quotient % 2) == 1
    half_even = pl.when((twice > divisor) | ((twice == divisor) & odd)).then(one).otherwise(zero)
    up = pl.when(remainder > 0).then(one).otherwise(zero)
    bump = (
        pl.when(method == RoundingMethod.HALF_UP.value)
        .then(half_up)
        .when(method == RoundingMethod.HALF_EVEN.value)
        .then(half_even)
        .when(method == RoundingMethod.UP.value)
        .then(up)
        .otherwise(zero)
    )
    return quotient + bump


def minor_units_to_decimal(minor: pl.Expr, decimals: int) -> pl.Expr:
    """Integer minor units (``10**-decimals``) as an exact Decimal column."""
    step = Decimal(1).scaleb(-decimals)
    return minor.cast(pl.Decimal(DECIMAL_PRECISION, 0)) * pl.lit(step, money_dtype(decimals))


def format_amount(value: Decimal, decimals: int) -> str:
    """A Decimal as plain text with exactly ``decimals`` digits after the point."""
    return f"{value.quantize(Decimal(1).scaleb(-decimals)):f}"
