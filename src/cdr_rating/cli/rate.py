"""``cdr-rating rate`` and ``cdr-rating explain``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cdr_rating.cli.console import data_console, error_console
from cdr_rating.cli.files import check_writable
from cdr_rating.cli.options import (
    AccountsOption,
    CountryOption,
    FormatOption,
    Inputs,
    InputTzOption,
    InternationalOption,
    MapOption,
    MapSeparatorOption,
    MapSkipRowsOption,
    MaxDurationOption,
    OptionalInputs,
    SheetOption,
    SheetsOption,
    StripPrefixOption,
    TrunkOption,
    build_plan,
    input_format,
    input_options,
)
from cdr_rating.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from cdr_rating.pipeline import RatingSummary
    from cdr_rating.rating import RatingPlan


def rate_command(
    inputs: Inputs,
    out: Annotated[Path, typer.Option("--out", help="Rated calls: .parquet or .csv.")],
    sheet: SheetOption = None,
    sheets: SheetsOption = None,
    accounts: AccountsOption = None,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Rejected rows: .parquet or .csv.")
    ] = None,
    fmt: FormatOption = "auto",
    input_tz: InputTzOption = "UTC",
    international_prefix: InternationalOption = "00",
    trunk_prefix: TrunkOption = None,
    country_code: CountryOption = None,
    strip_prefix: StripPrefixOption = None,
    max_duration: MaxDurationOption = None,
    column_map: MapOption = None,
    map_skip_rows: MapSkipRowsOption = 0,
    map_separator: MapSeparatorOption = ",",
    fail_on_rejects: Annotated[
        bool, typer.Option("--fail-on-rejects", help="Exit 4 when any row is rejected.")
    ] = False,
) -> None:
    """Price every call in INPUT files; write rated calls and rejects."""
    from cdr_rating.pipeline import check_output_suffix, rate_to_file  # noqa: PLC0415

    check_output_suffix(out, rejects)  # before the sheets are loaded
    check_writable(out, "--out")
    if rejects is not None:
        check_writable(rejects, "--rejects")
    options = input_options(
        input_tz, international_prefix, trunk_prefix, country_code, strip_prefix, max_duration
    )
    fmt = input_format(fmt, column_map, map_skip_rows, map_separator)
    plan = build_plan(sheet, sheets, accounts, options.numbers)
    summary = rate_to_file(inputs, plan, out, fmt, options, rejects_out=rejects)
    print_summary(summary, plan, rejects_written=rejects is not None)
    if fail_on_rejects and summary.rejected:
        raise typer.Exit(ExitCode.REJECTS)


def print_summary(summary: RatingSummary, plan: RatingPlan, *, rejects_written: bool) -> None:
    """The reconciliation and totals (in each currency's decimals), on stderr."""
    from cdr_rating.money import format_amount  # noqa: PLC0415

    rated, rejected = summary.rated, summary.rejected
    error_console.print(f"read {summary.read} = rated {rated} + rejected {rejected}")
    if rejected:
        reasons = summary.reasons.sort(["rows", "reason"], descending=[True, False])
        listed = ", ".join(f"{reason} {count}" for reason, count in reasons.rows())
        hint = "" if rejects_written else " (pass --rejects FILE to keep them)"
        error_console.print(f"rejected by reason: {listed}{hint}")
    decimals = plan.currency_decimals()
    for currency, calls, billable, charge in summary.totals.rows():
        amount = format_amount(charge, decimals[currency])
        error_console.print(
            f"total {currency} {amount} for {calls} calls, {billable} billable seconds"
        )


def explain_command(
    call_id: Annotated[str, typer.Argument(help="The call_id to explain.", show_default=False)],
    inputs: OptionalInputs = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="Explain the call stored for this period (YYYY-MM): as priced then and now.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="With --period: configuration file (./cdr-rating.toml)."),
    ] = None,
    sheet: SheetOption = None,
    sheets: SheetsOption = None,
    accounts: AccountsOption = None,
    fmt: FormatOption = "auto",
    input_tz: InputTzOption = "UTC",
    international_prefix: InternationalOption = "00",
    trunk_prefix: TrunkOption = None,
    country_code: CountryOption = None,
    strip_prefix: StripPrefixOption = None,
    max_duration: MaxDurationOption = None,
    column_map: MapOption = None,
    map_skip_rows: MapSkipRowsOption = 0,
    map_separator: MapSeparatorOption = ",",
) -> None:
    """Show how one call was priced: number, prefix choice, band, tiers, fees, rounding.

    With --period, the call comes from the store: how it was billed, and how the sheets
    (the configured ones, or --sheets DIR) price it now."""
    if period is not None:
        data_console.print(_explain_stored(call_id, period, config, sheets), markup=False)
        return
    if not inputs:
        raise UsageError(
            "give the CDR files holding the call, or --period YYYY-MM for a stored call"
        )
    from cdr_rating.explain import explain_call  # noqa: PLC0415
    from cdr_rating.pipeline import rate_files  # noqa: PLC0415

    options = input_options(
        input_tz, international_prefix, trunk_prefix, country_code, strip_prefix, max_duration
    )
    fmt = input_format(fmt, column_map, map_skip_rows, map_separator)
    plan = build_plan(sheet, sheets, accounts, options.numbers)
    result = rate_files(inputs, plan, fmt, options)
    data_console.print(explain_call(call_id, result.rated, result.rejects, plan), markup=False)


def _explain_stored(call_id: str, period: str, config: Path | None, sheets: Path | None) -> str:
    from cdr_rating.config import load_settings  # noqa: PLC0415
    from cdr_rating.jobs.explain import explain_stored_call  # noqa: PLC0415 (a month stage)

    return explain_stored_call(load_settings(config), call_id, period, sheets)
