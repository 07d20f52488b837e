"""``cdr-rating sheet``: checking rate sheets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cdr_rating.cli.console import data_console, error_console
from cdr_rating.errors import ExitCode, SheetError
from cdr_rating.sheets import load_sheet

sheet_app = typer.Typer(help="Check rate sheets.", no_args_is_help=True)


@sheet_app.command("check")
def check_command(
    sheets: Annotated[list[Path], typer.Argument(help="Sheet TOML files.", show_default=False)],
) -> None:
    """Validate sheets; list every problem as file:line: column: what to fix."""
    failed = 0
    for path in sheets:
        try:
            sheet = load_sheet(path)
        except SheetError as exc:
            failed += 1
            for problem in exc.problems:
                error_console.print(problem, markup=False)
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
