"""What every text format reader shares: from split lines to the raw frame.

A reader splits its file with ``delimited.read_fields``, names the fields it needs and
states, in order, the checks a line must pass. ``raw_frame`` turns that into the frame
``parse.prepare_calls`` expects: ``schema.RAW_COLUMNS`` plus ``file``, ``line``,
``_reader_reason`` and ``_detail`` (the first failed check, if any).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cdr_rating.cdrs.delimited import field_name
from cdr_rating.cdrs.schema import RAW_COLUMNS, Reason
from cdr_rating.errors import InputError

_EXCERPT = 60


def field(index: int) -> pl.Expr:
    """Field ``index`` of a line with surrounding spaces removed ("" when absent)."""
    return pl.col(field_name(index)).fill_null("").str.strip_chars()


@dataclass(frozen=True)
class Check:
    """A rule a line must pass: where ``failed`` is true the line is rejected.

    ``failed`` may use the columns a reader derives in its plan; ``detail``, the message,
    only the split lines' own columns (it is formatted for the failed lines alone).
    """

    failed: pl.Expr
    reason: Reason
    detail: pl.Expr


def shape_checks(counts: pl.Expr, expected: str) -> list[Check]:
    """The first checks of every reader: the line splits, and ``counts`` (an expression
    on ``fields``) accepts its number of fields; ``expected`` says what would be."""
    return [
        Check(pl.col("problem").is_not_null(), Reason.PARSE_ERROR, pl.col("problem")),
        Check(
            ~counts,
            Reason.PARSE_ERROR,
            pl.format("{} fields; {}", pl.col("fields"), pl.lit(expected)),
        ),
    ]


def shaped(counts: pl.Expr) -> pl.Expr:
    """Whether a line split without a problem into a number of fields ``counts`` accepts."""
    return pl.col("problem").is_null() & counts


def whole_seconds(name: str, value: pl.Expr) -> Check:
    """Reject a field that is not a whole number of seconds (e.g. ``-5``, ``1e309``)."""
    return Check(
        ~value.str.contains(r"^\d+$"),
        Reason.BAD_DURATION,
        pl.format("{} '{}' is not a whole number of seconds", pl.lit(name), _excerpt(value)),
    )


def not_longer(billed: str, billed_value: pl.Expr, total: str, total_value: pl.Expr) -> Check:
    """Reject billed seconds greater than the call's whole duration (both digits)."""
    billed_s = billed_value.str.to_integer(strict=False)
    total_s = total_value.str.to_integer(strict=False)
    return Check(
        (billed_s > total_s).fill_null(False),
        Reason.BAD_DURATION,
        pl.format(
            "{} {} is greater than {} {}", pl.lit(billed), billed_value, pl.lit(total), total_value
        ),
    )


def _excerpt(value: pl.Expr) -> pl.Expr:
    """A field as it may appear in a one-line message (long values are cut)."""
    return (
        pl.when(value.str.len_chars() > _EXCERPT)
        .then(value.str.slice(0, _EXCERPT) + pl.lit("..."))
        .otherwise(value)
    )


def require_some_calls(rows: pl.DataFrame, shaped: pl.Expr, path: Path, what: str) -> None:
    """InputError when the file has lines but not one of them has the format's shape.

    Such a file is not in this format at all (binary data, another layout): rejecting
    every line one by one would only hide that.
    """
    if rows.height and not rows.select(shaped.any()).item():
        raise InputError(
            f"{path}: not {what}: none of its {rows.height} non-blank lines has that layout "
            "(check --format)"
        )


def raw_frame(
    rows: pl.DataFrame,
    path: Path,
    shaped: pl.Expr,
    columns: Mapping[str, pl.Expr],
    checks: Sequence[Check],
    plan: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """The raw frame: ``columns`` (missing raw columns are null), ``file``, ``line`` and
    the first failed check as ``_reader_reason`` and ``_detail``.

    ``rows`` are the split lines; ``plan`` (``rows`` by default) adds what the reader
    derives from them (call_ids, say). It is computed here, in one pass of the streaming
    engine that keeps only the raw columns. Where ``shaped`` is false (the line did not
    split into the format's fields) every raw column is null: nothing, not even a
    call_id, could be read from it.
    """
    first_failed: pl.Expr = pl.lit(None, pl.Int32)
    for position, check in reversed(list(enumerate(checks))):
        first_failed = (
            pl.when(check.failed).then(pl.lit(position, pl.Int32)).otherwise(first_failed)
        )
    values = [
        columns.get(name, pl.lit(None, pl.String)).cast(pl.String).alias(name)
        for name in RAW_COLUMNS
    ]
    source = rows.lazy() if plan is None else plan
    computed = source.select("line", *values, _check=first_failed, _shaped=shaped).collect(
        engine="streaming"
    )
    if not computed.get_column("_shaped").all():
        computed = computed.with_columns(
            pl.when(pl.col("_shaped")).then(pl.col(name)).alias(name) for name in RAW_COLUMNS
        )
    reasons = pl.Series([check.reason.value for check in checks], dtype=pl.String)
    return computed.lazy().select(
        *RAW_COLUMNS,
        file=pl.lit(str(path)),
        line=pl.col("line"),
        _reader_reason=pl.lit(reasons).gather(pl.col("_check")),
        _detail=pl.lit(_details(rows, computed.get_column("_check"), checks)),
    )


def _details(rows: pl.DataFrame, failed_check: pl.Series, checks: Sequence[Check]) -> pl.Series:
    """The ``_detail`` of every row: only failed rows have one, so each check's message
    is formatted for its own rows alone (formatting every row would cost more than
    reading the file)."""
    # Rechunked: on a frame whose columns are chunked differently (as the streaming
    # engine leaves them) pl.format can panic in Polars 2.1.
    failed = (
        rows.with_columns(_check=failed_check)
        .with_row_index("_position")
        .filter(pl.col("_check").is_not_null())
        .rechunk()
    )
    every = pl.Series("_detail", [], dtype=pl.String).extend_constant(None, rows.height)
    if failed.is_empty():
        return every
    found = pl.concat(
        failed.filter(pl.col("_check") == position).select(
            "_position", check.detail.cast(pl.String).alias("_detail")
        )
        for position, check in enumerate(checks)
    )
    return every.scatter(found.get_column("_position"), found.get_column("_detail"))
