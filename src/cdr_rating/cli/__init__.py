"""The ``cdr-rating`` command: parses options, calls the library, maps errors to exit codes."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
from typer import _click as click  # the Click that Typer bundles and builds commands with
from typer.core import TyperGroup

from cdr_rating.cli.console import command_group, error_console, printable
from cdr_rating.errors import CdrRatingError, ConfigError, ExitCode

# Each command: its module, the Typer command function or sub-app there, and the line
# the program's help shows for it (tests/test_cli.py holds it to the command's own).
# A command's module, and the library behind it, is imported only when that command
# runs or shows its help: `cdr-rating --help` loads neither Polars nor WeasyPrint.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "rate": (
        "cdr_rating.cli.rate",
        "rate_command",
        "Price every call in INPUT files; write rated calls and rejects.",
    ),
    "explain": (
        "cdr_rating.cli.rate",
        "explain_command",
        "Show how one call was priced: number, prefix choice, band, tiers, fees, rounding.",
    ),
    "sheet": ("cdr_rating.cli.sheet", "sheet_app", "Check rate sheets and import rate decks."),
    "run": (
        "cdr_rating.cli.run",
        "run_command",
        "Ingest new inbox files into the store: rate, file by period, record in the ledger.",
    ),
    "invoice": (
        "cdr_rating.cli.invoice",
        "invoice_app",
        "Preview, list, show and void invoices.",
    ),
    "rerate": (
        "cdr_rating.cli.rerate",
        "rerate_command",
        "Re-rate a period's stored calls and show, per account, what changes.",
    ),
    "ledger": ("cdr_rating.cli.ledger", "ledger_app", "Back up, restore and check the ledger."),
}


def load_command(name: str) -> click.Command:
    """The click command ``name``, importing its module now."""
    module, attribute, _ = COMMANDS[name]
    found: Any = getattr(importlib.import_module(module), attribute)
    if isinstance(found, typer.Typer):
        command = typer.main.get_command(found)
    else:
        single = command_group()
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyCommands(TyperGroup):
    """The program's commands, each loaded when it is used (see ``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:  # noqa: ARG002
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])


app = command_group(
    name="cdr-rating",
    help="Rate call detail records exactly, and invoice them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyCommands,
)


@app.callback()
def _program() -> None:
    """Rate call detail records exactly, and invoice them."""


# Click's usage error, which Typer's parser raises for a bad, missing or unknown option
# or argument (Typer re-exports only its subclass BadParameter).
ParseError: type[Exception] = typer.BadParameter.__mro__[1]


def main() -> None:
    """Entry point: one line on stderr and the documented exit code for every failure."""
    try:
        # Not standalone: usage errors come here, to be one line like every other error.
        status = app(prog_name="cdr-rating", standalone_mode=False)
    except ParseError as exc:
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" or context is None:
            exc.show()  # type: ignore[attr-defined]  # the help, for a group called bare
            sys.exit(ExitCode.USAGE)
        message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
        error_console.print(
            f"cdr-rating: error: {message} (see {context.command_path} --help)",
            markup=False,
            highlight=False,
        )
        sys.exit(ExitCode.USAGE)
    except CdrRatingError as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        for problem in problems:
            # One line each, whatever a quoted value holds (a newline in a CSV cell).
            error_console.print(f"cdr-rating: error: {printable(problem)}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error_console.print("cdr-rating: interrupted", markup=False)
        sys.exit(ExitCode.UNEXPECTED)
    except typer.Abort:
        error_console.print("cdr-rating: aborted", markup=False)
        sys.exit(ExitCode.UNEXPECTED)
    except BaseException as exc:  # last line of defence (Polars panics are BaseException)
        if isinstance(exc, SystemExit):
            raise
        if os.environ.get("CDR_RATING_DEBUG"):
            raise
        error_console.print(
            f"cdr-rating: unexpected error: {type(exc).__name__}: {printable(str(exc))} "
            "(set CDR_RATING_DEBUG=1 for a traceback, and please report it)",
            markup=False,
            highlight=False,
        )
        sys.exit(ExitCode.UNEXPECTED)
    sys.exit(status if isinstance(status, int) else ExitCode.OK)
