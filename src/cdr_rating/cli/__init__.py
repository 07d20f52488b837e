"""The ``cdr-rating`` command: parses options, calls the library, maps errors to exit codes."""

from __future__ import annotations

import os
import sys

import typer

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
            error_console.print(f"cdr-rating: error: {problem}", markup=False, highlight=False)
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
            f"cdr-rating: unexpected error: {type(exc).__name__}: {exc} "
            "(set CDR_RATING_DEBUG=1 for a traceback, and please report it)",
            markup=False,
            highlight=False,
        )
        sys.exit(ExitCode.UNEXPECTED)
    sys.exit(status if isinstance(status, int) else ExitCode.OK)
