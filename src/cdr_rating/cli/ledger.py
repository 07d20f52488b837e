"""``cdr-rating ledger``: back up, restore and check the ledger (``jobs.books``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cdr_rating.cli.console import command_group, data_console, error_console
from cdr_rating.config import load_settings
from cdr_rating.errors import ExitCode
from cdr_rating.jobs import books

ledger_app = command_group(help="Back up, restore and check the ledger.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Configuration file (default: ./cdr-rating.toml)."),
]


@ledger_app.command("backup")
def backup_command(
    folder: Annotated[
        Path, typer.Argument(help="Folder to write the backup into.", show_default=False)
    ],
    config: ConfigOption = None,
) -> None:
    """Copy the ledger into FOLDER as ledger-<UTC time>-<random>.sqlite (SQLite's online
    backup: consistent while other commands run); prints the backup's path."""
    made = books.backup(load_settings(config), folder)
    data_console.print(str(made), markup=False)


@ledger_app.command("restore")
def restore_command(
    backup: Annotated[Path, typer.Argument(help="The backup file.", show_default=False)],
    config: ConfigOption = None,
) -> None:
    """Replace the ledger by a checked copy of BACKUP (refused while a run holds the
    lock). Runs after the backup was taken are forgotten: the next run ingests their
    files again."""
    findings = books.restore(load_settings(config), backup)
    for finding in findings:
        error_console.print(f"cdr-rating: warning: {finding}", markup=False, highlight=False)
    error_console.print(f"restored the ledger from {backup}", markup=False, highlight=False)


@ledger_app.command("check")
def check_command(config: ConfigOption = None) -> None:
    """Check the ledger (SQLite's integrity_check) and that what it records is there:
    stored files, invoice files, gap-free numbering. Exit 3 with one line per problem."""
    report = books.check(load_settings(config))
    for problem in report.problems:
        error_console.print(f"cdr-rating: error: {problem}", markup=False, highlight=False)
    if report.problems:
        raise typer.Exit(ExitCode.INPUT)
    error_console.print(report.summary, markup=False, highlight=False)
