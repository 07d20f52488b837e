"""Where output goes: data to stdout, everything else (logs, summaries) to stderr.

Data values (account names, call ids, file names, cell values in error messages) are
printed with their control characters escaped (:func:`printable`): an ESC in an
accounts file or a CDR must not move the cursor, retitle the window or hide text in
the operator's terminal. Both consoles do it for everything they print, tables
included, and parse no Rich markup, so a ``[link=…]`` in a value stays text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

# C0 controls, DEL and C1 controls (U+009B is CSI on terminals that read 8-bit controls).
_CONTROLS = (*range(0x20), 0x7F, *range(0x80, 0xA0))
_ESCAPES = {code: f"\\x{code:02x}" for code in _CONTROLS}
# What the consoles print is laid out in lines already: their newlines are the layout.
_ESCAPES_IN_LINES = {code: text for code, text in _ESCAPES.items() if code != ord("\n")}


def printable(text: str) -> str:
    r"""``text`` with every control character (newline included) written as ``\xNN``.

    >>> printable("ACME\x1b[2J\n")
    'ACME\\x1b[2J\\x0a'
    """
    return text.translate(_ESCAPES)


class _EscapingConsole(Console):
    """A console whose every printed segment has its control characters escaped.

    Strings are escaped as they become text (``render_str``: printed strings, table
    cells), so that tables are laid out with the escapes' width. ``render``, where
    everything printed turns into segments (``Text`` built by hand, the progress bar
    of a ``Live`` display), escapes the rest; nested renderables pass through it
    again, which changes nothing: escaped text holds no control characters.
    """

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(text.translate(_ESCAPES_IN_LINES), **options)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            # Control segments are Rich's own cursor moves (progress bars), not data.
            if segment.control:
                yield segment
            else:
                yield Segment(segment.text.translate(_ESCAPES_IN_LINES), segment.style)


def _console(**options: Any) -> Console:
    return _EscapingConsole(highlight=False, markup=False, soft_wrap=True, **options)


# Piped data is not cut to 80 columns: tables keep their natural width.
data_console = _console(width=None if sys.stdout.isatty() else 200)
error_console = _console(stderr=True)


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
