"""Where output goes: data to stdout, everything else (logs, summaries) to stderr."""

import sys
from typing import Any

import typer
from rich.console import Console

# Piped data is not cut to 80 columns: tables keep their natural width.
data_console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)


def command_group(**options: Any) -> typer.Typer:
    """A Typer app (the program or a group of subcommands) with plain help and errors.

    Typer's rich help (its default when Rich is installed) shows a value placeholder
    for every option, flags included (``--close <bool>``), although a flag takes no
    value; its plain help, Click's layout, shows flags as flags. Rich also draws usage
    errors in a box that wraps the message. Help is as wide as the terminal, up to 120
    columns (Click's default stops at 80).
    """
    return typer.Typer(
        rich_markup_mode=None,
        add_completion=False,
        context_settings={"max_content_width": 120},
        **options,
    )
