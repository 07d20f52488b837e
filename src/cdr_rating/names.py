"""Safe names: the one rule for every identifier that may become part of a file name,
and the one function that builds an output path from such names.

Account ids, sheet ids, invoice and note numbers, periods and run ids end up in file
names (``dispute-ACCOUNT-PERIOD.pdf``, ``invoices/2026-10/INV-2026-000001.pdf``). An
id such as ``x/../../../tmp/pwn`` would then write outside the data directory, and one
with a NUL, a newline or an escape sequence would break file names, log lines and
terminals. So every id is checked when it is read, against one rule: letters, digits,
``.``, ``-`` and ``_``, at most 64 characters, not starting with a dot (no hidden
files, no ``.`` or ``..``).

:func:`output_path` is the second line of defence, for every writer of invoices,
appendices, reports and dispute packs: it refuses a name that is not one plain path
component, and proves, after following symlinks, that the result stays inside its
directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl

from cdr_rating.errors import UsageError

NAME_RULE = "use letters, digits, '.', '-' and '_', at most 64 characters, not starting with '.'"
# Anchored for both engines: Python's re.fullmatch and Polars' (Rust) regex, whose "$"
# is the end of the text (Python's re.search would also accept a trailing newline).
_NAME = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$"
_NAME_RE = re.compile(_NAME)
_SEPARATORS = {"/", "\\", "\0", *(os.sep, os.altsep or "/")}


def is_name(value: str) -> bool:
    """Whether ``value`` is a safe name.

    >>> is_name("ACME-001"), is_name("x/../../tmp/pwn"), is_name(".hidden"), is_name("")
    (True, False, False, False)
    """
    return _NAME_RE.fullmatch(value) is not None


def bad_name(column: str) -> pl.Expr:
    """True where the text column ``column`` holds something that is not a safe name
    (the empty string included: a missing id is reported by the table's own check)."""
    return ~pl.col(column).str.contains(_NAME)


def check_name(value: str, what: str) -> str:
    """``value`` if it is a safe name, else a usage error naming ``what`` and the value.

    Raises:
        UsageError: e.g. ``--account 'x/../pwn' is not a valid name: use letters, …``.
    """
    if not is_name(value):
        raise UsageError(f"{what} {value!r} is not a valid name: {NAME_RULE}")
    return value


def output_path(directory: Path, *parts: str) -> Path:
    """``directory / part / …``, proven to stay inside ``directory``.

    Every part must be one plain path component (not empty, ``.`` or ``..``, without
    ``/``, ``\\`` or NUL); the result, with symlinks followed, must lie inside the
    directory, with its symlinks followed (a link to the directory itself is fine).
    The path is returned as joined, not resolved, so that callers can still take it
    relative to a data directory. Nothing is created.

    Raises:
        UsageError: a part is not a plain component, or the path leads out of
            ``directory`` (through a symlink).
    """
    for part in parts:
        if part in ("", ".", "..") or any(character in part for character in _SEPARATORS):
            raise UsageError(
                f"{directory}: refused to write {part!r} there: an output name must be one "
                f"plain file or folder name ({NAME_RULE})"
            )
    joined = directory.joinpath(*parts)
    root = directory.resolve()
    target = joined.resolve()
    if not target.is_relative_to(root) or target == root:
        raise UsageError(
            f"{joined}: refused to write it: it leads out of {root} (through a symbolic "
            "link); remove the link or choose another folder"
        )
    return joined
