"""The ``cdr-rating`` command: parses options, calls the library, maps errors to exit codes."""

from __future__ import annotations

import os
import sys

from cdr_rating.cli.console import command_group, error_console
from cdr_rating.cli.invoice import invoice_app
from cdr_rating.cli.rate import explain_command, rate_command
from cdr_rating.cli.rerate import rerate_command
from cdr_rating.cli.run import run_command
from cdr_rating.cli.sheet import sheet_app
from cdr_rating.errors import CdrRatingError, ConfigError, ExitCode

app = command_group(
    name="cdr-rating",
    help="Rate call detail records exactly, and invoice them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("rate")(rate_command)
app.command("explain")(explain_command)
app.add_typer(sheet_app, name="sheet")
app.command("run")(run_command)
app.add_typer(invoice_app, name="invoice")
app.command("rerate")(rerate_command)


def main() -> None:
    """Entry point: one line on stderr and the documented exit code for every failure."""
    try:
        app()  # standalone: Typer itself reports usage errors (exit 2) and calls sys.exit
    except CdrRatingError as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        for problem in problems:
            error_console.print(f"cdr-rating: error: {problem}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error_console.print("cdr-rating: interrupted", markup=False)
        sys.exit(ExitCode.UNEXPECTED)
    except BaseException as exc:  # last line of defence (Polars panics are BaseException)
        if isinstance(exc, SystemExit):
            raise
        if os.environ.get("CDR_RATING_DEBUG"):
            raise
        error_console.print(
            f"cdr-rating: unexpected error: {type(exc).__name__}: {exc} "
            "(set CDR_RATING_DEBUG=1 for a traceback, and please report it)",
            markup=False,
            highlight=False,
        )
        sys.exit(ExitCode.UNEXPECTED)
