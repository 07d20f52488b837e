"""``cdr-rating sheet``: checking rate sheets and importing rate decks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from cdr_rating.choices import IncludedSeconds, Preset, RoundingMethod
from cdr_rating.cli.console import command_group, data_console, error_console, printable
from cdr_rating.errors import ExitCode, SheetError, UsageError

sheet_app = command_group(help="Check rate sheets and import rate decks.", no_args_is_help=True)


@sheet_app.command("check")
def check_command(
    sheets: Annotated[list[Path], typer.Argument(help="Sheet TOML files.", show_default=False)],
) -> None:
    """Validate sheets; list every problem as file:line: column: what to fix."""
    from cdr_rating.sheets import load_sheet  # noqa: PLC0415 (the library, lazily)

    failed = 0
    for path in sheets:
        try:
            sheet = load_sheet(path)
        except SheetError as exc:
            failed += 1
            for problem in exc.problems:
                error_console.print(printable(problem))  # one line, whatever a cell holds
            continue
        rates = sheet.rows.select("prefix", "band", "effective_from", "effective_to").n_unique()
        data_console.print(
            f"{path}: ok: sheet {sheet.id} ({sheet.currency}), {sheet.rows.height} tier rows, "
            f"{rates} rates, {sheet.rows.get_column('prefix').n_unique()} prefixes, "
            f"bands {', '.join(sheet.settings.band_names)}",
            markup=False,
        )
    if failed:
        raise typer.Exit(ExitCode.USAGE)


@sheet_app.command("import")
def import_command(
    deck: Annotated[
        Path,
        typer.Argument(
            help="The deck file (for cgrates: the tariff plan folder).", show_default=False
        ),
    ],
    preset: Annotated[
        Preset, typer.Option("--preset", help="The deck's format.", show_default=False)
    ],
    sheet_id: Annotated[
        str, typer.Option("--id", help="Id of the new sheet (file names ID.toml, ID.csv).")
    ],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code of the prices.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the sheet into.")],
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA zone of the sheet (and of deck dates).")
    ] = "UTC",
    decimals: Annotated[
        int | None,
        typer.Option("--decimals", help="Round charges to this many decimals (default 4)."),
    ] = None,
    rounding: Annotated[
        RoundingMethod | None,
        typer.Option("--rounding", help="Rounding method (default half_up).", show_default=False),
    ] = None,
    skip_bad_rows: Annotated[
        bool,
        typer.Option("--skip-bad-rows", help="Import the good rows, warn about the bad ones."),
    ] = False,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="Text encoding (default: UTF-8, else cp1252)."),
    ] = None,
    separator: Annotated[
        str | None, typer.Option("--separator", help="Field separator (e.g. ';' or tab).")
    ] = None,
    decimal_comma: Annotated[
        bool,
        typer.Option("--decimal-comma", help="astpp, cgrates: accept 0,05 as 0.05."),
    ] = False,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="a2billing: the optional fields after dialprefix;destination;rateinitial; "
            "prefix-rate: the column order (prefix,destination,rate; '-' skips a column).",
        ),
    ] = None,
    unit_s: Annotated[
        int | None, typer.Option("--unit-s", help="prefix-rate: rates are per N seconds (60).")
    ] = None,
    increments: Annotated[
        str | None,
        typer.Option("--increments", help="prefix-rate: billing steps a/b (default 1 s)."),
    ] = None,
    included_seconds: Annotated[
        IncludedSeconds | None,
        typer.Option(
            "--included-seconds",
            help="astpp: Included Seconds as free first seconds (free, default) or grace_s.",
            show_default=False,
        ),
    ] = None,
    destination_rates: Annotated[
        str | None,
        typer.Option(
            "--destination-rates", help="cgrates: the DestinationRates Ids to import (a,b,c)."
        ),
    ] = None,
) -> None:
    """Import a rate deck as a rate sheet: write ID.toml and ID.csv into --out."""
    from cdr_rating.sheets.importers import ImportOptions, import_deck, write_sheet  # noqa: PLC0415

    options = ImportOptions(
        sheet_id=sheet_id,
        currency=currency,
        timezone=timezone,
        decimals=decimals,
        rounding=rounding,
        skip_bad_rows=skip_bad_rows,
        encoding=encoding,
        separator=separator,
        decimal_comma=decimal_comma,
        columns=_names(columns, "--columns"),
        unit_s=unit_s,
        increments=_increments(increments),
        included_seconds=included_seconds,
        destination_rates=_names(destination_rates, "--destination-rates"),
    )
    imported = import_deck(preset, deck, options)
    for warning in imported.warnings:
        error_console.print(f"cdr-rating: warning: {printable(warning)}")
    sheet = write_sheet(imported, out)
    rates = sheet.rows.select("prefix", "band", "effective_from", "effective_to").n_unique()
    data_console.print(
        f"{sheet.path}: imported {_count(rates, 'rate')} "
        f"({_count(sheet.rows.height, 'tier row')}, "
        f"{_count(sheet.rows.get_column('prefix').n_unique(), 'prefix')}) from {deck} "
        f"(preset {preset.value}); {_count(imported.skipped_rows, 'bad row')} skipped",
        markup=False,
    )


def _count(number: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("x") else "s")
    return f"{number} {noun if number == 1 else plural}"


def _names(text: str | None, flag: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise UsageError(f"{flag} {text!r}: an empty name in the comma-separated list")
    return names


def _increments(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    match = re.fullmatch(r"\s*([1-9]\d*)\s*/\s*([1-9]\d*)\s*", text)
    if match is None:
        raise UsageError(f"--increments {text!r}: write a/b in whole seconds, e.g. 60/60 or 30/6")
    return int(match.group(1)), int(match.group(2))
